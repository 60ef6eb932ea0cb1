/**
 * Redis URLs (issue 15, item 7): a malformed MPE_REDIS_URL is a configuration error (exit 1, the
 * password never printed); a wrong password or an unreachable Redis is logged with its class
 * while the replica retries.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { registryUrl, resolveConfig } from '../../src/config/config.js';
import { createRedisClient, redisErrorClass } from '../../src/model-store/redis-client.js';
import { pino } from 'pino';
import { redactUrl, redactUrlsIn } from '../../src/util/redact.js';

const SECRET = 's3cr3t-pw';

test('redactUrl hides user and password, also in malformed URLs and inside text', () => {
  assert.equal(redactUrl(`redis://:${SECRET}@h:6379/0`), 'redis://***@h:6379/0');
  assert.equal(redactUrl(`redis:/u:${SECRET}@host`), 'redis:/***@host');
  assert.equal(redactUrl(`redis://u:pa@${SECRET}@host:1`), 'redis://***@host:1');
  assert.equal(redactUrl('redis://host:6379'), 'redis://host:6379');
  assert.equal(redactUrlsIn(`cannot reach rediss://u:${SECRET}@h:1 now`), 'cannot reach rediss://***@h:1 now');
});

test('a malformed MPE_REDIS_URL (or --redis) is MPE_ERR_CONFIG_INVALID without the password', () => {
  for (const bad of [`redis:/user:${SECRET}@host:6379`, `redis//user:${SECRET}@host`, `http://u:${SECRET}@h`, `redis://u:${SECRET}@h/not-a-db`, `redis://u:${SECRET}@h:99999`]) {
    assert.throws(
      () => resolveConfig({}, { MPE_REDIS_URL: bad }),
      (e: Error & { code?: string }) => e.code === 'MPE_ERR_CONFIG_INVALID' && e.message.includes('MPE_REDIS_URL') && !e.message.includes(SECRET),
      bad,
    );
    assert.throws(() => registryUrl(bad, {}), (e: Error & { code?: string }) => e.code === 'MPE_ERR_CONFIG_INVALID' && !e.message.includes(SECRET), bad);
  }
  for (const ok of ['redis://127.0.0.1:6379', `redis://:${SECRET}@redis-master:6379/0`, `rediss://user:${SECRET}@cache.example.com:6380/2`, 'redis://h']) {
    assert.equal(resolveConfig({}, { MPE_REDIS_URL: ok }).redisUrl, ok);
  }
});

test('mpe serve with a malformed MPE_REDIS_URL exits 1 at once and never prints the password', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model', 'ctr', '--grpc-port', '0', '--http-port', '0'], {
    env: { ...process.env, MPE_REDIS_URL: `redis:/admin:${SECRET}@redis-master:6379` },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 1, `exit ${r.status} signal ${r.signal}: ${r.stderr}`);
  assert.match(r.stderr, /error MPE_ERR_CONFIG_INVALID: .*MPE_REDIS_URL/);
  assert.ok(!r.stderr.includes(SECRET));
});

test('a wrong password and an unreachable Redis are logged once each with their class, password redacted', async () => {

  const cases: [string, string][] = [
    [`redis://nouser:${SECRET}@127.0.0.1:6379`, 'auth'],
    [`redis://u:${SECRET}@127.0.0.1:1`, 'unreachable'],
  ];
  for (const [url, cls] of cases) {
    // A real pino logger per case, writing into memory (a closed client of the previous case cannot add lines).
    const lines: { level: number; msg: string; fields: Record<string, unknown> }[] = [];
    const log = pino(
      { level: 'info' },
      {
        write: (line: string) => {
          const o = JSON.parse(line) as { level: number; msg: string } & Record<string, unknown>;
          lines.push({ level: o.level, msg: o.msg, fields: o });
        },
      },
    );
    const c = createRedisClient(url, { role: 'replica', maxBackoffMs: 50, log });
    try {
      // Several reconnect attempts: still one line for the class.
      for (let i = 0; i < 100 && (lines.length === 0 || c.status !== 'reconnecting'); i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      c.disconnect();
    }
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]!.fields.class, cls);
    assert.match(lines[0]!.msg, cls === 'auth' ? /authentication failed/ : /unreachable/);
    assert.ok(!JSON.stringify(lines).includes(SECRET));
  }
  assert.equal(redisErrorClass(Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' })), 'unreachable');
  assert.equal(redisErrorClass(new Error('NOAUTH Authentication required.')), 'auth');
});
