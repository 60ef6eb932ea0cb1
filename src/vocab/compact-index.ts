/**
 * The compact static key index of bundle format v2 (payload magic "MPEVOCB3"): (field, token) ->
 * feature id in about 5 bytes per key (one run) or 7.1 + R/16 (R runs), with no stored id.
 *
 * Design. Every key's 64-bit hash (`hash.ts`) is split, under a build seed s, into a bucket
 * b = floor(x * B / 2^32) (B = number of buckets = max(1, number of keys)) and a 32-bit
 * fingerprint y, where
 *   x = fmix32(hi XOR lo XOR s),  y = lo XOR fmix32(x XOR 0x9e3779b9)   (all mod 2^32)
 * ((x, y) is a bijection of (hi, lo) for each s: x gives hi XOR lo, then y gives lo; two
 * distinct keys never share both). x mixes hi XOR lo once, as the v1 table's slot does (the
 * pre-release layout mixed lo first, one fmix32 more per lookup); y must mix x in: FNV-1a's low
 * word alone is a multiply by 0x1b3 mod 2^32 per byte, too weak a fingerprint. The index stores the
 * fingerprints sorted by (bucket, fingerprint) plus a directory of bucket starts (one u32 per 64
 * buckets + one u8 offset per bucket). The feature id is implied by the position: the rows of
 * the embedding table are ordered the same way. Rows may be reordered freely inside a RUN (the
 * groups with one bit width: bits are per group, so a row keeps its value wherever it sits in the
 * run), so the id of the key at position p is
 *   runFirst[r] + (number of keys of run r before p)
 * where r is the key's run. With R > 1 runs each key has a u16 code: its run, and its rank among
 * its run's keys in its 64-bucket block; each block has a u32 count per run of the run's keys in
 * earlier blocks. So the rank is one addition, no scan. With one run (fp32, uniform, row-wise
 * tables) neither is stored and the id is runFirst[0] + p.
 *
 * False hits: an unknown key is compared with the keys of its bucket only; it hits one when the
 * 32-bit fingerprints agree, so for a key whose hash behaves as random the false-hit rate per
 * lookup is (keys / buckets) * 2^-32 = 2^-32 (B = number of keys). Two kept keys with the same
 * (bucket, fingerprint) are impossible by construction (the build retries with the next seed;
 * the same 64-bit hash twice is MPE_ERR_VOCAB_DUPLICATE).
 *
 * Bytes: 4 per key (fingerprint) + 1 per bucket (offset) + 4 per block of 64 (base), and with
 * R > 1 runs 2 per key (code) + 4 R per block: 5.06 bytes per key with one run, 7.44 with six.
 * Byte layout in docs/format.md ("Compact index payload").
 *
 * The pre-release layout "MPEVOCB2" (run code u8 per key, ranks per quarter block, a rank scan)
 * was 0.6 B/key smaller with six runs but slower: see makeFind. It is refused by magic
 * (vocab/decode.ts: MPE_ERR_BUNDLE_VERSION).
 */
import { MpeError } from '../errors.js';
import { mix32 } from '../util/hash.js';
import { lookupBatchWith } from './lookup-batch.js';
import { hashHi, hashInto, hashLo } from './hash.js';

/** "MPEVOCB3" */
export const COMPACT_MAGIC = Uint8Array.of(0x4d, 0x50, 0x45, 0x56, 0x4f, 0x43, 0x42, 0x33);
const HEADER_BYTES = 32;
/** Buckets per directory block (one u32 start, one u32 rank per run, 64 u8 end offsets, per block). */
const BLOCK = 64;
const BLOCK_SHIFT = 6;
/** At most 256 runs: a key's run is the low byte of its code. */
export const MAX_RUNS = 256;
const FP_SALT = 0x9e3779b9;
/** The end-offset section starts at a multiple of 64 bytes of the payload (one cache line per block when the payload is line-aligned). */
const ENDS_ALIGN = 64;
const IS_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** floor(x * B / 2^32) for x < 2^32, B < 2^31, exactly (every intermediate < 2^53). */
function bucketOf(x: number, buckets: number): number {
  return Math.floor(((x >>> 16) * buckets + Math.floor(((x & 0xffff) * buckets) / 65536)) / 65536);
}

