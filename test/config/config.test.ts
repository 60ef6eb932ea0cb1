import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONFIG_OPTIONS, configFlagsFromCli, DEFAULT_REDIS_URL, DEFAULTS, registryUrl, resolveConfig } from '../../src/config/config.js';
import { isMpeError } from '../../src/errors.js';

test('defaults apply when neither flags nor environment set a value', () => {
  const c = resolveConfig({}, {});
  assert.equal(c.grpcPort, 50051);
  assert.equal(c.httpPort, 8080);
  assert.equal(c.provider, 'auto');
  assert.equal(c.model, null);
  assert.equal(c.redisUrl, null);
  assert.deepEqual({ ...c }, { ...DEFAULTS });
  assert.ok(Object.isFrozen(c));
});

test('environment overrides defaults, flags override environment', () => {
  const env = { MPE_GRPC_PORT: '6000', MPE_HTTP_PORT: '7000', MPE_PROVIDER: 'cpu', MPE_MODEL: '/m', MPE_MAX_WAIT_US: '0', MPE_REDIS_URL: 'redis://x:6379' };
  const c = resolveConfig({ httpPort: '9000', workers: 3 }, env);
  assert.equal(c.grpcPort, 6000);
  assert.equal(c.httpPort, 9000);
  assert.equal(c.workers, 3);
  assert.equal(c.provider, 'cpu');
  assert.equal(c.model, '/m');
  assert.equal(c.maxWaitUs, 0);
  assert.equal(c.redisUrl, 'redis://x:6379');
});

test('every option has a distinct MPE_ environment variable and flag', () => {
  const envs = new Set(CONFIG_OPTIONS.map((o) => o.env));
  const flags = new Set(CONFIG_OPTIONS.map((o) => o.flag));
  assert.equal(envs.size, CONFIG_OPTIONS.length);
  assert.equal(flags.size, CONFIG_OPTIONS.length);
  for (const o of CONFIG_OPTIONS) assert.match(o.env, /^MPE_[A-Z_]+$/);
  assert.deepEqual(new Set(CONFIG_OPTIONS.map((o) => o.key)), new Set(Object.keys(DEFAULTS)));
});

const bad: [Record<string, string>, string][] = [
  [{ MPE_GRPC_PORT: 'abc' }, 'MPE_GRPC_PORT'],
  [{ MPE_HTTP_PORT: '70000' }, 'MPE_HTTP_PORT'],
  [{ MPE_PROVIDER: 'tpu' }, 'MPE_PROVIDER'],
  [{ MPE_WORKERS: '0' }, 'MPE_WORKERS'],
  [{ MPE_WORKERS: '1.5' }, 'MPE_WORKERS'],
  [{ MPE_MAX_BATCH_ROWS: '-1' }, 'MPE_MAX_BATCH_ROWS'],
  [{ MPE_QUEUE_LIMIT: '' }, 'MPE_QUEUE_LIMIT'],
  [{ MPE_HOST: ' ' }, 'MPE_HOST'],
  [{ MPE_STATS_SAMPLE_RATE: '1.5' }, 'MPE_STATS_SAMPLE_RATE'],
  [{ MPE_STATS_SAMPLE_RATE: '-0.1' }, 'MPE_STATS_SAMPLE_RATE'],
  [{ MPE_STATS_SAMPLE_RATE: 'often' }, 'MPE_STATS_SAMPLE_RATE'],
  [{ MPE_STATS_FLUSH_MS: '10' }, 'MPE_STATS_FLUSH_MS'],
];
for (const [env, name] of bad) {
  test(`invalid ${name}=${JSON.stringify(Object.values(env)[0])} is MPE_ERR_CONFIG_INVALID naming the variable`, () => {
    assert.throws(
      () => resolveConfig({}, env),
      (e: unknown) => isMpeError(e) && e.code === 'MPE_ERR_CONFIG_INVALID' && e.message.includes(name),
    );
  });
}

test('an invalid flag names the flag', () => {
  assert.throws(
    () => resolveConfig({ grpcPort: 'x' }, {}),
    (e: unknown) => isMpeError(e) && e.code === 'MPE_ERR_CONFIG_INVALID' && e.message.includes('--grpc-port'),
  );
});

test('docs/config.md documents every environment variable and flag', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  for (const o of CONFIG_OPTIONS) {
    assert.ok(doc.includes(`\`${o.env}\``), `docs/config.md lacks ${o.env}`);
    assert.ok(doc.includes(`\`--${o.flag}\``), `docs/config.md lacks --${o.flag}`);
  }
});

test('--redis and its alias --redis-url (commander attributes) both set redisUrl; --redis wins', () => {
  assert.equal(resolveConfig(configFlagsFromCli({ redis: 'redis://a:1' }), {}).redisUrl, 'redis://a:1');
  assert.equal(resolveConfig(configFlagsFromCli({ redisUrl: 'redis://b:2' }), {}).redisUrl, 'redis://b:2');
  assert.equal(resolveConfig(configFlagsFromCli({ redis: 'redis://a:1', redisUrl: 'redis://b:2' }), {}).redisUrl, 'redis://a:1');
  assert.equal(resolveConfig(configFlagsFromCli({ grpcPort: '7', statsSampleRate: '0.5' }), {}).statsSampleRate, 0.5);
  assert.throws(
    () => resolveConfig(configFlagsFromCli({ statsSampleRate: '2' }), {}),
    (e: unknown) => isMpeError(e) && e.code === 'MPE_ERR_CONFIG_INVALID' && e.message.includes('--stats-sample-rate'),
  );
  assert.equal(resolveConfig({}, { MPE_STATS_SAMPLE_RATE: '0' }).statsSampleRate, 0);
});

test('registry commands: --redis, else MPE_REDIS_URL, else the local default', () => {
  assert.equal(registryUrl('redis://flag:1', { MPE_REDIS_URL: 'redis://env:2' }), 'redis://flag:1');
  assert.equal(registryUrl(undefined, { MPE_REDIS_URL: 'redis://env:2' }), 'redis://env:2');
  assert.equal(registryUrl(undefined, { MPE_REDIS_URL: '' }), DEFAULT_REDIS_URL);
  assert.equal(registryUrl(undefined, {}), 'redis://127.0.0.1:6379');
});
