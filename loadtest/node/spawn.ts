/**
 * Starts `mpe serve` as a child process on two free loopback ports and waits for /readyz, so one
 * command can measure a server (`--spawn-model DIR`). The child is the real CLI: what is measured
 * is what users run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ensureDemoBundle } from '../../src/app/demo-bundle.js';
import { DEFAULTS } from '../../src/config/config.js';
import { createLogger } from '../../src/util/log.js';
import { createFixture, writeFixtureBundle } from '../../test/helpers/bundle-fixture.js';
import type { Endpoints } from './run.js';

export interface SpawnedServer extends Endpoints {
  readonly child: ChildProcess;
  /** CPU seconds (user + system, all threads) the server has used so far, from /proc; null where /proc is absent. */
  cpuSeconds(): number | null;
  /** Latest process.memoryUsage() of the server (from loadtest/node/memory-probe.mjs), or null before the first report. */
  memoryUsage(): NodeJS.MemoryUsage | null;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s). Resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** A port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return port;
}

/** utime + stime of `pid` in seconds from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux). */
export function procCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Named bundles: `demo` = the cached demo bundle of `npm start` (built once if missing);
 * `default-dnn` = the serving benchmark's model (bench/serve.ts): 39 fields, d = 16, 200k features,
 * DNN 1024-512-256 with BatchNorm, random weights (seed 2024), cached under .cache/loadtest-default-dnn.
 * Anything else is a bundle directory.
 */
export async function resolveModelDir(arg: string): Promise<string> {
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  if (arg === 'demo') return ensureDemoBundle(`${REPO}${DEFAULTS.demoDir}`, createLogger());
  if (arg !== 'default-dnn') return arg;
  const dir = `${REPO}.cache/loadtest-default-dnn/bundle`;
  if (!existsSync(`${dir}/manifest.json`)) {
    log(`building the default-DNN bundle in ${dir} (once)`);
    const fx = createFixture({ fields: 39, d: 16, featureCount: 200_000, groupSize: 2048, hidden: [1024, 512, 256], seed: 2024 });
    await writeFixtureBundle(fx, dir, 'default-dnn-1');
  }
  return dir;
}

/** Polls GET /readyz until 200 or the deadline. */
export async function waitReady(httpUrl: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before it was ready`);
    try {
      const res = await fetch(`${httpUrl}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`server at ${httpUrl} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Spawns `mpe serve --model DIR` (DIR may be `demo`, see {@link resolveModelDir}) (through tsx, from this checkout) with `extraArgs` and `env`
 * added; its stdout/stderr are inherited (the server's log lines). The memory probe is preloaded.
 */
export async function spawnServer(modelArg: string, extraArgs: readonly string[] = [], env: Record<string, string> = {}): Promise<SpawnedServer> {
  const modelDir = await resolveModelDir(modelArg);
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const args = ['--import', './loadtest/node/memory-probe.mjs', '--import', 'tsx', 'src/cli/main.ts', 'serve', '--model', modelDir, '--host', '127.0.0.1', '--grpc-port', String(grpcPort), '--http-port', String(httpPort), ...extraArgs];
  const child = spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let memory: NodeJS.MemoryUsage | null = null;
  child.on('message', (m: { mpeMemoryUsage?: NodeJS.MemoryUsage }) => {
    if (m?.mpeMemoryUsage !== undefined) memory = m.mpeMemoryUsage;
  });
  // The channel must not keep this process alive either.
  child.channel?.unref();
  const http = `http://127.0.0.1:${httpPort}`;
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    return child.exitCode;
  };
  try {
    await waitReady(http, 120_000, child);
  } catch (e) {
    await stop();
    throw e;
  }
  return { grpc: `127.0.0.1:${grpcPort}`, http, child, stop, memoryUsage: () => memory, cpuSeconds: () => procCpuSeconds(child.pid) };
}
