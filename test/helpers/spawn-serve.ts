/** Starts `mpe serve` (src/ via tsx, or a compiled main.js) as a child process and waits for its ports (the `grpcPort` and `httpPort` fields of its JSON log). */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServeChild {
  readonly child: ChildProcess;
  readonly grpc: number;
  readonly http: number;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** The JSON log lines on stderr so far, parsed (lines that are not JSON are skipped). */
  logs(): Record<string, unknown>[];
}

/**
 * @param args flags after `serve` (ports default to 0, host to 127.0.0.1 and --max-queue-ms to an
 *   hour, so that a loaded box does not shed, unless given)
 * @param dist a `tsc --outDir` directory to run compiled code from (default: src/ via tsx)
 * @param nodeArgs flags for node itself (e.g. V8 GC flags), before the script
 */
export function spawnServe(args: readonly string[], dist: string | null = null, nodeArgs: readonly string[] = []): Promise<ServeChild> {
  const main = [...nodeArgs, ...(dist ? [join(dist, 'src', 'cli', 'main.js')] : ['--import', 'tsx', 'src/cli/main.ts'])];
  const child = spawn(process.execPath, [...main, 'serve', '--host', '127.0.0.1', '--grpc-port', '0', '--http-port', '0', '--max-queue-ms', '3600000', ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const ready = parseLogs(err).find((l) => typeof l.grpcPort === 'number' && typeof l.httpPort === 'number');
      if (ready) resolve({ child, grpc: ready.grpcPort as number, http: ready.httpPort as number, exited, stderr: () => err, logs: () => parseLogs(err) });
    });
    void exited.then((code) => reject(new Error(`mpe serve exited during start-up (${code}): ${err}`)));
  });
}

/** Parses the complete JSON lines of `text` (a log); other lines are skipped. */
export function parseLogs(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a partial last line: read on the next chunk
    }
  }
  return out;
}
