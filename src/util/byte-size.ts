/**
 * Byte sizes as people write them: `50000000`, `50MB`, `50MiB`, `1.5GB`, `5e7`. Decimal units
 * (kB/KB, MB, GB, TB: powers of 1000) and binary ones (KiB, MiB, GiB, TiB: powers of 1024), a
 * bare `B`, case-insensitive, optional blank between number and unit. The result is rounded down
 * to whole bytes (a product that is a whole number up to float error, e.g. 4.35 x 1e6, counts as
 * that number).
 */

const UNITS: Readonly<Record<string, number>> = Object.freeze({
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
});

const SIZE = /^\s*((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-z]*)\s*$/i;

/** Bytes of `text` (see the file comment), or undefined when it is not a byte size (unknown unit, no number, negative, not finite). */
export function parseByteSize(text: string): number | undefined {
  const m = SIZE.exec(text);
  if (!m) return undefined;
  const mult = UNITS[m[2]!.toLowerCase()];
  if (mult === undefined) return undefined;
  const v = Number(m[1]) * mult;
  if (!Number.isFinite(v)) return undefined;
  const r = Math.round(v);
  return Math.abs(v - r) <= 1e-9 * Math.max(1, v) ? r : Math.floor(v);
}