/** Byte offsets of a payload's sections. */
interface Layout {
  readonly blocks: number;
  /** Rank words per block (0 with one run). */
  readonly rankWords: number;
  readonly runSeg: number;
  readonly runKeys: number;
  readonly segFirstId: number;
  readonly segFirstRank: number;
  readonly bases: number;
  readonly ranks: number;
  readonly ends: number;
  readonly fingerprints: number;
  readonly codes: number;
  readonly total: number;
}

function layoutOf(keys: number, buckets: number, runs: number, segments: number): Layout {
  const blocks = Math.ceil(buckets / BLOCK);
  const rankWords = runs > 1 ? runs : 0;
  const runSeg = HEADER_BYTES;
  const runKeys = runSeg + 4 * (runs + 1);
  const segFirstId = runKeys + 4 * runs;
  const segFirstRank = segFirstId + 4 * segments;
  const bases = segFirstRank + 4 * segments;
  const ranks = bases + 4 * blocks;
  const ends = Math.ceil((ranks + 4 * rankWords * blocks) / ENDS_ALIGN) * ENDS_ALIGN;
  const fingerprints = ends + BLOCK * blocks;
  const codes = fingerprints + 4 * keys;
  const end = codes + (runs > 1 ? 2 * keys : 0);
  return { blocks, rankWords, runSeg, runKeys, segFirstId, segFirstRank, bases, ranks, ends, fingerprints, codes, total: (end + 3) & ~3 };
}

/** Bytes of a compact index payload with `keys` keys in `runs` runs (what {@link CompactVocabulary.byteLength} will be). */
export function compactIndexBytes(keys: number, runs = 1, segments = runs): number {
  return layoutOf(keys, Math.max(1, keys), Math.max(1, runs), Math.max(1, segments)).total;
}

/**
 * The lookup for one index (closure over its arrays; the one-run form reads no code at all).
 *
 * Memory order of a known-key lookup: the block's base (`bases`, 4 bytes per 64 keys: 62 KiB at
 * 1M keys, so it stays in L2), then the bucket's end offsets (one line of `ends`) and its
 * fingerprints. Read in that order the two cache misses are serial, so the fingerprint (and,
 * with R > 1 runs, the code and the block's first rank word) is read BEFORE the offsets are
 * known, at the guess `base + j` (block base + bucket index in the block): about j keys precede
 * the bucket in its block (+- sqrt(j) <= 8), so the guess lies in the bucket's cache line or the
 * next one, and its miss overlaps the offsets'. When the guessed fingerprint is the key's, the
 * bucket scan is skipped. The id of a multi-run key is then one addition: the block's rank word
 * for its run + the in-block rank in its code (+ the run's first id; {@link
 * CompactVocabulary.idOfRank} when a run has several segments).
 *
 * Measured (npm run bench:lookup -- --resolve-only, whole lookups with the token hash, each index
 * in a loop of its own): with the pre-release layout (u8 run code, ranks per 16-bucket quarter, a
 * branch-free count of the run's codes from the quarter start) six runs were 0.78x-0.81x of the
 * v1 table on power-law traffic (mostly cached: instruction-bound) and 0.87x-1.12x on uniform
 * 10M (by load); this layout's figures are in docs/benchmarks.md. In a /tmp microbenchmark of
 * finds alone (1M keys, six runs, load ~1.5): quarter ranks + scan 108 ns, this layout 76 ns,
 * one run 58 ns; the u16 code interleaved with the fingerprint (one line for both) gave no more.
 */
