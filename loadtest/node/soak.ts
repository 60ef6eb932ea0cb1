/**
 * `npm run soak -- --minutes M`: steady open-loop load for M minutes, a hot reload in the middle
 * (POST /admin/reload of the served bundle: always with --spawn-model, which gives the server a
 * token; with an external server only when --admin-token / MPE_ADMIN_TOKEN is given), sampling
 * the SERVER's memory (RSS, heap, external, arrayBuffers) and event-loop delay p99 from its
 * /metrics every few seconds.
 *
 * Answers are checked across the reload (same bundle, so the same answers). Fails (exit 1) when
 * any request fails or fails its check, when the reload does not succeed, or when RSS grows by
 * more than --max-rss-growth (default 20%) within a steady phase: after warm-up up to the reload,
 * and from --settle-s after the reload to the end (median of the last 3 samples against the
 * median of the first 3). The step across the reload (a second model is loaded while the first
 * drains) and the whole-run growth are reported, not judged. Heap, external and arrayBuffers
 * are reported the same way.
 *
 *   npm run soak -- --minutes 10 --spawn-model DIR
 *   npm run soak -- --minutes 10 --grpc 127.0.0.1:50051 --http http://127.0.0.1:8080 --admin-token T
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { Command, Option } from 'commander';
import { describeMachine, writeBenchmarksDoc, writeResult } from '../../bench/report.js';
import { addServerOptions, emitJson, positiveInt, positiveNum } from './options.js';
import { type ProcessSample, processSample } from './prom-text.js';
import type { RunSummary } from './report.js';
import { type Endpoints, prepareLoad } from './run.js';
import { resolveModelDir, type SpawnedServer, spawnServer } from './spawn.js';

const o = addServerOptions(new Command('soak'))
  .description('steady load for M minutes with a mid-run reload; fails on any error or on RSS growth past the bound')
  .requiredOption('--minutes <m>', 'minutes of load', positiveNum)
  .addOption(new Option('--target <t>', 'transport').choices(['grpc', 'http']).default('grpc'))
  .addOption(new Option('--method <name>', 'RPC').choices(['score', 'lookup']).default('score'))
  .option('--rate <n>', 'requests per second', positiveNum, 100)
  .option('--candidates <n>', 'Score: candidates per request', positiveInt, 100)
  .option('--features <n>', 'Lookup: ids per request', positiveInt, 1000)
  .option('--warmup-minutes <m>', 'minutes excluded from the memory baseline (default: min(1, M/5))', positiveNum)
  .option('--sample-s <s>', 'seconds between /metrics samples', positiveNum, 5)
  .option('--chunk-s <s>', 'seconds per measured chunk (latency timeline granularity)', positiveNum, 30)
  .option('--max-rss-growth <ratio>', 'fail when RSS grows by more than this within a steady phase', positiveNum, 0.2)
  .option('--settle-s <s>', 'seconds after the reload before the second steady phase starts', positiveNum, 60)
  .option('--admin-token <token>', 'bearer token of POST /admin/reload; without it the mid-run reload is skipped', process.env.MPE_ADMIN_TOKEN)
  .option('--reload-dir <dir>', 'bundle to reload in the middle (default: the server reloads its own source)')
  .option('--results <name>', 'also write bench/results/<name>.json for bench/report.ts')
  .parse()
  .opts<{
    minutes: number;
    target: 'grpc' | 'http';
    method: 'score' | 'lookup';
    rate: number;
    candidates: number;
    features: number;
    warmupMinutes?: number;
    sampleS: number;
    settleS: number;
    chunkS: number;
    maxRssGrowth: number;
    grpc: string;
    http: string;
    spawnModel?: string;
    serveArg?: string[];
    adminToken?: string;
    reloadDir?: string;
    json?: string;
    results?: string;
  }>();

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)]!;
};
const MiB = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;

/** Growth of one gauge: median of the first 3 samples after warm-up vs median of the last 3. */
type Gauge = keyof Omit<ProcessSample, 't'>;
interface Growth {
  baseMiB: number;
  endMiB: number;
  ratio: number;
}

function growth(samples: readonly ProcessSample[], key: Gauge, fromT: number, toT = Number.POSITIVE_INFINITY): Growth | null {
  const xs = samples.filter((s) => s.t >= fromT && s.t < toT && s[key] !== null).map((s) => s[key] as number);
  if (xs.length < 6) return null;
  const base = median(xs.slice(0, 3));
  const end = median(xs.slice(-3));
  return { baseMiB: MiB(base), endMiB: MiB(end), ratio: Math.round(((end - base) / base) * 10000) / 10000 };
}

