/**
 * All-in memory benchmark (`npm run bench:all-in`): trains fp32 and MPE (defaults; pruned
 * features -> OOV, format v2) and MPE with the paper's pruned = zero vector, on each data set,
 * and reports test AUC, weights-only ratio, all-in ratio (table.bin + vocab.bin vs fp32 table +
 * the same kind of vocabulary over every key) and vocabulary bytes per stored key, each read back
 * from the written bundle (`summarizeBundle`, as `mpe inspect` prints it). The "before" columns
 * (format v1: every key in a 12-byte-slot hash table at load <= 0.5) are computed for the same
 * MPE bundle's table: vocab.bin v1 = 64 + 16 + 12 * capacity(allKeys).
 *
 * Data sets (env):
 *   BENCH_ALLIN_SYNTH_ROWS  rows of `mpe synth --seed 2022` (default 300000; 0 skips)
 *   BENCH_ALLIN_DATA        shared data directory (default ../shared/data, resolved against the repo)
 *   BENCH_ALLIN_SETS        comma list of criteo,movielens,synth, run in that order (default all three)
 *   BENCH_ALLIN_EPOCHS      max epochs per phase (default 8, MPE defaults otherwise)
 *   BENCH_ALLIN_VARIANTS    comma list of fp32,oov,zero (default all three): a large set can skip
 *                           the paper's pruned = zero model once a smaller run has compared them
 * MovieLens CTR: click = rating >= 4 from movielens-100k u.data, fields user, item, the user's
 * age bucket (decade), gender, occupation, zip prefix (3 chars), the item's release year and first
 * listed genre; written to a temporary CSV outside the repository and removed afterwards.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBundle } from '../src/bundle/load.js';
import { summarizeBundle } from '../src/bundle/summary.js';
import { type Dataset, ingest } from '../src/data/ingest.js';
import { synthesize } from '../src/data/synth.js';
import { TRAINING_METHODS } from '../src/mpe/methods.js';
import { trainModel } from '../src/train/trainer.js';
import { benchCommand, describeMachine, writeBenchmarksDoc, writeResult } from './report.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = resolve(ROOT, process.env.BENCH_ALLIN_DATA ?? '../shared/data');
const SYNTH_ROWS = Number(process.env.BENCH_ALLIN_SYNTH_ROWS ?? 300_000);
const SETS = (process.env.BENCH_ALLIN_SETS ?? 'criteo,movielens,synth').split(',');
const EPOCHS = Number(process.env.BENCH_ALLIN_EPOCHS ?? 8);
/** Result name: `all-in` for the default sets, `all-in-<sets>` for a subset, so a run of one set keeps the others' section. */
const VARIANTS = (process.env.BENCH_ALLIN_VARIANTS ?? 'fp32,oov,zero').split(',');
const RESULT =
  SETS.join(',') === 'criteo,movielens,synth' && VARIANTS.length === 3
    ? 'all-in'
    : `all-in-${SETS.join('-')}${SETS.includes('synth') && SYNTH_ROWS !== 300_000 ? `-${SYNTH_ROWS / 1000}k` : ''}${VARIANTS.join(',') === 'fp32,oov,zero' || VARIANTS.join(',') === 'fp32,oov' ? '' : `-${VARIANTS.join('-')}`}`;

/** v1 vocab.bin bytes for `keys` keys: 64-byte file header + 16-byte payload header + 12 bytes per slot, capacity = power of two >= max(16, 2 keys). */
function v1VocabBytes(keys: number): number {
  let cap = 16;
  while (cap < 2 * keys) cap *= 2;
  return 64 + 16 + 12 * cap;
}

interface Row {
  readonly set: string;
  readonly method: string;
  readonly testAuc: number;
  readonly features: number;
  readonly keysStored: number;
  readonly allKeys: number;
  readonly tableBytes: number;
  readonly vocabBytes: number;
  readonly weightsOnly: number | null;
  readonly allIn: number;
  readonly vocabBytesPerKey: number | null;
  readonly v1AllIn: number;
  readonly v1VocabBytesPerKey: number;
  readonly seconds: number;
  readonly load: number;
}

