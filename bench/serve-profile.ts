/**
 * `npm run bench:serve-profile [-- --seconds S --variants grpc:ids,http:flat --result NAME]`: where
 * the CPU of `mpe serve` goes at max load, every thread (issue 14). For each transport:form, a
 * server (2 workers x 1 thread, from src/ via tsx, node `--perf-basic-prof` so JIT code has names)
 * takes the closed loop of bench:serve (8 in flight) while Linux `perf record -e cpu-clock` samples
 * it; the samples are split by thread (the main thread, the two score workers = the two threads
 * with the most onnxruntime samples, the rest = V8's platform threads (GC, compiler) and libuv)
 * and by library (onnxruntime, node/V8, JIT code, kernel, libc), with the hottest symbols of the
 * main thread and of the workers. Needs `perf` (linux-perf) and permission to profile the child.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFixtureBundle } from '../test/helpers/bundle-fixture.js';
import { spawnServe } from '../test/helpers/spawn-serve.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';
import { cpuSecondsOf, createServeLoad, type Form, maxThroughput, ROWS, sender } from './serve-load.js';

const args = process.argv.slice(2);
const strArg = (name: string): string | null => (args.includes(name) ? args[args.indexOf(name) + 1]! : null);
const SECONDS = Number(strArg('--seconds') ?? 8);
const VARIANTS = (strArg('--variants') ?? 'grpc:ids,http:ids,grpc:flat,http:flat').split(',').map((v) => v.split(':') as ['grpc' | 'http', Form]);
const RESULT = strArg('--result') ?? 'serve-profile';
/** Samples per second per CPU: low enough that perf itself costs little. */
const HZ = 499;