function makeFind(buckets: number, seed: number, toId: (r: number, rank: number) => number, oneSegment: boolean, segFirstId: Uint32Array, bases: Uint32Array, ranks: Uint32Array, ends: Uint8Array, runs: number, fp: Uint32Array, codes: Uint16Array): (hi: number, lo: number) => number {
  const last = fp.length - 1;
  const first0 = segFirstId[0] ?? 0;
  if (runs === 1) {
    return (hi, lo) => {
      const x = mix32((hi ^ lo ^ seed) >>> 0);
      const y = (lo ^ mix32((x ^ FP_SALT) >>> 0)) >>> 0;
      const b = bucketOf(x, buckets);
      const blk = b >>> BLOCK_SHIFT;
      const j = b & (BLOCK - 1);
      const base = bases[blk]!;
      const gp = Math.min(base + j, last);
      const g = fp[gp]!; // the guess: issued before the offsets below arrive (see above)
      const o = BLOCK * blk + j;
      const start = j === 0 ? base : base + ends[o - 1]!;
      const end = base + ends[o]!;
      if (g === y && gp >= start && gp < end) return oneSegment ? first0 + gp : toId(0, gp);
      for (let p = start; p < end; p++) {
        const f = fp[p]!;
        if (f === y) return oneSegment ? first0 + p : toId(0, p);
        if (f > y) return -1; // sorted by fingerprint inside a bucket
      }
      return -1;
    };
  }
  return (hi, lo) => {
    const x = mix32((hi ^ lo ^ seed) >>> 0);
    const y = (lo ^ mix32((x ^ FP_SALT) >>> 0)) >>> 0;
    const b = bucketOf(x, buckets);
    const blk = b >>> BLOCK_SHIFT;
    const j = b & (BLOCK - 1);
    const base = bases[blk]!;
    const gp = Math.min(base + j, last);
    // Issued before the offsets arrive: the guessed fingerprint and code, and the block's ranks.
    const g = fp[gp]!;
    const gc = codes[gp]!;
    const rw = blk * runs;
    const rank0 = ranks[rw]!;
    const o = BLOCK * blk + j;
    const start = j === 0 ? base : base + ends[o - 1]!;
    const end = base + ends[o]!;
    let c = gc;
    if (!(g === y && gp >= start && gp < end)) {
      c = -1;
      for (let p = start; p < end; p++) {
        const f = fp[p]!;
        if (f === y) {
          c = codes[p]!;
          break;
        }
        if (f > y) return -1; // sorted by fingerprint inside a bucket
      }
      if (c < 0) return -1;
    }
    const r = c & 0xff;
    const rank = (r === 0 ? rank0 : ranks[rw + r]!) + (c >>> 8);
    return oneSegment ? segFirstId[r]! + rank : toId(r, rank);
  };
}

/**
 * Read-only compact index. Build with {@link buildCompactIndex} (or {@link CompactVocabularyBuilder});
 * read with {@link CompactVocabulary.fromBytes}, which views the bytes in place (a payload in a
 * SharedArrayBuffer stays shared with worker threads).
 */
export class CompactVocabulary {
  /** Number of keys. */
  readonly size: number;
  readonly buckets: number;
  readonly runCount: number;
  readonly seed: number;
  /** Bytes of the serialised form (= memory held: every section is viewed in place). */
  readonly byteLength: number;
  private readonly bytes: Uint8Array;
  readonly segmentCount: number;
  private readonly runSeg: Uint32Array;
  private readonly runKeys: Uint32Array;
  private readonly segFirstId: Uint32Array;
  private readonly segFirstRank: Uint32Array;
  /** Positions per segment of each run's first segment (the guess of rank -> segment). */
  private readonly segLen0: Float64Array;
  /** Keys before each 64-bucket block: a dense array of its own, so that it stays in cache (see makeFind). */
  private readonly bases: Uint32Array;
  /** R > 1: keys of run r in all earlier blocks, at [block * R + r]. */
  private readonly ranks: Uint32Array;
  /** Per block 64 u8: keys of buckets 64k .. 64k + j of block k (one line per block). */
  private readonly ends: Uint8Array;
  private readonly fp: Uint32Array;
  /** R > 1: run | (rank among the run's keys in the block) << 8, per key. */
  private readonly codes: Uint16Array;
  /**
   * Id of the key with 64-bit hash (hi, lo), or -1: a closure over the typed arrays, made once
   * per index ({@link makeFind}). Measured in one run on this box (1M keys, one run, load ~13):
   * the same code as a method reading `this.*` ran at 3.04 M finds per CPU-s, as a closure at 4.77.
   */
  readonly find: (hi: number, lo: number) => number;

