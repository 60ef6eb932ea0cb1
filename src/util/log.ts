/**
 * Logging: one pino logger (fastify's own), created once by the process entry point
 * (`app/serve.ts`) and passed down; fastify gets the same instance. Every line is one JSON object
 * on stderr: `level` (pino's numbers: 30 info, 40 warn, 50 error), `time`, `msg` and fields.
 * Tests read fields (e.g. `grpcPort` on the ready line), never sentences.
 */
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** The logger of a process: JSON lines on stderr, written synchronously (a line before `process.exit` is not lost). */
export function createLogger(opts: { readonly level?: string; readonly name?: string } = {}): Logger {
  return pino({ level: opts.level ?? 'info', ...(opts.name ? { name: opts.name } : {}), base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}

/** Discards everything (library default, tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
