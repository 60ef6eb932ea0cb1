/** Command-line pieces the loadtest and soak commands share. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';

export const positiveNum = (v: string): number => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a positive number');
  return n;
};

export const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

/** Where the server is: --grpc, --http, or --spawn-model (with --serve-arg), and --json. */
export function addServerOptions(cmd: Command): Command {
  return cmd
    .option('--grpc <host:port>', 'gRPC address', process.env.MPE_GRPC_ADDR ?? '127.0.0.1:50051')
    .option('--http <url>', 'HTTP base URL (also /metrics, /admin/reload)', process.env.MPE_HTTP_URL ?? 'http://127.0.0.1:8080')
    .option('--spawn-model <dir>', 'start `mpe serve --model DIR` on free ports for the run (also the reference bundle); DIR `demo` = the demo bundle of npm start, `default-dnn` = the serving benchmark\'s model (39 fields, d=16, DNN 1024-512-256)')
    .option('--serve-arg <arg...>', 'extra arguments for the spawned server, e.g. --serve-arg=--workers=2')
    .option('--json <file>', 'write the JSON here instead of stdout');
}

/** Writes `value` as JSON to `file`, or to stdout when no file is given. */
export function emitJson(value: unknown, file: string | undefined): void {
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (file === undefined) {
    process.stdout.write(text);
    return;
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
