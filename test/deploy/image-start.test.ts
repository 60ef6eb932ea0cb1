// The Dockerfile's start command, run here as the image runs it: src/ compiled by tsc (the build
// stage), laid out as the final stage's COPY lines say, started with the image's exact CMD, ENV
// and WORKDIR, as its non-root USER (setpriv, when this test runs as root). It must serve the
// probe paths the Kubernetes manifests use, pass the image's own HEALTHCHECK command, export
// every metric the dashboard and alert rules use, and exit 0 on SIGTERM. No Docker engine runs
// here, so the parts of the image build that differ (base image, npm ci --omit=dev) are checked
// statically in manifests.test.ts.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { writeBundle } from '../../src/bundle/write.js';
import { createServeMetrics } from '../../src/metrics/serve-metrics.js';
import { createModelReloader } from '../../src/app/reloader.js';
import { registerDriftMetrics } from '../../src/stats/drift.js';
import { makeFixture } from '../bundle/fixture.js';
import { arr, at, dashboardExprs, imageSpec, overlayConfig, parseDockerfile, promqlRefs, readEnvFile, readYaml, readYamlDocs, repoPath } from './deploy-files.js';

const spec = imageSpec(parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8')));
const FIELDS = 4;

let root = '';
let appDir = '';
let env: Record<string, string> = {};
let httpPort = 0;
let child: ChildProcess | null = null;
let stderr = '';
let exitCode: Promise<number | null> = Promise.resolve(null);
let runAs: string[] = [];
let modelName: string | null = null;
const REDIS_URL = 'redis://127.0.0.1:6379';

async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}


/**
 * node_modules as `npm ci --omit=dev` installs it: the top-level packages package-lock.json does
 * not mark `dev`, linked from the repository's node_modules (nested node_modules come along).
 */