/** `perf report` rows: percent, tid, then the rest of the key (a library, or a library and a symbol). */
function perfRows(file: string, sort: string): { pct: number; tid: number; key: string }[] {
  const text = execFileSync('perf', ['report', '-i', file, '--no-children', '--sort', sort, '-g', 'none', '--stdio'], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  const out: { pct: number; tid: number; key: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(\d+):\S+\s+(.+?)\s*$/.exec(line);
    if (m !== null) out.push({ pct: Number(m[1]), tid: Number(m[2]), key: m[3]! });
  }
  return out;
}

type Lib = 'onnxruntime' | 'node/V8' | 'JIT (JS)' | 'kernel' | 'libc' | 'other';
const LIBS: readonly Lib[] = ['onnxruntime', 'node/V8', 'JIT (JS)', 'kernel', 'libc', 'other'];
function libOf(dso: string): Lib {
  if (dso.includes('libonnxruntime')) return 'onnxruntime';
  if (dso.startsWith('[JIT]')) return 'JIT (JS)';
  if (dso.includes('kernel')) return 'kernel';
  if (dso.startsWith('libc')) return 'libc';
  if (dso === 'node') return 'node/V8';
  return 'other';
}

interface Profile {
  readonly rowsPerSec: number;
  readonly rowsPerServerCpuS: number;
  /** Share of the server's samples (%) by thread class and library. */
  readonly shares: Record<'main' | 'workers' | 'rest', Record<Lib, number>>;
  readonly mainTop: { sym: string; pct: number }[];
  readonly workerTop: { sym: string; pct: number }[];
}

const load = createServeLoad();
const tmp = mkdtempSync(join(tmpdir(), 'mpe-bench-profile-'));
const dir = join(tmp, 'bundle');
await writeFixtureBundle(load.fx, dir, 'bench-1');
const profiles: Record<string, Profile> = {};
const loads: number[] = [loadavg()[0]!];
try {
  for (const [transport, form] of VARIANTS) {
    const server = await spawnServe(['--model', dir, '--workers', '2', '--intra-op-threads', '1'], null, ['--perf-basic-prof']);
    const clients: { close(): void }[] = [];
    try {
      const send = sender(load, server, transport, form, clients);
      await maxThroughput(send, 3); // warm-up: JIT, connections
      const pid = server.child.pid!;
      const data = join(tmp, `${transport}-${form}.perf`);
      const perf = spawn('perf', ['record', '-e', 'cpu-clock', '-F', String(HZ), '-p', String(pid), '-o', data, '--', 'sleep', String(SECONDS)], { stdio: 'ignore' });
      const perfDone = new Promise((r) => perf.on('exit', r));
      const c0 = cpuSecondsOf(pid);
      const t0 = performance.now();
      const m = await maxThroughput(send, SECONDS);
      const rows = (m.rowsPerSec * (performance.now() - t0)) / 1000;
      const cpu = cpuSecondsOf(pid) - c0;
      await perfDone;
      const byLib = perfRows(data, 'pid,dso');
      const onnxByTid = new Map<number, number>();
      for (const r of byLib) if (libOf(r.key) === 'onnxruntime') onnxByTid.set(r.tid, (onnxByTid.get(r.tid) ?? 0) + r.pct);
      const workers = new Set([...onnxByTid.entries()].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([tid]) => tid));
      const classOf = (tid: number): 'main' | 'workers' | 'rest' => (tid === pid ? 'main' : workers.has(tid) ? 'workers' : 'rest');
      const shares = { main: {}, workers: {}, rest: {} } as Profile['shares'];
      for (const c of ['main', 'workers', 'rest'] as const) for (const l of LIBS) shares[c][l] = 0;
      for (const r of byLib) shares[classOf(r.tid)][libOf(r.key)] += r.pct;
      const bySym = perfRows(data, 'pid,dso,sym');
      const top = (c: 'main' | 'workers'): { sym: string; pct: number }[] => {
        const acc = new Map<string, number>();
        for (const r of bySym) {
          if (classOf(r.tid) !== c || r.key.includes('libonnxruntime')) continue;
          const sym = r.key.replace(/^.*?\[[.k]\]\s+/, '').replace(/file:\/\/\S*\/(src|node_modules)\//, '$1/');
          acc.set(sym, (acc.get(sym) ?? 0) + r.pct);
        }
        return [...acc.entries()]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 8)
          .map(([sym, pct]) => ({ sym, pct }));
      };
      profiles[`${transport} ${form}`] = { rowsPerSec: m.rowsPerSec, rowsPerServerCpuS: rows / cpu, shares, mainTop: top('main'), workerTop: top('workers') };
      console.log(`${transport} ${form}: ${m.rowsPerSec.toFixed(0)} rows/s, ${(rows / cpu).toFixed(0)} rows per server CPU-s; onnxruntime ${(shares.workers.onnxruntime + shares.main.onnxruntime + shares.rest.onnxruntime).toFixed(1)}% of the server's CPU (load ${loadavg()[0]!.toFixed(1)})`);
    } finally {
      for (const c of clients) c.close();
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }
  loads.push(loadavg()[0]!);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const f = (x: number, d = 1): string => x.toFixed(d);
const sum = (r: Record<Lib, number>): number => LIBS.reduce((t, l) => t + r[l], 0);
let md = `Where \`mpe serve\` spends its CPU at max load (closed loop, 8 requests of ${ROWS} candidates x 39 fields in flight, default DNN, 2 workers x 1 intra-op thread, from src/ via tsx, on ${availableParallelism()} cores shared with the load generator): \`perf record -e cpu-clock -F ${HZ}\` on the server process for ${SECONDS} s per variant (node \`--perf-basic-prof\`), samples split by thread and by library. Threads: **main** (the event loop: gRPC/HTTP, decoding, the pool), **workers** (the two score workers: the threads with the most onnxruntime samples; their JS = resolve, dequantize, messages), **rest** (V8's platform threads: concurrent GC marking, sweeping, the optimizing compiler; libuv). Load average (1 min) at start / end: ${loads.map((x) => x.toFixed(1)).join(' / ')}.\n\n`;
md += `| transport, form | rows/s | rows per server CPU-s | onnxruntime | main thread | workers outside onnxruntime | rest (V8 helpers) |\n|---|---|---|---|---|---|---|\n`;
for (const [name, p] of Object.entries(profiles)) {
  const s = p.shares;
  md += `| ${name} | ${f(p.rowsPerSec, 0)} | ${f(p.rowsPerServerCpuS, 0)} | ${f(s.workers.onnxruntime + s.main.onnxruntime + s.rest.onnxruntime)}% | ${f(sum(s.main))}% | ${f(sum(s.workers) - s.workers.onnxruntime)}% | ${f(sum(s.rest) - s.rest.onnxruntime)}% |\n`;
}
md += '\nBy library within each thread class (% of all the server\'s samples):\n\n| transport, form | thread | ' + LIBS.join(' | ') + ' |\n|' + '---|'.repeat(LIBS.length + 2) + '\n';
for (const [name, p] of Object.entries(profiles)) for (const c of ['main', 'workers', 'rest'] as const) md += `| ${name} | ${c} | ${LIBS.map((l) => f(p.shares[c][l])).join(' | ')} |\n`;
md += '\nHottest symbols outside onnxruntime (% of all the server\'s samples; `JS:*decode :4:23` without a file is a dequantize decoder that codec/packed-table.ts generates per bit width; `pvm_irq_enable`: kernel time with interrupts off (scheduling, wake-ups), which cpu-clock sampling attributes to where they are re-enabled; JS names come from one perf map that every isolate of the process writes, so a worker\'s JS name can be stale, e.g. a start-up function):\n\n';
for (const [name, p] of Object.entries(profiles)) {
  md += `- ${name}, main: ${p.mainTop.map((t) => `\`${t.sym}\` ${f(t.pct)}%`).join(', ')}\n`;
  md += `- ${name}, workers: ${p.workerTop.map((t) => `\`${t.sym}\` ${f(t.pct)}%`).join(', ')}\n`;
}
writeResult({
  name: RESULT,
  title: 'Serving: where the server\'s CPU goes at max load (perf, every thread)',
  command: `npm run bench:serve-profile${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
  date: new Date().toISOString(),
  machine: describeMachine(),
  markdown: md,
  data: { profiles, loads, seconds: SECONDS, hz: HZ },
});
console.log(`wrote ${writeBenchmarksDoc()}`);
