/**
 * `mpe` start-up: wall and CPU seconds of `mpe --help` and `mpe inspect BUNDLE` in plain node on
 * a tsc build (and `mpe --help` under tsx from src/), each run BENCH_CLI_REPS times (default 5),
 * interleaved. Target: under 1 s (issue 11; every command used to import every subcommand).
 * CPU seconds (user + sys, from /usr/bin/time) are the figure that survives a loaded box; the
 * load average is printed next to them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFixture, writeFixtureBundle } from '../test/helpers/bundle-fixture.js';
import { benchCommand, describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const REPS = Number(process.env.BENCH_CLI_REPS ?? 5);
const ROOT = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'mpe-bench-cli-'));
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

interface Sample {
  readonly wall: number;
  readonly cpu: number | null;
}

function measure(argv: readonly string[]): Sample {
  const cmd = TIME === null ? argv : [TIME, '-f', 'CPU %U %S', ...argv];
  const t0 = performance.now();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { cwd: ROOT, encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  const m = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { wall, cpu: m === null ? null : Number(m[1]) + Number(m[2]) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

try {
  // Inside the repository, so that the build resolves node_modules like dist/ does.
  const out = join(ROOT, '.cache', 'bench-cli-dist');
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', out], { cwd: ROOT, encoding: 'utf8' });
  if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
  const bundle = join(work, 'bundle');
  await writeFixtureBundle(createFixture({ seed: 1 }), bundle, 'fixture-1');
  const main = join(out, 'src', 'cli', 'main.js');
  const cases: Record<string, readonly string[]> = {
    'node mpe --help': [process.execPath, main, '--help'],
    'node mpe inspect BUNDLE': [process.execPath, main, 'inspect', bundle],
    'tsx mpe --help (src/)': [process.execPath, '--import', 'tsx', 'src/cli/main.ts', '--help'],
  };
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const loadBefore = loadavg()[0]!;
  for (let i = 0; i < REPS; i++) for (const [k, argv] of Object.entries(cases)) samples[k]!.push(measure(argv));
  const loadAfter = loadavg()[0]!;
  const rows = Object.entries(samples).map(([k, s]) => {
    const cpu = s.map((x) => x.cpu).filter((x): x is number => x !== null);
    return `| ${k} | ${median(s.map((x) => x.wall)).toFixed(2)} | ${cpu.length > 0 ? median(cpu).toFixed(2) : 'n/a'} |`;
  });
  const markdown = [
    `Median of ${REPS} interleaved runs; load average ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)} (2 cores shared: wall time grows with the load, CPU time much less).`,
    '',
    '| command | wall s | CPU s (user + sys) |',
    '|---|---:|---:|',
    ...rows,
  ].join('\n');
  console.log(markdown);
  writeResult({
    name: 'cli-start',
    title: '`mpe` start-up: a command loads only its own module',
    command: benchCommand('bench:cli', ['BENCH_CLI_REPS']),
    date: new Date().toISOString(),
    machine: describeMachine(),
    markdown,
    data: { reps: REPS, samples, loadBefore, loadAfter },
  });
  console.log(`wrote ${writeBenchmarksDoc()}`);
} finally {
  rmSync(work, { recursive: true, force: true });
  rmSync(join(ROOT, '.cache', 'bench-cli-dist'), { recursive: true, force: true });
}
