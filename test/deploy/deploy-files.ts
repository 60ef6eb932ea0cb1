/**
 * Readers for the deployment files (test/deploy/*.test.ts): YAML manifests, env files, the
 * Dockerfile, .dockerignore, and the metric/label references inside PromQL expressions.
 * Small and strict: anything they do not understand throws, so a manifest change that they
 * cannot read fails the tests instead of being skipped.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  readonly args: string;
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
}

/** Splits a Dockerfile into stages and instructions (continuations joined, comments dropped). */
export function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): Dockerfile {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (cur === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (cur !== '' && line.trim().startsWith('#')) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      cur += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push((cur + line).trim());
    cur = '';
  }
  if (cur !== '') throw new Error('Dockerfile ends inside a line continuation');
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  const subst = (s: string): string =>
    s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => {
      const k = (a ?? b)!;
      const v = buildArgs[k] ?? globalArgs[k];
      if (v === undefined) throw new Error(`Dockerfile: unknown ARG ${k}`);
      return v;
    });
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(line);
    if (m === null) throw new Error(`Dockerfile: cannot read ${line}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (f === null) throw new Error(`Dockerfile: FROM ${args}`);
      stages.push({ name: f[2] ?? null, from: subst(f[1]!), instructions: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`Dockerfile: ${op} before FROM`);
      const [k, v] = args.split('=', 2) as [string, string | undefined];
      globalArgs[k.trim()] = buildArgs[k.trim()] ?? v ?? '';
    } else {
      stages[stages.length - 1]!.instructions.push({ op, args });
    }
  }
  return { globalArgs, stages };
}

/** `ENV A=1 B=2` (the `ENV A 1` legacy form is rejected: the Dockerfile does not use it). */
export function parseEnvInstruction(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of args.matchAll(/(\w+)=("[^"]*"|\S*)/g)) {
    out[m[1]!] = m[2]!.startsWith('"') ? m[2]!.slice(1, -1) : m[2]!;
  }
  if (Object.keys(out).length === 0) throw new Error(`ENV without KEY=VALUE: ${args}`);
  return out;
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
    for (const { op, args } of stage.instructions) {
      if (op === 'ENV') Object.assign(env, parseEnvInstruction(args));
      else if (op === 'USER') user = args.trim();
      else if (op === 'WORKDIR') workdir = args.trim();
      else if (op === 'EXPOSE') for (const p of args.trim().split(/\s+/)) expose.push(Number.parseInt(p, 10));
      else if (op === 'CMD') cmd = execForm(args.trim(), 'CMD');
      else if (op === 'HEALTHCHECK') {
        const m = /^((?:--[\w-]+=\S+\s+)*)CMD\s+(\[.*\])$/s.exec(args.trim());
        if (m === null) throw new Error(`HEALTHCHECK must be --options CMD [exec form]: ${args}`);
        const options: Record<string, string> = {};
        for (const o of m[1]!.matchAll(/--([\w-]+)=(\S+)/g)) options[o[1]!] = o[2]!;
        healthcheck = { options, cmd: execForm(m[2]!, 'HEALTHCHECK CMD') };
      } else if (op === 'COPY') {
        const words = args.trim().split(/\s+/);
        let from: string | null = null;
        const rest: string[] = [];
        for (const w of words) {
          if (w.startsWith('--from=')) from = w.slice('--from='.length);
          else if (!w.startsWith('--')) rest.push(w);
        }
        copies.push({ from, sources: rest.slice(0, -1), dest: rest[rest.length - 1]! });
      }
    }
  }
  return { env, user, workdir, expose, cmd, healthcheck, copies };
}

// ------------------------------------------------------------------------------- .dockerignore

/**
 * .dockerignore semantics (moby patternmatcher): patterns are matched against the path and each
 * of its parent folders, `*` within one path segment, `**` across segments, the last matching
 * pattern wins, `!` re-includes.
 */
export function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules: { neg: boolean; re: RegExp }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const neg = line.startsWith('!');
    const pat = (neg ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
    let re = '';
    for (let i = 0; i < pat.length; i++) {
      const c = pat[i]!;
      if (c === '*' && pat[i + 1] === '*') {
        re += '.*';
        i++;
        if (pat[i + 1] === '/') i++;
      } else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    rules.push({ neg, re: new RegExp(`^${re}$`) });
  }
  return (path: string): boolean => {
    const parts = path.split('/');
    let excluded = false;
    for (const { neg, re } of rules) {
      for (let n = 1; n <= parts.length; n++) {
        if (re.test(parts.slice(0, n).join('/'))) {
          excluded = !neg;
          break;
        }
      }
    }
    return excluded;
  };
}

// ------------------------------------------------------------------------------------- PromQL

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** Metric names, label names and MPE_ERR_ codes that a PromQL expression refers to. */
export interface PromqlRefs {
  readonly metrics: string[];
  readonly labels: string[];
  readonly errorCodes: string[];
}

export function promqlRefs(expr: string): PromqlRefs {
  const errorCodes = [...expr.matchAll(/MPE_ERR_[A-Z0-9_]+/g)].map((m) => m[0]);
  let e = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  const labels: string[] = [];
  e = e.replace(/\{([^}]*)\}/g, (_m, inner: string) => {
    for (const l of inner.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.push(l[1]!);
    return ' ';
  });
  e = e.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_m, _k: string, inner: string) => {
    for (const l of inner.split(',')) if (l.trim() !== '') labels.push(l.trim());
    return ' ';
  });
  e = e.replace(/\[[^\]]*\]/g, ' ').replace(/\$\w+/g, ' ');
  const metrics: string[] = [];
  for (const m of e.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] !== undefined) continue; // a function call
    if (PROMQL_KEYWORDS.has(m[1]!.toLowerCase())) continue;
    metrics.push(m[1]!);
  }
  return { metrics: [...new Set(metrics)], labels: [...new Set(labels)], errorCodes: [...new Set(errorCodes)] };
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