function movielensCsv(dir: string, out: string): void {
  const users = new Map<string, string[]>();
  for (const line of readFileSync(join(dir, 'u.user'), 'latin1').split('\n')) {
    const c = line.split('|');
    if (c.length >= 5) users.set(c[0]!, [`${Math.floor(Number(c[1]) / 10)}`, c[2]!, c[3]!, c[4]!.slice(0, 3)]);
  }
  const items = new Map<string, string[]>();
  for (const line of readFileSync(join(dir, 'u.item'), 'latin1').split('\n')) {
    const c = line.split('|');
    if (c.length < 24) continue;
    const year = /(\d{4})\s*$/.exec(c[2] ?? '')?.[1] ?? '';
    const g = c.slice(5, 24).indexOf('1');
    items.set(c[0]!, [year, String(g)]);
  }
  const lines = ['click,user,item,age,gender,occupation,zip3,year,genre'];
  for (const line of readFileSync(join(dir, 'u.data'), 'latin1').split('\n')) {
    const c = line.split('\t');
    if (c.length < 4) continue;
    const u = users.get(c[0]!) ?? ['', '', '', ''];
    const it = items.get(c[1]!) ?? ['', ''];
    lines.push([Number(c[2]) >= 4 ? 1 : 0, `u${c[0]}`, `i${c[1]}`, ...u, ...it].join(','));
  }
  writeFileSync(out, `${lines.join('\n')}\n`);
}

async function runSet(set: string, ds: Dataset, work: string, rows: Row[]): Promise<void> {
  const variants = (
    [
      ['fp32', 'fp32', 'fp32', {}],
      ['oov', 'MPE, pruned -> OOV (v2 default)', 'mpe', { pruned: 'oov' }],
      ['zero', 'MPE, pruned -> zero (paper; keys kept)', 'mpe', { pruned: 'zero' }],
    ] as Array<[string, string, string, Record<string, unknown>]>
  )
    .filter(([key]) => VARIANTS.includes(key))
    .map(([, name, method, extra]) => [name, method, extra] as const);
  for (const [name, method, extra] of variants) {
    const t0 = performance.now();
    const out = join(work, `${set}-${method}-${String(extra.pruned ?? 'none')}`);
    const r = await trainModel({ dataset: ds, out, method, methods: TRAINING_METHODS, methodOptions: extra, epochs: EPOCHS, onEvent: (e) => e.type === 'log' && console.log(`[${set} ${name}] ${e.message}`) });
    const seconds = (performance.now() - t0) / 1000;
    const b = await loadBundle(out, { verify: true });
    const s = await summarizeBundle(b);
    const tableBytes = s.bytes.tableHeader + s.bytes.tableData;
    const v1Vocab = v1VocabBytes(s.vocabulary.allKeys);
    const n = s.featureCount;
    rows.push({
      set,
      method: name,
      testAuc: r.metrics.test.auc,
      features: n,
      keysStored: s.vocabulary.keys,
      allKeys: s.vocabulary.allKeys,
      tableBytes,
      vocabBytes: s.bytes.vocab,
      weightsOnly: s.ratios.weightsOnly,
      allIn: s.ratios.allIn,
      vocabBytesPerKey: s.vocabulary.bytesPerKey,
      v1AllIn: (4 * s.d * n + v1Vocab) / (tableBytes + v1Vocab),
      v1VocabBytesPerKey: v1Vocab / Math.max(1, s.vocabulary.allKeys),
      seconds,
      load: loadavg()[0]!,
    });
    console.log(JSON.stringify(rows[rows.length - 1]));
    rmSync(out, { recursive: true, force: true });
  }
}