  private constructor(bytes: Uint8Array, keys: number, buckets: number, runs: number, seed: number, L: Layout) {
    const buf = bytes.buffer;
    const o = bytes.byteOffset;
    this.bytes = bytes;
    this.size = keys;
    this.buckets = buckets;
    this.runCount = runs;
    this.seed = seed;
    this.byteLength = bytes.byteLength;
    this.runSeg = new Uint32Array(buf, o + L.runSeg, runs + 1);
    this.runKeys = new Uint32Array(buf, o + L.runKeys, runs);
    const S = (L.bases - L.segFirstId) / 8;
    this.segmentCount = S;
    this.segFirstId = new Uint32Array(buf, o + L.segFirstId, S);
    this.segFirstRank = new Uint32Array(buf, o + L.segFirstRank, S);
    this.segLen0 = new Float64Array(runs);
    this.bases = new Uint32Array(buf, o + L.bases, L.blocks);
    this.ranks = new Uint32Array(buf, o + L.ranks, L.rankWords * L.blocks);
    this.ends = new Uint8Array(buf, o + L.ends, BLOCK * L.blocks);
    this.fp = new Uint32Array(buf, o + L.fingerprints, keys);
    this.codes = new Uint16Array(buf, o + L.codes, runs > 1 ? keys : 0);
    const toId = (r: number, rank: number): number => this.idOfRank(r, rank);
    this.find = keys === 0 ? () => -1 : makeFind(buckets, seed, toId, S === runs, this.segFirstId, this.bases, this.ranks, this.ends, runs, this.fp, this.codes);
  }

  /**
   * Id of rank `rank` of run r: its segment's first id + the offset in the segment. Segments of a
   * run are usually equal (whole groups), so rank / (first segment's length) finds it; the loops
   * correct for one odd-sized segment.
   */
  private idOfRank(r: number, rank: number): number {
    const k0 = this.runSeg[r]!;
    const k1 = this.runSeg[r + 1]!;
    const fr = this.segFirstRank;
    let k = k0 + Math.min(Math.floor(rank / this.segLen0[r]!), k1 - k0 - 1);
    while (k > k0 && fr[k]! > rank) k--;
    while (k + 1 < k1 && fr[k + 1]! <= rank) k++;
    return this.segFirstId[k]! + rank - fr[k]!;
  }

  /** Id of (field, token), or -1 if absent (the caller maps -1 to the field's OOV id). */
  lookup(field: number, token: string): number {
    hashInto(field, token);
    return this.find(hashHi(), hashLo());
  }

  /**
   * Looks up `tokens[i]` of field `fieldIdx[i]` for i < tokens.length: `outIds[i]` = id or -1,
   * `outFound[i]` = 1 or 0. Throws MPE_ERR_VOCAB_FIELD on a bad field index, MPE_ERR_CODEC_BUFFER
   * if an array is too short.
   */
  lookupBatch(fieldIdx: Int32Array | readonly number[], tokens: readonly string[], outIds: Int32Array, outFound: Uint8Array): void {
    lookupBatchWith(this.find, fieldIdx, tokens, outIds, outFound);
  }

  /** The largest id any key resolves to, plus one (0 without keys): the loader checks it against featureCount. */
  idEnd(): number {
    let end = 0;
    for (let r = 0; r < this.runCount; r++) {
      const last = this.runSeg[r + 1]! - 1;
      if (this.runKeys[r]! > 0) end = Math.max(end, this.segFirstId[last]! + this.runKeys[r]! - this.segFirstRank[last]!);
    }
    return end;
  }

