/**
 * Readers for the deployment files (test/deploy/*.test.ts), each on a maintained parser: YAML
 * manifests (yaml), the Dockerfile (dockerfile-ast), .dockerignore (@balena/dockerignore, moby's
 * matcher) and the metric/label references inside PromQL expressions (Prometheus' lezer grammar).
 * Strict: anything they do not understand throws, so a manifest change that they cannot read
 * fails the tests instead of being skipped.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dockerignoreModule from '@balena/dockerignore';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { Arg, DockerfileParser, Env, From, JSONInstruction, ModifiableInstruction } from 'dockerfile-ast';
import { parseAllDocuments } from 'yaml';

/** Repository root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function repoPath(...parts: string[]): string {
  return join(REPO, ...parts);
}

/** Every document of a (multi-document) YAML file; throws on a YAML error. */
export function readYamlDocs(path: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(readFileSync(path, 'utf8'));
  const out: Record<string, unknown>[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${path}: ${d.errors[0]!.message}`);
    const v = d.toJS() as unknown;
    if (v !== null && v !== undefined) out.push(v as Record<string, unknown>);
  }
  return out;
}

/** The one document of a YAML file. */
export function readYaml(path: string): Record<string, unknown> {
  const docs = readYamlDocs(path);
  if (docs.length !== 1) throw new Error(`${path}: expected one YAML document, got ${docs.length}`);
  return docs[0]!;
}

/** KEY=VALUE lines (kustomize `envs:` files, `literals:`); blank lines and # comments skipped. */
export function parseEnvLines(lines: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=VALUE: ${raw}`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

export function readEnvFile(path: string): Record<string, string> {
  return parseEnvLines(readFileSync(path, 'utf8').split('\n'));
}

/** The `mpe-serve-config` configMapGenerator entry of a kustomize overlay (behavior and literals). */
export function overlayConfig(overlay: string): { behavior: unknown; literals: Record<string, string> } {
  const kust = readYaml(join(REPO, 'deploy', 'k8s', 'overlays', overlay, 'kustomization.yaml'));
  const gen = arr(kust, 'configMapGenerator').find((g) => g.name === 'mpe-serve-config');
  if (gen === undefined) throw new Error(`overlay ${overlay}: no mpe-serve-config configMapGenerator`);
  return { behavior: gen.behavior, literals: parseEnvLines((gen.literals as string[] | undefined) ?? []) };
}

/** Typed path into parsed YAML/JSON: throws with the path when a step is missing. */
export function at(value: unknown, ...path: (string | number)[]): unknown {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !(p in (v as Record<string, unknown>))) throw new Error(`missing ${path.join('.')}`);
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

export function arr(value: unknown, ...path: (string | number)[]): Record<string, unknown>[] {
  const v = at(value, ...path);
  if (!Array.isArray(v)) throw new Error(`${path.join('.')} is not a list`);
  return v as Record<string, unknown>[];
}

// ---------------------------------------------------------------------------------- Dockerfile

export interface Instruction {
  readonly op: string;
  /** Arguments without the flags (continuations joined), as dockerfile-ast reads them. */
  readonly args: string;
  /** The arguments, one word each (quotes and escapes resolved). */
  readonly argv: string[];
  /** `--name=value` flags (COPY --from, HEALTHCHECK --interval...). */
  readonly flags: Record<string, string>;
}

export interface Stage {
  readonly name: string | null;
  /** Image or stage name after ARG substitution. */
  readonly from: string;
  readonly instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Record<string, string>;
  readonly stages: Stage[];
  /** The ENV instructions' KEY=VALUE pairs, by instruction (dockerfile-ast's reading). */
  readonly envOf: Map<Instruction, Record<string, string>>;
}

/** Reads a Dockerfile with dockerfile-ast into stages and instructions (`buildArgs` override ARG defaults). */
export function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): Dockerfile {
  const ast = DockerfileParser.parse(text);
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  const envOf = new Map<Instruction, Record<string, string>>();
  const subst = (s: string): string =>
    s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => {
      const k = (a ?? b)!;
      const v = buildArgs[k] ?? globalArgs[k];
      if (v === undefined) throw new Error(`Dockerfile: unknown ARG ${k}`);
      return v;
    });
  for (const ins of ast.getInstructions()) {
    const op = ins.getKeyword().toUpperCase();
    if (ins instanceof From) {
      const image = ins.getImage();
      if (image === null) throw new Error(`Dockerfile: FROM ${ins.getArgumentsContent()}`);
      stages.push({ name: ins.getBuildStage(), from: subst(image), instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (!(ins instanceof Arg)) throw new Error(`Dockerfile: ${op} before FROM`);
      const prop = ins.getProperty();
      if (prop === null) throw new Error('Dockerfile: ARG without a name');
      globalArgs[prop.getName()] = buildArgs[prop.getName()] ?? prop.getValue() ?? '';
      continue;
    }
    const flags: Record<string, string> = {};
    if (ins instanceof JSONInstruction || ins instanceof ModifiableInstruction) for (const f of ins.getFlags()) flags[f.getName()] = f.getValue() ?? '';
    const rec: Instruction = { op, args: ins.getArgumentsContent() ?? '', argv: ins.getArguments().map((a) => a.getValue()), flags };
    if (ins instanceof Env) envOf.set(rec, Object.fromEntries(ins.getProperties().map((p) => [p.getName(), p.getValue() ?? ''])));
    stages[stages.length - 1]!.instructions.push(rec);
  }
  return { globalArgs, stages, envOf };
}

/** What the final image of a Dockerfile holds: env (through its base stages), user, ports, commands, copies. */
export interface ImageSpec {
  readonly env: Record<string, string>;
  readonly user: string | null;
  readonly workdir: string | null;
  readonly expose: number[];
  /** Exec-form CMD (JSON array). */
  readonly cmd: string[];
  readonly healthcheck: { readonly options: Record<string, string>; readonly cmd: string[] } | null;
  /** COPY instructions of the final stage chain: `from` = stage name or null (build context). */
  readonly copies: { readonly from: string | null; readonly sources: string[]; readonly dest: string }[];
}

function execForm(s: string, what: string): string[] {
  const v = JSON.parse(s) as unknown;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new Error(`${what} is not exec form: ${s}`);
  return v as string[];
}

/** Resolves the last stage and the stages it is built FROM, in order. */
export function imageSpec(df: Dockerfile): ImageSpec {
  const byName = new Map(df.stages.filter((s) => s.name !== null).map((s) => [s.name!, s]));
  const chain: Stage[] = [];
  let s: Stage | undefined = df.stages[df.stages.length - 1];
  while (s !== undefined) {
    chain.unshift(s);
    s = byName.get(s.from);
  }
  const env: Record<string, string> = {};
  let user: string | null = null;
  let workdir: string | null = null;
  const expose: number[] = [];
  let cmd: string[] = [];
  let healthcheck: ImageSpec['healthcheck'] = null;
  const copies: { from: string | null; sources: string[]; dest: string }[] = [];
  for (const stage of chain) {
    for (const ins of stage.instructions) {
      const { op, args, argv } = ins;
      if (op === 'ENV') Object.assign(env, df.envOf.get(ins));
      else if (op === 'USER') user = args.trim();
      else if (op === 'WORKDIR') workdir = args.trim();
      else if (op === 'EXPOSE') for (const p of argv) expose.push(Number.parseInt(p, 10));
      else if (op === 'CMD') cmd = execForm(args.trim(), 'CMD');
      else if (op === 'HEALTHCHECK') {
        const m = /^CMD\s+(\[.*\])$/s.exec(args.trim());
        if (m === null) throw new Error(`HEALTHCHECK must be [--options] CMD [exec form]: ${args}`);
        healthcheck = { options: { ...ins.flags }, cmd: execForm(m[1]!, 'HEALTHCHECK CMD') };
      } else if (op === 'COPY') copies.push({ from: ins.flags.from ?? null, sources: argv.slice(0, -1), dest: argv[argv.length - 1]! });
    }
  }
  return { env, user, workdir, expose, cmd, healthcheck, copies };
}

// ------------------------------------------------------------------------------- .dockerignore

/** .dockerignore semantics (moby's patternmatcher), through @balena/dockerignore: true = excluded from the build context. */
export function dockerignoreMatcher(text: string): (path: string) => boolean {
  // CommonJS `module.exports = factory`, typed as an ES default export.
  const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;
  const ig = dockerignore({ ignorecase: false }).add(text);
  return (path: string): boolean => ig.ignores(path);
}

// ------------------------------------------------------------------------------------- PromQL

/** Metric names, label names and MPE_ERR_ codes that a PromQL expression refers to. */
export interface PromqlRefs {
  readonly metrics: string[];
  readonly labels: string[];
  readonly errorCodes: string[];
}

/**
 * Reads `expr` with Prometheus' own lezer grammar (@prometheus-io/lezer-promql); throws on a
 * syntax error. Grafana range variables (`[$__rate_interval]`) are read as `[5m]`.
 */
export function promqlRefs(expr: string): PromqlRefs {
  const text = expr.replace(/\[\$\w+\]/g, '[5m]');
  const tree = promqlParser.parse(text);
  const metrics = new Set<string>();
  const labels = new Set<string>();
  const errorCodes = new Set<string>();
  const c = tree.cursor();
  do {
    const value = text.slice(c.from, c.to);
    if (c.type.isError) throw new Error(`PromQL syntax error at ${c.from} in: ${expr}`);
    if (c.name === 'Identifier' && c.node.parent?.name === 'VectorSelector') metrics.add(value);
    else if (c.name === 'LabelName') labels.add(value);
    else if (c.name === 'StringLiteral') for (const m of value.matchAll(/MPE_ERR_[A-Z0-9_]+/g)) errorCodes.add(m[0]);
  } while (c.next());
  return { metrics: [...metrics], labels: [...labels], errorCodes: [...errorCodes] };
}

/** Every PromQL `expr` in a Grafana dashboard (panels, nested rows) and its template variables' queries. */
export function dashboardExprs(dashboard: Record<string, unknown>): string[] {
  const out: string[] = [];
  const visitPanels = (panels: unknown): void => {
    if (!Array.isArray(panels)) return;
    for (const p of panels as Record<string, unknown>[]) {
      for (const t of (p.targets as Record<string, unknown>[] | undefined) ?? []) if (typeof t.expr === 'string') out.push(t.expr);
      visitPanels(p.panels);
    }
  };
  visitPanels(dashboard.panels);
  const templ = (dashboard.templating as { list?: { query?: { query?: string } | string }[] } | undefined)?.list ?? [];
  for (const v of templ) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = q === undefined ? null : /^label_values\(\s*([a-zA-Z_:][\w:]*)\s*,/.exec(q);
    if (m !== null) out.push(m[1]!);
  }
  return out;
}
