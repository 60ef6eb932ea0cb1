// The deployment files through the real tools, where Debian installs them: promtool (package
// prometheus), docker-compose, kubectl (kustomize). Each check skips with a message when its tool
// is absent; the rendered output is parsed and checked, not just the exit status.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { resolveConfig } from '../../src/config/config.js';
import { arr, at, repoPath } from './deploy-files.js';

function tool(name: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: repoPath(), encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const promtool = tool('promtool');
const compose = tool('docker-compose');
const kubectl = tool('kubectl');
/** Major version of kubectl's embedded kustomize; the overlays use `labels:` and `patches:` (kustomize v4+, kubectl 1.21+). */
const kustomizeMajor = kubectl === null ? 0 : Number(/Kustomize Version: v(\d+)/.exec(run(kubectl, ['version', '--client']).stdout)?.[1] ?? 0);

test('promtool check config: Prometheus config of the compose stack (with its rule file)', (t) => {
  if (promtool === null) return t.skip('promtool not installed (apt-get install prometheus)');
  const r = run(promtool, ['check', 'config', 'deploy/prometheus/prometheus.yml']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /SUCCESS: 1 rule files found/);
});

test('promtool check rules + test rules: alert rules parse and fire as their unit tests say', (t) => {
  if (promtool === null) return t.skip('promtool not installed (apt-get install prometheus)');
  const ok = run(promtool, ['check', 'rules', 'deploy/prometheus/alerts.yml']);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /SUCCESS: \d+ rules found/);
  const unit = run(promtool, ['test', 'rules', 'deploy/prometheus/alerts.test.yml']);
  assert.equal(unit.status, 0, unit.stdout + unit.stderr);
  assert.match(unit.stdout, /SUCCESS/);
});

test('docker-compose config: the stack is valid and resolves to the repository build and the config ports', (t) => {
  if (compose === null) return t.skip('docker-compose not installed (apt-get install docker-compose)');
  const r = run(compose, ['-f', 'deploy/compose/docker-compose.yml', 'config']);
  assert.equal(r.status, 0, r.stderr);
  const cfg = parseYaml(r.stdout) as Record<string, unknown>;
  const services = at(cfg, 'services') as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(services).sort(), ['grafana', 'mpe', 'prometheus', 'redis']);
  const mpe = services.mpe!;
  assert.equal(at(mpe, 'build', 'context'), repoPath());
  assert.equal(at(mpe, 'build', 'dockerfile'), 'Dockerfile');
  const serve = resolveConfig({}, mpe.environment as Record<string, string>);
  const published = arr(mpe, 'ports').map((p) => p.target as number);
  assert.deepEqual(published.sort(), [serve.grpcPort, serve.httpPort].sort());
  assert.equal(at(services, 'mpe', 'depends_on', 'redis', 'condition'), 'service_healthy');
});

for (const overlay of ['cpu', 'gpu']) {
  test(`kubectl kustomize overlays/${overlay}: renders; the Deployment uses the generated ConfigMap and the ${overlay} image`, (t) => {
    if (kubectl === null) return t.skip('kubectl not installed: kustomize not run (needs kubectl >= 1.21)');
    if (kustomizeMajor < 4) return t.skip(`kubectl embeds kustomize v${kustomizeMajor || '<4'}; the overlays need v4+ (kubectl >= 1.21): not run`);
    const r = run(kubectl, ['kustomize', `deploy/k8s/overlays/${overlay}`]);
    assert.equal(r.status, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, unknown>);
    const kinds = docs.map((d) => d.kind).sort();
    assert.deepEqual(kinds, [
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'PersistentVolumeClaim',
      'PodDisruptionBudget',
      'PrometheusRule',
      'Service',
      'Service',
      'ServiceMonitor',
    ]);
    const cm = docs.find((d) => d.kind === 'ConfigMap')!;
    const cmName = String(at(cm, 'metadata', 'name'));
    assert.match(cmName, /^mpe-serve-config-[a-z0-9]{6,}$/, 'content-hashed name: a config change rolls the pods');
    const cfg = resolveConfig({}, at(cm, 'data') as Record<string, string>);
    assert.equal(cfg.provider, overlay === 'cpu' ? 'cpu' : 'cuda');
    const deploy = docs.find((d) => d.kind === 'Deployment')!;
    const c = arr(deploy, 'spec', 'template', 'spec', 'containers')[0]!;
    assert.deepEqual(at(c, 'envFrom'), [{ configMapRef: { name: cmName } }]);
    assert.match(String(c.image), overlay === 'cpu' ? /:[\w.-]*cpu$/ : /:[\w.-]*cuda$/);
    const gpus = (at(c, 'resources', 'limits') as Record<string, unknown>)['nvidia.com/gpu'];
    assert.equal(gpus, overlay === 'gpu' ? 1 : undefined);
    const labels = at(deploy, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
    assert.equal(labels['app.kubernetes.io/name'], 'mpe-serve');
    for (const d of docs) assert.equal((at(d, 'metadata', 'labels') as Record<string, string>)['app.kubernetes.io/name'], 'mpe-serve', String(d.kind));
  });
}