  /** The serialised form (a fresh copy). */
  toBytes(): Uint8Array {
    return this.bytes.slice();
  }

  /**
   * Reads a payload, viewing it in place when it is 4-byte aligned on a little-endian host.
   * Throws MPE_ERR_BUNDLE_MAGIC (wrong magic), MPE_ERR_BUNDLE_TRUNCATED (shorter than its header
   * says), MPE_ERR_BUNDLE_MISMATCH (longer; inconsistent header, directory, runs, codes, ranks,
   * or fingerprints not strictly increasing inside a bucket). Every structural fact the lookup
   * relies on is checked here, in one pass over the keys.
   */
  static fromBytes(input: Uint8Array): CompactVocabulary {
    for (let i = 0; i < Math.min(8, input.length); i++) {
      if (input[i] !== COMPACT_MAGIC[i]) throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'vocabulary does not start with MPEVOCB3');
    }
    if (input.length < HEADER_BYTES) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `compact index has ${input.length} bytes, header needs ${HEADER_BYTES}`);
    const bad = (what: string): never => {
      throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `compact index: ${what}`);
    };
    if (!IS_LE) bad('this build reads it on little-endian hosts only');
    const hv = new DataView(input.buffer, input.byteOffset, input.byteLength);
    const keys = hv.getUint32(8, true);
    const buckets = hv.getUint32(12, true);
    const seed = hv.getUint32(16, true);
    const runs = hv.getUint32(20, true);
    const segments = hv.getUint32(24, true);
    if (hv.getUint32(28, true) !== 0) bad('reserved header word is not zero');
    if (segments < runs || segments > 2 ** 24) bad(`${segments} segments for ${runs} runs`);
    if (keys > 2 ** 31 - 1) bad(`${keys} keys`);
    if (buckets !== Math.max(1, keys)) bad(`${buckets} buckets for ${keys} keys`);
    if (runs < 1 || runs > MAX_RUNS) bad(`${runs} runs`);
    const L = layoutOf(keys, buckets, runs, segments);
    if (input.length < L.total) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `compact index has ${input.length} bytes, its header says ${L.total}`);
    if (input.length > L.total) bad(`${input.length} bytes, its header says ${L.total}`);
    const bytes = input.byteOffset % 4 === 0 ? input : input.slice();
    for (let i = L.ranks + 4 * L.rankWords * L.blocks; i < L.ends; i++) if (bytes[i] !== 0) bad('padding is not zero');
    for (let i = L.codes + (runs > 1 ? 2 * keys : 0); i < L.total; i++) if (bytes[i] !== 0) bad('padding is not zero');
    const v = new CompactVocabulary(bytes, keys, buckets, runs, seed, L);
    v.validate();
    return v;
  }

  /** The structural checks of {@link fromBytes}. */
  private validate(): void {
    const bad = (what: string): never => {
      throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `compact index: ${what}`);
    };
    const { size: keys, buckets, runCount: runs, runSeg, runKeys, segFirstId, segFirstRank, bases, ranks, ends, fp, codes } = this;
    const blocks = bases.length;
    // Runs: each owns segments runSeg[r] .. runSeg[r + 1] - 1 (at least one), ranks from 0 strictly
    // increasing, every segment holding at least one key; segments' id ranges disjoint.
    if (runSeg[0] !== 0 || runSeg[runs] !== this.segmentCount) bad('run segment table does not cover the segments');
    let sum = 0;
    const ranges: Array<[number, number]> = [];
    for (let r = 0; r < runs; r++) {
      const k0 = runSeg[r]!;
      const k1 = runSeg[r + 1]!;
      if (k1 <= k0) bad(`run ${r} has no segment`);
      if (segFirstRank[k0] !== 0) bad(`run ${r} does not start at rank 0`);
      for (let k = k0; k < k1; k++) {
        const len = (k + 1 < k1 ? segFirstRank[k + 1]! : runKeys[r]!) - segFirstRank[k]!;
        if (len <= 0 && !(runKeys[r] === 0 && k === k0)) bad(`segment ${k} of run ${r} is empty`);
        if (segFirstId[k]! + len > 2 ** 31) bad(`segment ${k} ends past 2^31`);
        ranges.push([segFirstId[k]!, Math.max(0, len)]);
      }
      this.segLen0[r] = k1 - k0 > 1 ? segFirstRank[k0 + 1]! : Math.max(1, runKeys[r]!);
      sum += runKeys[r]!;
    }
    if (sum !== keys) bad(`runs hold ${sum} keys, header says ${keys}`);
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) if (ranges[i]![0] < ranges[i - 1]![0] + ranges[i - 1]![1]) bad(`segments overlap at id ${ranges[i]![0]}`);
    // Directory: each block's base = keys before it; end offsets non-decreasing; buckets past the
    // last hold nothing; the last bucket ends at the key count. Codes: run < R, in-block rank =
    // the run's keys before it in the block; block ranks = counts; fingerprints strictly
    // increasing inside each bucket.
    const count = new Uint32Array(runs);
    const inBlock = new Uint32Array(runs);
    let pos = 0;
    for (let block = 0; block < blocks; block++) {
      if (bases[block] !== pos) bad(`block ${block} starts at ${bases[block]}, ${pos} keys precede it`);
      if (runs > 1) for (let r = 0; r < runs; r++) if (ranks[block * runs + r] !== count[r]) bad(`block ${block} rank of run ${r}`);
      inBlock.fill(0);
      let prev = 0;
      for (let j = 0; j < BLOCK; j++) {
        const e = ends[BLOCK * block + j]!;
        if (e < prev) bad(`block ${block} bucket ${j} ends before it starts`);
        if (block * BLOCK + j >= buckets && e !== prev) bad(`block ${block} bucket ${j} past the last bucket holds keys`);
        for (let p = pos + prev; p < pos + e; p++) {
          if (p >= keys) bad(`block ${block} runs past ${keys} keys`);
          if (p > pos + prev && fp[p]! <= fp[p - 1]!) bad(`fingerprints of bucket ${block * BLOCK + j} are not increasing`);
          if (runs > 1) {
            const c = codes[p]!;
            const r = c & 0xff;
            if (r >= runs) bad(`key ${p} has run ${r} of ${runs}`);
            if (c >>> 8 !== inBlock[r]) bad(`key ${p}: in-block rank ${c >>> 8}, ${inBlock[r]} keys of run ${r} precede it in the block`);
            inBlock[r]!++;
            count[r]!++;
          }
        }
        prev = e;
      }
      pos += prev;
    }
    if (pos !== keys) bad(`buckets hold ${pos} keys, header says ${keys}`);
    if (runs > 1) for (let r = 0; r < runs; r++) if (count[r] !== runKeys[r]) bad(`run ${r}: ${count[r]} keys coded, header says ${runKeys[r]}`);
  }
}

