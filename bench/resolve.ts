/**
 * The resolve section of `npm run bench:lookup` (alone: `npm run bench:lookup -- --resolve-only
 * [--quick]`): tokens per CPU-second of (field, token) -> id through the v1 hash table
 * (`Vocabulary`, 12 bytes per slot, load <= 0.5) and the v2 compact index (`CompactVocabulary`,
 * one run as in fp32/uniform bundles, and 6 runs as in an MPE bundle), side by side in one run
 * with interleaved repetitions, for 1M and 10M keys over 26 fields, known keys (uniform over the
 * keys: the cache-unfriendly case) and unknown keys. Hashing the token is included (it is part of
 * every lookup). Writes bench/results/lookup-resolve.json and regenerates docs/benchmarks.md.
 */
import { cpus, loadavg } from 'node:os';
import { createRng } from '../src/util/random.js';
import { mix32 } from '../src/util/hash.js';
import { CompactVocabularyBuilder } from '../src/vocab/compact-index.js';
import { VocabularyBuilder } from '../src/vocab/vocabulary.js';
import { hashHi, hashInto, hashLo } from '../src/vocab/hash.js';
import { describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const FIELDS = 26;
/** Criteo-like tokens: 8 hex digits (mix32 is a bijection: token i != token j for i != j). */
const token = (i: number, salt: number): string => mix32((i ^ salt) >>> 0).toString(16).padStart(8, '0');

interface Index {
  readonly name: string;
  readonly bytes: number;
  /** Id of the key with 64-bit hash (hi, lo), or -1 (the index's own find). */
  readonly find: (hi: number, lo: number) => number;
  /** `lookup(field, token)` = hash + find, as the product's `lookup` methods do: its own compiled loop (see timeOnce). */
  readonly loop: (find: (hi: number, lo: number) => number, fields: Int32Array, tokens: string[]) => number;
}

/**
 * A timing loop of its own for each index: `new Function` makes a new function (its own type
 * feedback and optimised code), so no call site in the timed code sees more than one index. With
 * one shared loop (this file before), `ix.lookup` and CompactVocabulary's `this.find` were
 * polymorphic across the three indexes, which no serving process is (it holds one vocabulary
 * kind), and the JIT's choices moved the ratios: quick run at load ~1.5, 6 runs vs v1 0.76x with
 * the shared loop; per-index loops in /tmp microbenchmarks 1.0-1.4x.
 */
function makeLoop(): Index['loop'] {
  return new Function(
    'hashInto',
    'hashHi',
    'hashLo',
    'find',
    'fields',
    'tokens',
    'let sink = 0; for (let i = 0; i < tokens.length; i++) { hashInto(fields[i], tokens[i]); sink += find(hashHi(), hashLo()); } return sink;',
  ).bind(null, hashInto, hashHi, hashLo) as Index['loop'];
}

interface Stream {
  readonly name: string;
  readonly fields: Int32Array;
  readonly tokens: string[];
}

function timeOnce(ix: Index, s: Stream): { cpu: number; sink: number } {
  const { fields, tokens } = s;
  const n = tokens.length;
  const c0 = process.cpuUsage();
  const sink = ix.loop(ix.find, fields, tokens);
  const cu = process.cpuUsage(c0);
  return { cpu: (n / Math.max(1, cu.user + cu.system)) * 1e6, sink };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs the resolve benchmark and writes its result; returns its markdown. */
export function runResolveBench(quick: boolean): string {
  const t0 = Date.now();
  const sizes = quick ? [1_000_000] : [1_000_000, 10_000_000];
  const reps = quick ? 3 : 5;
  const queries = quick ? 1 << 18 : 1 << 20;
  const rows: string[] = [];
  const data: Record<string, unknown>[] = [];
  const notes: string[] = [];
  for (const n of sizes) {
    const v1b = new VocabularyBuilder();
    const c1 = new CompactVocabularyBuilder();
    const c6 = new CompactVocabularyBuilder();
    for (let i = 0; i < n; i++) {
      const t = token(i, 0x5eed);
      v1b.add(i % FIELDS, t, i);
      c1.add(i % FIELDS, t, 0);
      c6.add(i % FIELDS, t, Math.min(5, Math.floor((6 * i) / n)));
    }
    const v1 = v1b.build();
    const k1 = c1.build([0]).index;
    const k6 = c6.build([0, 1, 2, 3, 4, 5].map((r) => Math.ceil((r * n) / 6))).index;
    const indexes: Index[] = [
      { name: 'v1 hash table (12 B/slot)', bytes: v1.byteLength, find: (hi, lo) => v1.find(hi, lo), loop: makeLoop() },
      { name: 'v2 compact index, 1 run', bytes: k1.byteLength, find: k1.find, loop: makeLoop() },
      { name: 'v2 compact index, 6 runs', bytes: k6.byteLength, find: k6.find, loop: makeLoop() },
    ];
    const rng = createRng(n + 1);
    const known: Stream = { name: 'known', fields: new Int32Array(queries), tokens: [] };
    const unknown: Stream = { name: 'unknown', fields: new Int32Array(queries), tokens: [] };
    const skewed: Stream = { name: 'known, power law', fields: new Int32Array(queries), tokens: [] };
    for (let q = 0; q < queries; q++) {
      const i = Math.floor(rng.next() * n);
      known.fields[q] = i % FIELDS;
      known.tokens.push(token(i, 0x5eed));
      unknown.fields[q] = (n + i) % FIELDS;
      unknown.tokens.push(token(n + i, 0x5eed)); // never a key: keys are tokens 0..n-1
      // Real traffic: popularity rank ~ Zipf(1) (continuous form: rank = (n + 1)^u - 1), the ranks
      // scattered over the keys by a multiplier coprime with n (40503 is prime, neither 2 nor 5).
      const rank = Math.min(n - 1, Math.floor((n + 1) ** rng.next()) - 1);
      const k = (rank * 40503) % n;
      skewed.fields[q] = k % FIELDS;
      skewed.tokens.push(token(k, 0x5eed));
    }
    // Correctness before speed: the three agree on every query (ids of v2 differ by design; found-ness must not).
    for (let q = 0; q < queries; q += 97) {
      for (const ix of indexes) {
        hashInto(known.fields[q]!, known.tokens[q]!);
        if (ix.find(hashHi(), hashLo()) < 0) throw new Error(`${ix.name}: known key not found`);
        hashInto(unknown.fields[q]!, unknown.tokens[q]!);
        if (ix.find(hashHi(), hashLo()) !== -1) throw new Error(`${ix.name}: unknown key found`);
      }
    }
    for (const s of [known, skewed, unknown]) {
      const samples = indexes.map(() => [] as number[]);
      for (const ix of indexes) timeOnce(ix, s); // warm-up
      for (let r = 0; r < reps; r++) {
        for (let k = 0; k < indexes.length; k++) {
          const j = (k + r) % indexes.length;
          samples[j]!.push(timeOnce(indexes[j]!, s).cpu);
        }
      }
      const base = median(samples[0]!);
      indexes.forEach((ix, j) => {
        const med = median(samples[j]!);
        rows.push(`| ${n / 1e6}M | ${s.name} | ${ix.name} | ${(ix.bytes / n).toFixed(2)} | ${(med / 1e6).toFixed(2)} | ${(Math.min(...samples[j]!) / 1e6).toFixed(2)} - ${(Math.max(...samples[j]!) / 1e6).toFixed(2)} | ${(med / base).toFixed(2)}x |`);
        data.push({ keys: n, queries: s.name, index: ix.name, bytes: ix.bytes, bytesPerKey: ix.bytes / n, medianTokensPerCpuSecond: Math.round(med), samples: samples[j]!.map(Math.round), ratioVsV1: med / base });
      });
    }
    console.log(`resolve: ${n} keys done (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
  notes.push('- bytes/key counts the payload (what vocab.bin stores, = memory held: both kinds are viewed in place). v2 = payload MPEVOCB3 (u16 code per key with R > 1 runs: run + rank in its block; docs/format.md).');
  notes.push(`- Load average at the end of the run: ${loadavg().map((x) => x.toFixed(1)).join(' / ')} (1/5/15 min) on ${cpus().length} cores. Total ${((Date.now() - t0) / 1000).toFixed(0)} s.`);
  const markdown = [
    `Single thread, (field, token) -> id including the FNV-1a hash of the token, each index timed by a loop of its own (no shared call site: see makeLoop); ${queries} queries per stream, known keys drawn uniformly (every lookup a likely cache miss at these sizes: the worst case) and by a power law (Zipf exponent 1 over popularity ranks scattered across the keys: the shape of real traffic, where a smaller index keeps more of the popular keys in cache), tokens of 8 hex digits over ${FIELDS} fields; ${reps} interleaved repetitions after a warm-up pass; median tokens per CPU-second (process.cpuUsage) and range. "vs v1" divides by the v1 hash table of the same size and stream.${quick ? ' QUICK RUN (--quick): 1M only.' : ''}`,
    '',
    '| keys | queries | index | bytes/key | median M tokens per CPU-s | range | vs v1 |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...notes,
  ].join('\n');
  writeResult({ name: 'lookup-resolve', title: 'Vocabulary resolve: v1 hash table vs v2 compact index', command: `npm run bench:lookup -- --resolve-only${quick ? ' --quick' : ''}`, date: new Date().toISOString(), machine: describeMachine(), markdown, data });
  console.log(markdown);
  console.log(`wrote ${writeBenchmarksDoc()}`);
  return markdown;
}
