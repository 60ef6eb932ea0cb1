// Runs every test/**/*.test.ts with node's test runner (tsx loader). Arguments narrow the set:
// `npm test -- codec bundle` runs the files whose path contains "codec" or "bundle".
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = walk('test', []).sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Test files run as separate processes, several at once: most of their time is spent waiting
// (servers, sockets, timeouts), not computing, and each file uses its own ports (0) and Redis key
// prefix. Measured on the 2-core box from a clean clone, quiet (npm test, 425 tests):
// concurrency 1 208 s, 2 152 s, 4 131 s, zero failures each. Capped at 4 so that a many-core CI
// host does not start dozens of onnxruntime sessions at once. MPE_TEST_CONCURRENCY overrides.
const concurrency = Number(process.env.MPE_TEST_CONCURRENCY ?? Math.min(4, 2 * availableParallelism()));
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`MPE_TEST_CONCURRENCY must be a positive integer, got ${process.env.MPE_TEST_CONCURRENCY}`);
  process.exit(2);
}
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