/** What {@link buildCompactIndex} returns. */
export interface CompactBuild {
  readonly index: CompactVocabulary;
  /** The id each input key resolves to: the position of its rank among its run's keys in the run's segments. */
  readonly idOfKey: Int32Array;
}

/** A run's id space: segments [first id, length] in order; a number is one segment of unbounded length starting there. */
export type RunSpace = number | ReadonlyArray<readonly [first: number, length: number]>;

/**
 * Builds the index over `n` keys given as 64-bit hashes (hi, lo) with their run (0..runs-1);
 * `space[r]` is run r's id space: its keys get the ids of its segments in order, in index order
 * (a run is a set of rows that may be reordered freely, e.g. all groups of one bit width).
 * Throws MPE_ERR_VOCAB_DUPLICATE when two keys have the same 64-bit hash, MPE_ERR_VOCAB_FULL above
 * 2^31 - 1 keys, {@link MAX_RUNS} runs, or more keys in a run than its segments hold.
 */
export function buildCompactIndex(hi: Uint32Array, lo: Uint32Array, run: Uint8Array | Int32Array, n: number, space: ReadonlyArray<RunSpace> = [0]): CompactBuild {
  const runs = Math.max(1, space.length);
  if (n > 2 ** 31 - 1) throw new MpeError('MPE_ERR_VOCAB_FULL', `${n} keys`);
  if (runs > MAX_RUNS) throw new MpeError('MPE_ERR_VOCAB_FULL', `${runs} runs, at most ${MAX_RUNS}`);
  const runKeys = new Uint32Array(runs);
  for (let i = 0; i < n; i++) {
    const r = run[i]!;
    if (!(r >= 0 && r < runs)) throw new MpeError('MPE_ERR_VOCAB_FIELD', `key ${i} has run ${r} of ${runs}`);
    runKeys[r]!++;
  }
  // Segments actually used: as many of each run's segments as its keys fill (at least one).
  const runSeg = [0];
  const segFirstId: number[] = [];
  const segFirstRank: number[] = [];
  for (let r = 0; r < runs; r++) {
    const sp = space[r] ?? 0;
    const segs: ReadonlyArray<readonly [number, number]> = typeof sp === 'number' ? [[sp, Math.max(1, runKeys[r]!)]] : sp;
    let rank = 0;
    for (let k = 0; k < segs.length && (rank < runKeys[r]! || k === 0); k++) {
      segFirstId.push(segs[k]![0]);
      segFirstRank.push(rank);
      rank += segs[k]![1];
    }
    if (rank < runKeys[r]!) throw new MpeError('MPE_ERR_VOCAB_FULL', `run ${r} has ${runKeys[r]} keys, its segments hold ${rank}`);
    runSeg.push(segFirstId.length);
  }
  const S = segFirstId.length;
  const buckets = Math.max(1, n);
  const bucketOfKey = new Uint32Array(n);
  const y = new Uint32Array(n);
  const order = new Int32Array(n);
  const start = new Uint32Array(buckets + 1);
  for (let seed = 0; ; seed++) {
    if (seed > 64) throw new MpeError('MPE_ERR_VOCAB_FULL', 'no seed separates the keys (64 tried)');
    start.fill(0);
    for (let i = 0; i < n; i++) {
      const x = mix32((hi[i]! ^ lo[i]! ^ seed) >>> 0);
      y[i] = (lo[i]! ^ mix32((x ^ FP_SALT) >>> 0)) >>> 0;
      const b = bucketOf(x, buckets);
      bucketOfKey[i] = b;
      start[b + 1]!++;
    }
    for (let b = 0; b < buckets; b++) start[b + 1]! += start[b]!;
    // Counting sort by bucket, then insertion sort by fingerprint inside each (tiny) bucket.
    const fill = start.slice(0, buckets);
    for (let i = 0; i < n; i++) order[fill[bucketOfKey[i]!]!++] = i;
    let ok = true;
    for (let b = 0; b < buckets && ok; b++) {
      const s = start[b]!;
      const e = start[b + 1]!;
      for (let p = s + 1; p < e; p++) {
        const k = order[p]!;
        const yk = y[k]!;
        let q = p - 1;
        while (q >= s && y[order[q]!]! > yk) {
          order[q + 1] = order[q]!;
          q--;
        }
        order[q + 1] = k;
      }
      for (let p = s + 1; p < e; p++) {
        const a = order[p - 1]!;
        const c = order[p]!;
        if (y[a] === y[c]) {
          if (hi[a] === hi[c] && lo[a] === lo[c]) throw new MpeError('MPE_ERR_VOCAB_DUPLICATE', `keys #${a} and #${c} have the same 64-bit hash`);
          ok = false; // same (bucket, fingerprint) from different hashes: try the next seed
          break;
        }
      }
      if (e - start[b - (b & (BLOCK - 1))]! > 255) ok = false; // u8 end offset inside the block
    }
    if (!ok) continue;

    const L = layoutOf(n, buckets, runs, S);
    const bytes = new Uint8Array(L.total);
    bytes.set(COMPACT_MAGIC, 0);
    const v = new DataView(bytes.buffer);
    v.setUint32(8, n, true);
    v.setUint32(12, buckets, true);
    v.setUint32(16, seed, true);
    v.setUint32(20, runs, true);
    v.setUint32(24, S, true);
    new Uint32Array(bytes.buffer, L.runSeg, runs + 1).set(runSeg);
    new Uint32Array(bytes.buffer, L.runKeys, runs).set(runKeys);
    new Uint32Array(bytes.buffer, L.segFirstId, S).set(segFirstId);
    new Uint32Array(bytes.buffer, L.segFirstRank, S).set(segFirstRank);
    const bases = new Uint32Array(bytes.buffer, L.bases, L.blocks);
    const ranks = new Uint32Array(bytes.buffer, L.ranks, L.rankWords * L.blocks);
    const ends = new Uint8Array(bytes.buffer, L.ends, BLOCK * L.blocks);
    const fp = new Uint32Array(bytes.buffer, L.fingerprints, n);
    const codes = new Uint16Array(bytes.buffer, L.codes, runs > 1 ? n : 0);
    const idOfKey = new Int32Array(n);
    const count = new Uint32Array(runs);
    const inBlock = new Uint32Array(runs);
    const segAt = Int32Array.from(runSeg.slice(0, runs));
    let p = 0;
    for (let k = 0; k < L.blocks; k++) {
      const base = start[k * BLOCK]!;
      bases[k] = base;
      if (runs > 1) ranks.set(count, k * runs);
      inBlock.fill(0);
      for (let j = 0; j < BLOCK; j++) ends[BLOCK * k + j] = start[Math.min(k * BLOCK + j + 1, buckets)]! - base;
      for (const end = start[Math.min((k + 1) * BLOCK, buckets)]!; p < end; p++) {
        const key = order[p]!;
        fp[p] = y[key]!;
        const r = run[key]!;
        if (runs > 1) codes[p] = r | (inBlock[r]!++ << 8);
        let g = segAt[r]!;
        while (g + 1 < runSeg[r + 1]! && segFirstRank[g + 1]! <= count[r]!) g++;
        segAt[r] = g;
        idOfKey[key] = segFirstId[g]! + count[r]! - segFirstRank[g]!;
        count[r]!++;
      }
    }
    return { index: CompactVocabulary.fromBytes(bytes), idOfKey };
  }
}