/** The markdown section for the rows measured so far (rewritten after every data set, so a long last set cannot lose the others). */
function report(rows: readonly Row[], notes: readonly string[], t0: number, done: boolean): void {
  const f = (x: number | null, k = 2): string => (x === null ? 'inf' : x.toFixed(k));
  const table = rows.map(
    (r) =>
      `| ${r.set} | ${r.method} | ${r.testAuc.toFixed(4)} | ${r.features} | ${r.keysStored} / ${r.allKeys} | ${f(r.weightsOnly, 1)}x | ${f(r.v1AllIn, 2)}x | **${f(r.allIn, 2)}x** | ${f(r.v1VocabBytesPerKey)} | ${f(r.vocabBytesPerKey)} | ${(r.tableBytes / 2 ** 20).toFixed(2)} | ${(r.vocabBytes / 2 ** 20).toFixed(2)} | ${r.seconds.toFixed(0)} | ${r.load.toFixed(1)} |`,
  );
  const markdown = [
    `Each data set trained three times from the same ingested split (seed 2022, 8:1:1, min-count 2, d = 16, 1024-512-256 + BatchNorm, MPE defaults: 128 groups, bits 0..6, lambda 3e-4, tau 3e-3; up to ${EPOCHS} epochs per phase, patience 3). Figures read back from each written bundle. "before (v1)" = the same table with the format-v1 vocabulary (every key of the training vocabulary in a 12-byte-slot hash table at load <= 0.5); "after (v2)" = the written bundle: compact index (about 5 bytes per key with one run), pruned keys left out when they resolve to OOV. fp32 baseline of the all-in ratio: 4*d*features + the same kind of vocabulary over every key.${done ? '' : ' PARTIAL: the run was still going when this was written.'}`,
    '',
    '| data set | method | test AUC | features | keys stored / all | weights-only | all-in before (v1) | all-in after (v2) | vocab B/key before | vocab B/key after (stored keys) | table.bin MiB | vocab.bin MiB | train s | load |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...table,
    '',
    ...notes,
    `- Load average at the time of writing: ${loadavg().map((x) => x.toFixed(1)).join(' / ')} on ${cpus().length} cores; ${((Date.now() - t0) / 60000).toFixed(1)} min since the start. The box is shared: train seconds are not comparable across rows.`,
  ].join('\n');
  writeResult({ name: RESULT, title: `All-in memory: vocabulary shrinks with the table (format v2)${RESULT === 'all-in' ? '' : `, ${SETS.map((x) => (x === 'synth' ? `synthetic ${SYNTH_ROWS / 1000}k` : x)).join(', ')}`}`, command: benchCommand('bench:all-in', ['BENCH_ALLIN_SYNTH_ROWS', 'BENCH_ALLIN_SETS', 'BENCH_ALLIN_EPOCHS', 'BENCH_ALLIN_VARIANTS', 'BENCH_ALLIN_DATA']), date: new Date().toISOString(), machine: describeMachine(), markdown, data: rows });
  console.log(markdown);
  console.log(`wrote ${writeBenchmarksDoc()}`);
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'mpe-bench-allin-'));
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    for (const set of SETS) {
      if (set === 'synth' && SYNTH_ROWS > 0) {
        const f = join(work, 'synth.txt');
        synthesize({ rows: SYNTH_ROWS, out: f, seed: 2022 });
        await runSet(`synthetic ${SYNTH_ROWS / 1000}k`, await ingest({ path: f, format: 'criteo', seed: 2022 }), work, rows);
      } else if (set === 'criteo') {
        const criteo = join(DATA, 'criteo-10k', 'train.txt');
        if (existsSync(criteo)) await runSet('criteo-10k', await ingest({ path: criteo, format: 'criteo', seed: 2022 }), work, rows);
        else notes.push(`- criteo-10k skipped: ${criteo} absent.`);
      } else if (set === 'movielens') {
        const ml = join(DATA, 'movielens-100k');
        if (existsSync(join(ml, 'u.data'))) {
          const csv = join(work, 'movielens.csv');
          movielensCsv(ml, csv);
          const csvOpts = { label: 'click', categorical: ['user', 'item', 'age', 'gender', 'occupation', 'zip3', 'year', 'genre'], numeric: [], sep: ',' };
          await runSet('movielens-100k CTR', await ingest({ path: csv, format: 'csv', csv: csvOpts, seed: 2022 }), work, rows);
        } else notes.push(`- movielens skipped: ${ml}/u.data absent.`);
      }
      report(rows, notes, t0, false);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  report(rows, notes, t0, true);
}

await main();
