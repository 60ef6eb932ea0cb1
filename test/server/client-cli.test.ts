/** `mpe client score` in its three raw forms against a real server: the same candidates give the same probabilities. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Command } from 'commander';
import { Registry } from 'prom-client';
import { register } from '../../src/cli/client.js';
import { testConfig } from '../../src/config/config.js';
import { createServer, type RunningServer } from '../../src/app/create-server.js';
import { createFixture, fixtureModel, randomRows } from '../helpers/bundle-fixture.js';

const fx = createFixture({ seed: 5 });
const names = fx.fields.map((f) => f.name);
const raw = randomRows(fx, 2, 3).raw;
// Fields 0-2 shared: both rows take row 0's values.
for (const f of names.slice(0, 3)) raw[1]![f] = raw[0]![f]!;
let server: RunningServer;

before(async () => {
  server = await createServer(testConfig({ workers: 1 }), { model: fixtureModel(fx), registry: new Registry() });
});
after(() => server.close());

/** Runs `mpe client --addr ... score <args>` in-process and returns the printed probabilities. */
async function clientScore(args: string[]): Promise<number[]> {
  const program = new Command('mpe').exitOverride();
  register(program);
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => {
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['client', '--addr', `127.0.0.1:${server.grpcPort}`, 'score', ...args], { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  return (JSON.parse(out) as { probabilities: number[] }).probabilities;
}

const pairsOf = (row: Record<string, string | number>, fields: string[]): string => fields.map((f) => `${f}=${row[f]}`).join(',');

test('mpe client score: flat rows, context + rows and context + columns give the same probabilities', async () => {
  const flat = await clientScore(raw.flatMap((r) => ['--row', pairsOf(r, names)]));
  assert.equal(flat.length, 2);
  assert.notEqual(flat[0], flat[1]);
  const context = ['--context', pairsOf(raw[0]!, names.slice(0, 3))];
  assert.deepEqual(await clientScore([...context, ...raw.flatMap((r) => ['--row', pairsOf(r, names.slice(3))])]), flat);
  assert.deepEqual(await clientScore([...context, ...names.slice(3).flatMap((f) => ['--column', `${f}=${raw.map((r) => r[f]).join(',')}`])]), flat);
});