/** Collects (field, token, run) triples as hashes and builds a {@link CompactVocabulary}. */
export class CompactVocabularyBuilder {
  private hi = new Uint32Array(1024);
  private lo = new Uint32Array(1024);
  private run = new Int32Array(1024);
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** Adds a key of run `run` (0 when the table has one run). */
  add(field: number, token: string, run = 0): this {
    if (!Number.isInteger(field) || field < 0 || field > 0xffffffff) throw new MpeError('MPE_ERR_VOCAB_FIELD', `field index ${field}`);
    if (this.n === this.hi.length) {
      const hi = new Uint32Array(this.n * 2);
      hi.set(this.hi);
      this.hi = hi;
      const lo = new Uint32Array(this.n * 2);
      lo.set(this.lo);
      this.lo = lo;
      const r = new Int32Array(this.n * 2);
      r.set(this.run);
      this.run = r;
    }
    hashInto(field, token);
    this.hi[this.n] = hashHi();
    this.lo[this.n] = hashLo();
    this.run[this.n] = run;
    this.n++;
    return this;
  }

  /** Builds the index; `idOfKey[i]` is the id of the i-th added key. */
  build(space: ReadonlyArray<RunSpace> = [0]): CompactBuild {
    return buildCompactIndex(this.hi, this.lo, this.run, this.n, space);
  }
}
