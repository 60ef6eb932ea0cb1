// The deployment files against the service's real config: every manifest, the compose file and
// the Dockerfile are parsed and checked against src/config (ports, MPE_* names and values),
// each other (selectors, port names, drain time) and the error catalogue, so they cannot drift
// from the code. Metric names are checked against a live server in image-start.test.ts.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { CONFIG_OPTIONS, DEFAULTS, resolveConfig } from '../../src/config/config.js';
import { ERROR_CATALOGUE } from '../../src/errors.js';
import { checkName } from '../../src/model-store/keys.js';
import {
  arr,
  at,
  dockerignoreMatcher,
  imageSpec,
  overlayConfig,
  parseDockerfile,
  promqlRefs,
  readEnvFile,
  readYaml,
  readYamlDocs,
  repoPath,
} from './deploy-files.js';

const ENV_NAMES = new Set(CONFIG_OPTIONS.map((o) => o.env));
const K8S = repoPath('deploy', 'k8s');

type Doc = Record<string, unknown>;

function baseResources(): Doc[] {
  const kust = readYaml(join(K8S, 'base', 'kustomization.yaml'));
  return (at(kust, 'resources') as string[]).flatMap((f) => readYamlDocs(join(K8S, 'base', f)));
}

function find(docs: Doc[], kind: string, name: string): Doc {
  const d = docs.find((x) => x.kind === kind && at(x, 'metadata', 'name') === name);
  assert.ok(d, `${kind}/${name} not found`);
  return d;
}

function overlayLiterals(overlay: string): Record<string, string> {
  const gen = overlayConfig(overlay);
  assert.equal(gen.behavior, 'merge', `${overlay}: merges into the base ConfigMap`);
  return gen.literals;
}

/** The compose service's environment with `${VAR:-default}` replaced by its default (as with no VAR set). */
function composeEnv(service: Doc): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(service.environment as Record<string, string>)) {
    out[k] = String(v).replace(/\$\{\w+:-([^}]*)\}/g, '$1');
    assert.ok(!out[k].includes('$'), `compose ${k}: unsupported substitution ${String(v)}`);
  }
  return out;
}

function serverContainer(deploy: Doc): Doc {
  const c = arr(deploy, 'spec', 'template', 'spec', 'containers').find((x) => x.name === 'mpe-serve');
  assert.ok(c, 'container mpe-serve');
  return c;
}

function containerPort(container: Doc, name: string): number {
  const p = arr(container, 'ports').find((x) => x.name === name);
  assert.ok(p, `container port ${name}`);
  return p.containerPort as number;
}

test('base and overlays: the ConfigMap holds only MPE_* variables the config reads, with values it accepts', () => {
  const base = readEnvFile(join(K8S, 'base', 'mpe.env'));
  assert.ok(Object.keys(base).length >= 5);
  for (const name of Object.keys(base)) assert.ok(ENV_NAMES.has(name), `deploy/k8s/base/mpe.env: ${name} is not read by src/config`);
  for (const overlay of ['cpu', 'gpu']) {
    const lit = overlayLiterals(overlay);
    for (const name of Object.keys(lit)) assert.ok(ENV_NAMES.has(name), `overlay ${overlay}: ${name} is not read by src/config`);
    const cfg = resolveConfig({}, { ...base, ...lit }); // throws MPE_ERR_CONFIG_INVALID on a bad value
    assert.equal(cfg.provider, overlay === 'cpu' ? 'cpu' : 'cuda');
    assert.equal(cfg.host, '0.0.0.0', 'pods must listen on every interface for probes and Services');
  }
});

