/** A minimal structured log sink for the registry and reloader; the default writes one JSON line to stderr. */
export type LogLevel = 'info' | 'warn' | 'error';
export type LogFn = (level: LogLevel, msg: string, fields?: Readonly<Record<string, unknown>>) => void;

/** Writes `{"level","time","msg",...fields}` as one line to stderr. */
export const stderrLog: LogFn = (level, msg, fields) => {
  process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields })}\n`);
};

/** Discards everything (tests). */
export const silentLog: LogFn = () => {};