async function reload(http: string, token: string, dir: string | undefined): Promise<{ status: number; body: string }> {
  const res = await fetch(`${http}/admin/reload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(dir === undefined ? {} : { dir }),
  });
  return { status: res.status, body: (await res.text()).slice(0, 500) };
}

let server: SpawnedServer | null = null;
let exitCode = 0;
try {
  let endpoints: Endpoints = { grpc: o.grpc, http: o.http };
  const spawnDir = o.spawnModel === undefined ? undefined : await resolveModelDir(o.spawnModel);
  let adminToken = o.adminToken;
  if (spawnDir !== undefined) {
    // A spawned server gets an admin token of ours, so the mid-run reload always happens.
    adminToken ??= randomBytes(16).toString('hex');
    server = await spawnServer(spawnDir, o.serveArg ?? [], { MPE_ADMIN_TOKEN: adminToken });
    endpoints = server;
  }
  const totalS = o.minutes * 60;
  const warmupS = (o.warmupMinutes ?? Math.min(1, o.minutes / 5)) * 60;
  const size = o.method === 'score' ? o.candidates : o.features;
  const prepared = await prepareLoad(endpoints, {
    target: o.target,
    method: o.method,
    durationS: totalS,
    size,
    ...(spawnDir !== undefined ? { bundle: spawnDir } : {}),
  });
  const loadStart = loadavg()[0]!;
  const t0 = Date.now();
  const now = (): number => (Date.now() - t0) / 1000;
  const samples: ProcessSample[] = [];
  const sampleErrors: string[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        const res = await fetch(`${endpoints.http}/metrics`);
        const sample = processSample(await res.text(), Math.round(now() * 10) / 10);
        // arrayBuffers: from /metrics when the server exports it, else from the spawned server's memory probe.
        const probed = server?.memoryUsage() ?? null;
        samples.push(sample.arrayBuffers === null && probed !== null ? { ...sample, arrayBuffers: probed.arrayBuffers } : sample);
      } catch (e) {
        sampleErrors.push(String(e));
      }
      await new Promise((r) => setTimeout(r, o.sampleS * 1000));
    }
  })();
  const chunks: (RunSummary & { startS: number })[] = [];
  type ReloadResult = { atS: number; status: number; body: string } | 'skipped: no --admin-token';
  // Assigned inside the reload callback: the cast keeps TypeScript from narrowing it to the initial string.
  let reloadResult = 'skipped: no --admin-token' as ReloadResult;
  let reloadPending: Promise<void> | null = null;
  while (now() < totalS - 0.5) {
    const startS = now();
    const durationS = Math.min(o.chunkS, totalS - startS);
    if (adminToken !== undefined && reloadPending === null && startS + durationS >= totalS / 2) {
      // Fire the reload while this chunk's load is running: requests in flight across the switch are checked too.
      const token = adminToken;
      reloadPending = new Promise<void>((r) => setTimeout(r, Math.max(0, (totalS / 2 - startS) * 1000))).then(async () => {
        const atS = Math.round(now() * 10) / 10;
        try {
          reloadResult = { atS, ...(await reload(endpoints.http, token, o.reloadDir)) };
        } catch (e) {
          reloadResult = { atS, status: 0, body: String(e) };
        }
        process.stderr.write(`reload at ${atS}s: ${JSON.stringify(reloadResult)}\n`);
      });
    }
    const s = await prepared.go({ rate: o.rate, durationS });
    chunks.push({ ...s, startS: Math.round(startS * 10) / 10 });
    process.stderr.write(`[${Math.round(startS)}s] ok ${s.ok}/${s.sent} p50 ${s.latencyMs?.p50} ms p99 ${s.latencyMs?.p99} ms errors ${JSON.stringify(s.errorsByCode)}\n`);
  }
  await reloadPending;
  sampling = false;
  await sampler;
  prepared.close();

  const sent = chunks.reduce((a, c) => a + c.sent, 0);
  const ok = chunks.reduce((a, c) => a + c.ok, 0);
  const errorsByCode: Record<string, number> = {};
  for (const c of chunks) for (const [k, v] of Object.entries(c.errorsByCode)) errorsByCode[k] = (errorsByCode[k] ?? 0) + v;
  const reloadAt = typeof reloadResult === 'object' ? reloadResult.atS : null;
  const phases = (key: Gauge): { wholeRun: Growth | null; beforeReload: Growth | null; afterReload: Growth | null; reloadStep: Growth | null } => {
    const before = reloadAt === null ? null : growth(samples, key, warmupS, reloadAt);
    const after = reloadAt === null ? null : growth(samples, key, reloadAt + o.settleS);
    const step = before !== null && after !== null ? { baseMiB: before.endMiB, endMiB: after.baseMiB, ratio: Math.round(((after.baseMiB - before.endMiB) / before.endMiB) * 10000) / 10000 } : null;
    return { wholeRun: growth(samples, key, warmupS), beforeReload: before, afterReload: after, reloadStep: step };
  };
  const memory = { rss: phases('rss'), heapUsed: phases('heapUsed'), external: phases('external'), arrayBuffers: phases('arrayBuffers') };
  const lags = samples.map((s) => s.eventLoopP99).filter((x): x is number => x !== null);
  const eventLoop = lags.length === 0 ? null : { p99MedianMs: Math.round(median(lags) * 1e5) / 100, p99MaxMs: Math.round(Math.max(...lags) * 1e5) / 100 };
  const p99s = chunks.map((c) => c.latencyMs?.p99 ?? Number.NaN);
  const failures: string[] = [];
  if (ok !== sent) failures.push(`${sent - ok} of ${sent} requests failed: ${JSON.stringify(errorsByCode)}`);
  const steady = reloadAt === null ? [['after warm-up', memory.rss.wholeRun] as const] : ([['before the reload', memory.rss.beforeReload], ['after the reload', memory.rss.afterReload]] as const);
  for (const [phase, gr] of steady) {
    if (gr === null) failures.push(`fewer than 6 RSS samples ${phase}: run longer or sample more often`);
    else if (gr.ratio > o.maxRssGrowth) failures.push(`RSS grew ${(gr.ratio * 100).toFixed(1)}% ${phase} (bound ${o.maxRssGrowth * 100}%)`);
  }
  if (typeof reloadResult === 'object' && (reloadResult.status !== 200 || !/"result":"success"/.test(reloadResult.body))) {
    failures.push(`reload answered ${reloadResult.status}: ${reloadResult.body}`);
  }
  const out = {
    command: `npm run soak -- ${process.argv.slice(2).join(' ')}`,
    date: new Date().toISOString(),
    machine: describeMachine(),
    target: o.target,
    method: o.method,
    rate: o.rate,
    size,
    minutes: o.minutes,
    warmupS,
    sent,
    ok,
    errorsByCode,
    p99MsByChunk: p99s,
    memory,
    memoryBound: { rssGrowthMax: o.maxRssGrowth },
    eventLoop,
    reload: reloadResult,
    samples,
    sampleErrors,
    chunks,
    failures,
    passed: failures.length === 0,
  };
  // With --results the figures go to bench/results/; stdout stays for the table.
  if (o.json !== undefined || o.results === undefined) emitJson(out, o.json);
  const g = (x: Growth | null): string => (x === null ? 'n/a' : `${x.baseMiB} -> ${x.endMiB} MiB (${x.ratio >= 0 ? '+' : ''}${(x.ratio * 100).toFixed(1)}%)`);
  const mem = (label: string, m: ReturnType<typeof phases>): string =>
    reloadAt === null ? `| server ${label} after warm-up | ${g(m.wholeRun)} |` : `| server ${label}: before reload / reload step / after reload / whole run | ${g(m.beforeReload)} / ${g(m.reloadStep)} / ${g(m.afterReload)} / ${g(m.wholeRun)} |`;
  const lines = [
    `| ${o.minutes} min soak, ${o.target} ${o.method} at ${o.rate} req/s x ${size} | value |`,
    '|---|---|',
    `| requests ok / sent | ${ok} / ${sent} |`,
    `| errors | ${sent - ok === 0 ? '0' : JSON.stringify(errorsByCode)} |`,
    `| latency p99 per ${o.chunkS} s chunk (min / median / max) | ${Math.min(...p99s)} / ${median(p99s)} / ${Math.max(...p99s)} ms |`,
    `| RSS bound | +${o.maxRssGrowth * 100}% within each steady phase |`,
    mem('RSS', memory.rss),
    mem('heap used', memory.heapUsed),
    mem('external', memory.external),
    mem('arrayBuffers', memory.arrayBuffers),
    `| event-loop delay p99 per ${o.sampleS} s sample (median / max) | ${eventLoop === null ? 'not exported' : `${eventLoop.p99MedianMs} / ${eventLoop.p99MaxMs} ms`} |`,
    `| mid-run reload | ${typeof reloadResult === 'string' ? reloadResult : `HTTP ${reloadResult.status} at ${reloadResult.atS} s`} |`,
    `| 1-minute load average of the (shared) box, start / end | ${loadStart.toFixed(1)} / ${loadavg()[0]!.toFixed(1)} |`,
    `| verdict | ${failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`} |`,
  ];
  process.stderr.write(`\n${lines.join('\n')}\n`);
  if (o.results !== undefined) {
    const markdown = [
      `Open-loop load from the Node driver for ${o.minutes} minutes; memory and event-loop delay sampled from the server's own /metrics every ${o.sampleS} s (arrayBuffers from a memory probe preloaded into the spawned server when /metrics lacks it); growth = median of the last 3 samples vs the first 3 of a phase: from ${warmupS} s (warm-up) to the reload, and from ${o.settleS} s after the reload to the end.`,
      '',
      ...lines,
    ].join('\n');
    writeResult({ name: o.results, title: `Soak: ${o.minutes} minutes of ${o.target} ${o.method}`, command: out.command, date: out.date, machine: out.machine, markdown, data: { ...out, chunks: undefined } });
    writeBenchmarksDoc();
  }
  if (failures.length > 0) exitCode = 1;
} catch (e) {
  process.stderr.write(`soak: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  exitCode = 1;
} finally {
  if (server !== null) await server.stop();
}
process.exitCode = exitCode;