test('Deployment: ports and probes follow the config; probe paths are /readyz and /healthz on the http port', () => {
  const docs = baseResources();
  const deploy = find(docs, 'Deployment', 'mpe-serve');
  const c = serverContainer(deploy);
  const cfg = resolveConfig({}, readEnvFile(join(K8S, 'base', 'mpe.env')));
  assert.equal(containerPort(c, 'grpc'), cfg.grpcPort);
  assert.equal(containerPort(c, 'http'), cfg.httpPort);
  assert.equal(cfg.grpcPort, DEFAULTS.grpcPort);
  assert.equal(cfg.httpPort, DEFAULTS.httpPort);
  assert.equal(at(c, 'readinessProbe', 'httpGet', 'path'), '/readyz');
  assert.equal(at(c, 'livenessProbe', 'httpGet', 'path'), '/healthz');
  assert.equal(at(c, 'startupProbe', 'httpGet', 'path'), '/healthz');
  for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe']) assert.equal(at(c, p, 'httpGet', 'port'), 'http');
  // env: names the config reads; MPE_WORKERS follows the CPU request (one worker per core).
  for (const e of arr(c, 'env')) assert.ok(ENV_NAMES.has(e.name as string), `Deployment env ${String(e.name)}`);
  const workers = arr(c, 'env').find((e) => e.name === 'MPE_WORKERS');
  assert.equal(at(workers, 'valueFrom', 'resourceFieldRef', 'resource'), 'requests.cpu');
  assert.deepEqual(at(c, 'envFrom'), [{ configMapRef: { name: 'mpe-serve-config' } }]);
  // Guaranteed QoS: requests = limits.
  assert.deepEqual(at(c, 'resources', 'requests'), at(c, 'resources', 'limits'));
  // The image's non-root user.
  const df = imageSpec(parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8')));
  assert.equal(String(at(deploy, 'spec', 'template', 'spec', 'securityContext', 'runAsUser')), df.user?.split(':')[0]);
  assert.equal(at(deploy, 'spec', 'template', 'spec', 'securityContext', 'runAsNonRoot'), true);
  assert.equal(c.command, undefined, 'the image CMD (node as PID 1) must not be overridden');
});

test('drain: terminationGracePeriodSeconds and compose stop_grace_period cover preStop + MPE_SHUTDOWN_GRACE_MS', () => {
  const deploy = find(baseResources(), 'Deployment', 'mpe-serve');
  const c = serverContainer(deploy);
  const sleep = at(c, 'lifecycle', 'preStop', 'exec', 'command') as string[];
  assert.equal(sleep[0], '/bin/sleep');
  const preStopS = Number(sleep[1]);
  assert.ok(preStopS >= 1 && preStopS <= 30, `preStop sleep ${preStopS}`);
  const cfg = resolveConfig({}, readEnvFile(join(K8S, 'base', 'mpe.env')));
  const grace = at(deploy, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds') as number;
  assert.ok(grace >= preStopS + cfg.shutdownGraceMs / 1000 + 1, `terminationGracePeriodSeconds ${grace} < ${preStopS} + ${cfg.shutdownGraceMs / 1000} + 1`);
  assert.ok(grace <= preStopS + cfg.shutdownGraceMs / 1000 + 15, 'grace period far above the drain time slows rollouts');

  const compose = readYaml(repoPath('deploy', 'compose', 'docker-compose.yml'));
  const mpe = at(compose, 'services', 'mpe') as Doc;
  const composeCfg = resolveConfig({}, composeEnv(mpe));
  const stop = /^(\d+)s$/.exec(String(mpe.stop_grace_period));
  assert.ok(stop, 'stop_grace_period in seconds');
  assert.ok(Number(stop[1]) > composeCfg.shutdownGraceMs / 1000);
});

test('Service, HPA, PDB and ServiceMonitor point at the Deployment and its named ports', () => {
  const docs = baseResources();
  const deploy = find(docs, 'Deployment', 'mpe-serve');
  const c = serverContainer(deploy);
  const podLabels = at(deploy, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
  const matches = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => podLabels[k] === v);
  assert.ok(matches(at(deploy, 'spec', 'selector', 'matchLabels') as Record<string, string>));

  const svc = find(docs, 'Service', 'mpe-serve');
  assert.ok(matches(at(svc, 'spec', 'selector') as Record<string, string>));
  const ports = arr(svc, 'spec', 'ports');
  assert.deepEqual(ports.map((p) => p.name).sort(), ['grpc', 'http']);
  for (const p of ports) {
    assert.equal(p.targetPort, p.name, 'Service targets the container port by name');
    assert.equal(p.port, containerPort(c, p.name as string));
    assert.equal(p.appProtocol, p.name);
  }
  const headless = find(docs, 'Service', 'mpe-serve-grpc');
  assert.equal(at(headless, 'spec', 'clusterIP'), 'None');
  assert.ok(matches(at(headless, 'spec', 'selector') as Record<string, string>));

  const hpa = find(docs, 'HorizontalPodAutoscaler', 'mpe-serve');
  assert.deepEqual(at(hpa, 'spec', 'scaleTargetRef'), { apiVersion: 'apps/v1', kind: 'Deployment', name: 'mpe-serve' });
  const minReplicas = at(hpa, 'spec', 'minReplicas') as number;
  const pdb = find(docs, 'PodDisruptionBudget', 'mpe-serve');
  assert.ok(matches(at(pdb, 'spec', 'selector', 'matchLabels') as Record<string, string>));
  assert.ok((at(pdb, 'spec', 'maxUnavailable') as number) < minReplicas, 'a drain must leave a replica serving');

  const sm = find(docs, 'ServiceMonitor', 'mpe-serve');
  const svcLabels = at(svc, 'metadata', 'labels') as Record<string, string>;
  const smSel = at(sm, 'spec', 'selector', 'matchLabels') as Record<string, string>;
  assert.ok(Object.entries(smSel).every(([k, v]) => svcLabels[k] === v), 'ServiceMonitor selects the mpe-serve Service');
  const headlessLabels = (at(headless, 'metadata') as Doc).labels as Record<string, string> | undefined;
  assert.ok(!Object.entries(smSel).every(([k, v]) => headlessLabels?.[k] === v), 'and not the headless one (no double scrape)');
  const ep = arr(sm, 'spec', 'endpoints');
  assert.equal(ep.length, 1);
  assert.equal(ep[0]!.port, 'http');
  assert.equal(ep[0]!.path, '/metrics');

  const pvc = find(docs, 'PersistentVolumeClaim', 'mpe-bundles');
  const vol = arr(deploy, 'spec', 'template', 'spec', 'volumes').find((v) => v.name === 'bundles');
  assert.equal(at(vol, 'persistentVolumeClaim', 'claimName'), at(pvc, 'metadata', 'name'));
  // Registry mode: MPE_MODEL is a registry model name and the Redis URL comes from a Secret
  // (required: without it MPE_MODEL would be read as a bundle directory).
  const model = readEnvFile(join(K8S, 'base', 'mpe.env')).MPE_MODEL ?? '';
  assert.equal(checkName(model, 'model'), model);
  const redis = arr(c, 'env').find((e) => e.name === 'MPE_REDIS_URL');
  assert.equal(at(redis, 'valueFrom', 'secretKeyRef', 'key'), 'url');
  assert.notEqual((at(redis, 'valueFrom', 'secretKeyRef') as Doc).optional, true);
  const mount = arr(c, 'volumeMounts').find((m) => m.name === 'bundles');
  assert.equal(at(mount, 'mountPath'), '/bundles');
  assert.equal(at(mount, 'readOnly'), true);
});

test('gpu overlay: one GPU per pod and the CUDA image tag; cpu overlay: the CPU tag', () => {
  const gpu = readYaml(join(K8S, 'overlays', 'gpu', 'deployment-gpu.yaml'));
  const c = serverContainer(gpu);
  assert.equal(at(c, 'resources', 'limits', 'nvidia.com/gpu'), 1);
  const tag = (o: string): string => String(arr(readYaml(join(K8S, 'overlays', o, 'kustomization.yaml')), 'images')[0]!.newTag);
  assert.match(tag('gpu'), /cuda/);
  assert.match(tag('cpu'), /cpu/);
});

test('PrometheusRule (k8s) carries exactly the groups of deploy/prometheus/alerts.yml', () => {
  const rules = readYaml(repoPath('deploy', 'prometheus', 'alerts.yml'));
  const pr = find(baseResources(), 'PrometheusRule', 'mpe-serve');
  assert.deepEqual(at(pr, 'spec', 'groups'), at(rules, 'groups'), 'run: node deploy/prometheus/sync-prometheusrule.mjs');
});

test('alert rules: error codes exist in the catalogue; the memory alert follows the Deployment limit', () => {
  const rules = arr(readYaml(repoPath('deploy', 'prometheus', 'alerts.yml')), 'groups').flatMap((g) => arr(g, 'rules'));
  assert.ok(rules.length >= 8);
  let codes = 0;
  for (const r of rules) {
    for (const code of promqlRefs(String(r.expr)).errorCodes) {
      assert.ok(code in ERROR_CATALOGUE, `${String(r.alert)}: ${code} is not in src/errors.ts`);
      codes++;
    }
  }
  assert.ok(codes >= 3);
  const mem = rules.find((r) => r.alert === 'MpeServeMemoryHigh');
  const limit = String(at(serverContainer(find(baseResources(), 'Deployment', 'mpe-serve')), 'resources', 'limits', 'memory'));
  const mi = /^(\d+)Mi$/.exec(limit);
  assert.ok(mi, `memory limit in Mi: ${limit}`);
  assert.match(String(mem?.expr), new RegExp(`\\* ${mi[1]} \\* 1024 \\* 1024`));
  const queue = rules.find((r) => r.alert === 'MpeServeQueueBacklog');
  const threshold = Number(/> (\d+)\s*$/.exec(String(queue?.expr))?.[1]);
  assert.ok(threshold > 0 && threshold < DEFAULTS.queueLimit, 'the backlog alert fires before shedding starts');
});

test('compose: MPE_* names and ports follow the config; Prometheus scrapes /metrics on the HTTP port; mounted files exist', () => {
  const dir = repoPath('deploy', 'compose');
  const compose = readYaml(join(dir, 'docker-compose.yml'));
  const mpe = at(compose, 'services', 'mpe') as Doc;
  const env = composeEnv(mpe);
  assert.equal(resolveConfig({}, env).model, null, 'compose serves the demo bundle unless MPE_MODEL is given');
  for (const name of Object.keys(env)) assert.ok(ENV_NAMES.has(name), `compose mpe env ${name} is not read by src/config`);
  const cfg = resolveConfig({}, env);
  const targets = (mpe.ports as string[]).map((p) => Number(p.split(':').pop()));
  assert.deepEqual(targets.sort(), [cfg.grpcPort, cfg.httpPort].sort());
  assert.equal(new URL(env.MPE_REDIS_URL!).hostname, 'redis');
  assert.ok('redis' in (compose.services as Doc));

  const prom = readYaml(repoPath('deploy', 'prometheus', 'prometheus.yml'));
  const job = arr(prom, 'scrape_configs').find((j) => j.job_name === 'mpe-serve');
  assert.equal(job?.metrics_path, '/metrics');
  const sd = arr(job, 'dns_sd_configs')[0]!;
  assert.deepEqual(sd.names, ['mpe']);
  assert.equal(sd.port, cfg.httpPort);

  for (const [name, svc] of Object.entries(compose.services as Record<string, Doc>)) {
    for (const v of (svc.volumes as string[] | undefined) ?? []) {
      const src = v.split(':')[0]!;
      if (src.startsWith('.')) assert.ok(existsSync(join(dir, src)), `${name}: ${src} does not exist`);
    }
  }
  // Grafana: the dashboard's datasource uid is the provisioned one.
  const ds = arr(readYaml(join(dir, 'grafana', 'provisioning', 'datasources', 'prometheus.yml')), 'datasources')[0]!;
  const dash = JSON.parse(readFileSync(repoPath('deploy', 'grafana', 'mpe-serve.json'), 'utf8')) as Doc;
  for (const p of arr(dash, 'panels')) assert.equal(at(p, 'datasource', 'uid'), ds.uid, String(p.title));
});

test('Dockerfile: exec-form node CMD on the tsc output, default ports, numeric non-root user, cpu/cuda flavours', () => {
  const text = readFileSync(repoPath('Dockerfile'), 'utf8');
  const cpu = imageSpec(parseDockerfile(text));
  assert.deepEqual(cpu.cmd, ['node', 'dist/src/cli/main.js', 'serve']);
  // tsc maps src/cli/main.ts to dist/src/cli/main.js (outDir dist, rootDir .).
  const tsconfig = JSON.parse(readFileSync(repoPath('tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string } };
  assert.equal(tsconfig.compilerOptions.outDir, 'dist');
  assert.equal(tsconfig.compilerOptions.rootDir, '.');
  assert.ok(existsSync(repoPath('src', 'cli', 'main.ts')));
  assert.deepEqual([...cpu.expose].sort(), [DEFAULTS.grpcPort, DEFAULTS.httpPort].sort());
  assert.match(cpu.user ?? '', /^[1-9]\d*:[1-9]\d*$/, 'numeric non-root USER');
  assert.equal(cpu.workdir, '/app');
  assert.ok(cpu.healthcheck !== null);
  assert.equal(cpu.healthcheck.cmd[0], 'node');
  for (const name of Object.keys(cpu.env)) if (name.startsWith('MPE_')) assert.ok(ENV_NAMES.has(name), `Dockerfile ENV ${name}`);
  assert.equal(resolveConfig({}, cpu.env).provider, 'cpu');

  const cuda = imageSpec(parseDockerfile(text, { FLAVOR: 'cuda' }));
  assert.equal(resolveConfig({}, cuda.env).provider, 'cuda');
  const df = parseDockerfile(text, { FLAVOR: 'cuda' });
  const cudaBase = df.stages.find((s) => s.name === 'runtime-cuda');
  assert.match(cudaBase?.from ?? '', /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/);
  const deps = df.stages.find((s) => s.name === 'deps');
  const install = deps?.instructions.find((i) => i.op === 'RUN' && i.args.includes('npm ci'))?.args ?? '';
  assert.match(install, /--omit=dev/);
  assert.match(install, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
  assert.match(install, /ONNXRUNTIME_NODE_INSTALL=skip/);
  const build = df.stages.find((s) => s.name === 'build');
  assert.ok(build?.instructions.some((i) => i.op === 'ENV' && /ONNXRUNTIME_NODE_INSTALL=skip/.test(i.args)));
});

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

test('.dockerignore lets in every COPY source and src/, keeps out tests, node_modules and data', () => {
  const ignored = dockerignoreMatcher(readFileSync(repoPath('.dockerignore'), 'utf8'));
  const spec = imageSpec(parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8')));
  const df = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
  const contextSources = df.stages
    .flatMap((s) => s.instructions)
    .filter((i) => i.op === 'COPY' && i.flags.from === undefined)
    .flatMap((i) => i.argv.slice(0, -1));
  assert.ok(spec.copies.length > 0 && contextSources.length >= 6);
  for (const src of contextSources) {
    assert.ok(existsSync(repoPath(src)), `COPY ${src}: missing`);
    assert.ok(!ignored(src), `COPY ${src} is excluded by .dockerignore`);
  }
  for (const f of walk(repoPath('src'), [])) assert.ok(!ignored(relative(repoPath(), f)), f);
  for (const p of ['test/deploy/manifests.test.ts', 'node_modules/yaml/package.json', 'dist/src/cli/main.js', 'bench/x.ts', '.git/HEAD', 'src/a.test.ts']) {
    assert.ok(ignored(p), `${p} should be excluded`);
  }
});

test('runtime image has production dependencies only: nothing reachable from the CLI imports a devDependency', () => {
  const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const allowed = new Set(Object.keys(pkg.dependencies));
  const builtins = new Set(builtinModules);
  // Every module the image can load: the import graph from its entry points (static and dynamic).
  const queue = [repoPath('src', 'cli', 'main.ts'), repoPath('src', 'index.ts')].filter((f) => existsSync(f));
  const seen = new Set<string>(queue);
  const violations: string[] = [];
  let packages = 0;
  while (queue.length > 0) {
    const f = queue.pop()!;
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(import|export)\s(type\s)?[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|(?:^|\n)\s*import\s+'([^']+)'/g)) {
      if (m[2] !== undefined) continue; // `import type` is erased by tsc
      const spec = (m[3] ?? m[4] ?? m[5])!;
      if (spec.startsWith('.')) {
        const target = join(dirname(f), spec.replace(/\.js$/, '.ts'));
        assert.ok(existsSync(target), `${relative(repoPath(), f)}: ${spec} not found`);
        if (!seen.has(target)) {
          seen.add(target);
          queue.push(target);
        }
        continue;
      }
      if (spec.startsWith('node:') || builtins.has(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (!allowed.has(name)) violations.push(`${relative(repoPath(), f)} imports ${spec}`);
      packages++;
    }
  }
  assert.ok(seen.size > 10 && packages > 5, `${seen.size} modules, ${packages} package imports`);
  assert.deepEqual(violations, [], '`npm ci --omit=dev` does not install these: the image would fail to start');
});