function layOutProductionModules(dest: string): number {
  const lock = JSON.parse(readFileSync(repoPath('package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; dependencies?: Record<string, string> }> };
  const names = new Set<string>();
  for (const [key, entry] of Object.entries(lock.packages)) {
    const name = key.startsWith('node_modules/') ? key.slice('node_modules/'.length) : '';
    if (name !== '' && !name.includes('/node_modules/') && entry.dev !== true) names.add(name);
  }
  mkdirSync(dest);
  for (const n of names) {
    mkdirSync(dirname(join(dest, n)), { recursive: true });
    symlinkSync(repoPath('node_modules', n), join(dest, n));
  }
  return names.size;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The image's USER as setpriv arguments (when root and setpriv exist), else run as ourselves. */
function userWrapper(): string[] {
  const [uid, gid] = (spec.user ?? '').split(':');
  if (process.getuid?.() !== 0 || uid === undefined) return [];
  if (spawnSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).status !== 0) return [];
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups', '--'];
}

/** Runs `argv` (exec form) as the image would: WORKDIR, ENV, USER. */
function spawnInImage(argv: string[]): ChildProcess {
  const full = [...runAs, ...argv];
  return spawn(full[0]!, full.slice(1), { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function runInImage(argv: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawnInImage(argv);
    let out = '';
    p.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    p.on('close', (code) => resolve({ code, out }));
  });
}

async function get(path: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${httpPort}${path}`);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'mpe-image-'));
  chmodSync(root, 0o755); // the image user must read it
  appDir = join(root, 'app');
  assert.equal(spec.workdir, '/app');

  // Build stage: `npm run build` (tsc, outDir dist, rootDir .) over src/ only, as .dockerignore
  // leaves test/ and bench/ out of the build context.
  const tsconfig = join(root, 'tsconfig.build.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({ extends: repoPath('tsconfig.json'), compilerOptions: { outDir: join(appDir, 'dist'), rootDir: repoPath(), typeRoots: [repoPath('node_modules', '@types')], declaration: false, sourceMap: false }, include: [repoPath('src')] }),
  );
  const tsc = spawnSync(process.execPath, [repoPath('node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], { encoding: 'utf8' });
  assert.equal(tsc.status, 0, `tsc (the image's build stage) failed:\n${tsc.stdout}${tsc.stderr}`);

  // Final stage: replay its COPY lines.
  for (const c of spec.copies) {
    const dest = join(appDir, c.dest);
    if (c.from === 'deps' && c.sources[0] === '/app/node_modules') {
      assert.ok(layOutProductionModules(dest) > 20);
    } else if (c.from === 'build' && c.sources[0] === '/app/dist/src') {
      assert.equal(dest.replace(/\/$/, ''), join(appDir, 'dist', 'src'));
    } else if (c.from === null) {
      for (const s of c.sources) {
        const target = c.dest.endsWith('/') ? join(dest, s.split('/').pop()!) : dest;
        mkdirSync(dirname(target), { recursive: true });
        cpSync(repoPath(s), target, { recursive: true });
      }
    } else {
      assert.fail(`image-start.test.ts does not know how to lay out COPY --from=${c.from} ${c.sources.join(' ')}: teach it`);
    }
  }

  // A bundle written by the real bundle writer from a seeded fixture, mounted where k8s mounts it.
  const bundleDir = join(root, 'bundles', 'fixture', 'v11');
  await writeBundle(bundleDir, makeFixture({ seed: 11, d: 8, fields: FIELDS, perField: 40, groupSize: 16 }).parts);
  spawnSync('chmod', ['-R', 'a+rX', root]);

  const [grpcPort, port] = [await freePort(), await freePort()];
  httpPort = port;
  // A container's environment: the image's ENV, then what the Kubernetes cpu overlay sets (its
  // ConfigMap; MPE_REDIS_URL comes from the Secret), nothing inherited. Here: free ports, one
  // worker (the pod gets one per requested core), and a model name of our own on the local Redis.
  const k8sEnv = { ...readEnvFile(repoPath('deploy', 'k8s', 'base', 'mpe.env')), ...overlayConfig('cpu').literals };
  env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: root, ...spec.env, ...k8sEnv, MPE_HTTP_PORT: String(httpPort), MPE_GRPC_PORT: String(grpcPort), MPE_WORKERS: '1' };
  runAs = userWrapper();
  if (runAs.length === 0) console.log(`# image-start: not root or no setpriv: running as uid ${process.getuid?.()} instead of the image USER ${spec.user}`);

  if (await redisAnswers(REDIS_URL)) {
    // Registry mode, as in the cluster: publish with the image's own `mpe publish`, then serve.
    modelName = `deploy-test-${process.pid}-${Date.now()}`;
    env.MPE_MODEL = modelName;
    env.MPE_REDIS_URL = REDIS_URL;
    // bin/mpe.js is the image's `mpe` command (linked into /usr/local/bin).
    const pub = await runInImage(['node', 'bin/mpe.js', 'publish', bundleDir, '--model', modelName, '--redis', REDIS_URL]);
    assert.equal(pub.code, 0, `mpe publish in the image failed: ${pub.out}`);
    assert.match(pub.out, /published .* v11/);
  } else {
    console.log(`# image-start: no Redis at ${REDIS_URL}: serving the bundle directory (MPE_MODEL=DIR, no MPE_REDIS_URL) instead of registry mode`);
    env.MPE_MODEL = bundleDir;
    delete env.MPE_REDIS_URL;
  }

  child = spawnInImage(spec.cmd);
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout?.on('data', (b: Buffer) => (stderr += b.toString()));
  const c = child;
  exitCode = new Promise((resolve) => c.on('exit', (code) => resolve(code)));
  let exited = false;
  void exitCode.then(() => (exited = true));
  // Wait until ready (a bound, not a timed assertion: a slow box only waits longer).
  for (let i = 0; i < 600; i++) {
    if (exited) assert.fail(`the image CMD exited before it was ready:\n${stderr}`);
    const r = await get('/readyz').catch(() => null);
    if (r?.status === 200) return;
    await sleep(100);
  }
  assert.fail(`not ready after 60 s:\n${stderr}`);
});

after(async () => {
  if (child !== null && child.exitCode === null) child.kill('SIGKILL');
  if (root !== '') rmSync(root, { recursive: true, force: true });
  if (modelName !== null) {
    // Remove this test's registry keys (all carry the hash tag {name}).
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`mpe:{${modelName}}:*`);
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
  }
});

test('the image CMD serves as the image USER; the image HEALTHCHECK command passes', async () => {
  if (runAs.length > 0) {
    const status = readFileSync(`/proc/${child!.pid}/status`, 'utf8');
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    assert.equal(uid, spec.user!.split(':')[0], 'setpriv execs node itself: the PID is node, running as the image user');
    assert.match(readFileSync(`/proc/${child!.pid}/cmdline`, 'utf8').replaceAll('\0', ' '), /^node dist\/src\/cli\/main\.js serve/);
  }
  assert.ok(spec.healthcheck !== null);
  const hc = await runInImage(spec.healthcheck.cmd);
  assert.equal(hc.code, 0, `HEALTHCHECK failed: ${hc.out}`);
});

test('the probe paths of the Kubernetes Deployment answer 200; /readyz says ready', async () => {
  const deploy = readYamlDocs(repoPath('deploy', 'k8s', 'base', 'deployment.yaml'))[0]!;
  const c = arr(deploy, 'spec', 'template', 'spec', 'containers')[0]!;
  const paths = ['readinessProbe', 'livenessProbe', 'startupProbe'].map((p) => String(at(c, p, 'httpGet', 'path')));
  assert.deepEqual([...new Set(paths)].sort(), ['/healthz', '/readyz']);
  for (const p of paths) {
    const r = await get(p);
    assert.equal(r.status, 200, p);
    await r.arrayBuffer();
  }
  const model = (await (await get('/v1/model')).json()) as { version: string };
  assert.equal(model.version, 'v11', 'serves the published fixture version');
  const sm = readYaml(repoPath('deploy', 'k8s', 'base', 'servicemonitor.yaml'));
  const metrics = await get(String(arr(sm, 'spec', 'endpoints')[0]!.path));
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  await metrics.arrayBuffer();
});

/** Sample names a metric of `type` exposes. */
function sampleNames(name: string, type: string): string[] {
  if (type === 'histogram') return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === 'summary') return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

test('every metric and label in the Grafana dashboard and the alert rules is exported by the service', async () => {
  // One scored row, so labelled series (method="score") exist in the exposition.
  const score = await fetch(`http://127.0.0.1:${httpPort}/v1/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ids: [Array.from({ length: FIELDS }, (_, f) => f)] }),
  });
  assert.equal(score.status, 200, await score.clone().text());
  const body = (await score.json()) as { probabilities: number[] };
  assert.equal(body.probabilities.length, 1);

  const text = await (await get('/metrics')).text();
  const exported = new Map<string, string>(); // sample name -> metric family
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) for (const s of sampleNames(m[1]!, m[2]!)) exported.set(s, m[1]!);
  assert.match(text, /^mpe_requests_total\{[^}]*method="score"[^}]*\} 1$/m);

  // Label names per family, from the service's own metric constructors (the serve metrics, and
  // the registry's reload and drift metrics, which `mpe serve` exposes when it runs with Redis).
  const reg = new Registry();
  createServeMetrics(reg);
  createModelReloader({ loadAndWarm: async () => ({ handle: null, version: '' }), swap: () => {}, metrics: reg });
  registerDriftMetrics(reg, () => null);
  const labelsOf = new Map<string, Set<string>>();
  const notLive = new Set<string>();
  for (const m of reg.getMetricsAsArray() as unknown as { name: string; type: string; labelNames?: string[] }[]) {
    for (const s of sampleNames(m.name, m.type)) {
      const labels = new Set(['job', 'instance', ...(m.labelNames ?? [])]);
      if (m.type === 'histogram' && s.endsWith('_bucket')) labels.add('le');
      labelsOf.set(s, labels);
      if (!exported.has(s) && /^mpe_(reload|drift)_/.test(m.name)) {
        exported.set(s, m.name); // registry-side, see above
        notLive.add(m.name);
      }
    }
  }

  const rules = arr(readYaml(repoPath('deploy', 'prometheus', 'alerts.yml')), 'groups').flatMap((g) => arr(g, 'rules'));
  const dashboard = JSON.parse(readFileSync(repoPath('deploy', 'grafana', 'mpe-serve.json'), 'utf8')) as Record<string, unknown>;
  const exprs = [...rules.map((r) => ({ where: `alert ${String(r.alert)}`, expr: String(r.expr) })), ...dashboardExprs(dashboard).map((e) => ({ where: 'dashboard', expr: e }))];
  assert.ok(exprs.length >= 20);
  const used = new Set<string>();
  for (const { where, expr } of exprs) {
    const refs = promqlRefs(expr);
    const allowed = new Set<string>(['job', 'instance']);
    for (const m of refs.metrics) {
      if (m === 'up') continue; // Prometheus' own per-target series
      assert.ok(exported.has(m), `${where}: metric ${m} is not exported by the service (${expr})`);
      used.add(exported.get(m)!);
      for (const l of labelsOf.get(m) ?? []) allowed.add(l);
    }
    for (const l of refs.labels) assert.ok(allowed.has(l), `${where}: label ${l} is not a label of ${refs.metrics.join(', ')} (${expr})`);
  }
  if (notLive.size > 0) console.log(`# image-start: not in the live /metrics, taken from their constructors: ${[...notLive].join(', ')}`);
  if (modelName !== null) assert.ok(!notLive.has('mpe_reload_total'), 'registry mode exports mpe_reload_total');
  for (const must of ['mpe_requests_total', 'mpe_request_duration_seconds', 'mpe_table_bytes', 'mpe_reload_total', 'mpe_drift_misplaced_share']) assert.ok(used.has(must), `nothing uses ${must}`);
});

test('SIGTERM reaches node (PID of the exec-form CMD): it drains and exits 0; the HEALTHCHECK then fails', async () => {
  child!.kill('SIGTERM');
  assert.equal(await exitCode, 0, stderr);
  assert.match(stderr, /SIGTERM/);
  const hc = await runInImage(spec.healthcheck!.cmd);
  assert.equal(hc.code, 1, 'the HEALTHCHECK must fail when nothing serves');
});
