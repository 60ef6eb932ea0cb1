/**
 * The compact static key index of bundle format v2 (payload magic "MPEVOCB2"): (field, token) ->
 * feature id in about 5 bytes per key, with no stored id.
 *
 * Design. Every key's 64-bit hash (`hash.ts`) is split, under a build seed s, into a bucket
 * b = floor(x * B / 2^32) (B = number of buckets = max(1, number of keys)) and a 32-bit
 * fingerprint y, where
 *   x = fmix32(hi XOR fmix32(lo XOR s)),  y = lo XOR fmix32(x XOR 0x9e3779b9)   (all mod 2^32)
 * ((x, y) is a bijection of (hi, lo): two distinct keys never share both). The index stores the
 * fingerprints sorted by (bucket, fingerprint) plus a directory of bucket starts (one u32 per 64
 * buckets + one u8 offset per bucket). The feature id is implied by the position: the rows of
 * the embedding table are ordered the same way. Rows may be reordered freely inside a RUN (a
 * maximal range of consecutive groups with the same bit width: bits are per group, so a row
 * keeps its value wherever it sits in the run), so the id of the key at position p is
 *   runFirst[r] + (number of keys of run r before p)
 * where r is the key's run: one u8 code per key, and per block of 64 buckets one u32 count per run
 * (the count of each run's keys before the block). With one run (fp32, uniform, row-wise tables)
 * neither is stored and the id is runFirst[0] + p.
 *
 * False hits: an unknown key is compared with the keys of its bucket only; it hits one when the
 * 32-bit fingerprints agree, so for a key whose hash behaves as random the false-hit rate per
 * lookup is (keys / buckets) * 2^-32 = 2^-32 (B = number of keys). Two kept keys with the same
 * (bucket, fingerprint) are impossible by construction (the build retries with the next seed;
 * the same 64-bit hash twice is MPE_ERR_VOCAB_DUPLICATE).
 *
 * Bytes: 32 header + 8 per run + 4 * (blocks + 1) + 4 per key (fingerprint) + (B + 1) directory
 * bytes, and with R > 1 runs 1 code byte per key + 4 * R * blocks. One run: about 5.06 bytes per
 * key; eight runs about 6.6. Byte layout in docs/format.md ("Compact index payload").
 */
import { MpeError } from '../errors.js';
import { mix32 } from '../util/hash.js';
import { lookupBatchWith } from './lookup-batch.js';
import { hashHi, hashInto, hashLo } from './hash.js';

/** "MPEVOCB2" */
export const COMPACT_MAGIC = Uint8Array.of(0x4d, 0x50, 0x45, 0x56, 0x4f, 0x43, 0x42, 0x32);
const HEADER_BYTES = 32;
/** Buckets per directory block (one u32 start, and one u32 rank per run, per block). */
const BLOCK = 64;
const BLOCK_SHIFT = 6;
/** At most 256 runs: a key's run is one byte. */
export const MAX_RUNS = 256;
const FP_SALT = 0x9e3779b9;
const IS_LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** floor(x * B / 2^32) for x < 2^32, B < 2^31, exactly (every intermediate < 2^53). */
function bucketOf(x: number, buckets: number): number {
  return Math.floor(((x >>> 16) * buckets + Math.floor(((x & 0xffff) * buckets) / 65536)) / 65536);
}

/** Byte offsets of a payload's sections. */
interface Layout {
  readonly blocks: number;
  /** Rank words per directory record (0 with one run). */
  readonly rankWords: number;
  /** Directory record size in u32 words: base, ranks (u32 per run), quarter ranks (4 u8 per run), 64 end offsets (16 words). */
  readonly strideWords: number;
  readonly runSeg: number;
  readonly runKeys: number;
  readonly segFirstId: number;
  readonly segFirstRank: number;
  readonly directory: number;
  readonly fingerprints: number;
  readonly codes: number;
  readonly total: number;
}

function layoutOf(keys: number, buckets: number, runs: number, segments: number): Layout {
  const blocks = Math.ceil(buckets / BLOCK);
  const rankWords = runs > 1 ? runs : 0;
  const strideWords = 1 + 2 * rankWords + BLOCK / 4;
  const runSeg = HEADER_BYTES;
  const runKeys = runSeg + 4 * (runs + 1);
  const segFirstId = runKeys + 4 * runs;
  const segFirstRank = segFirstId + 4 * segments;
  const directory = segFirstRank + 4 * segments;
  const fingerprints = directory + 4 * strideWords * blocks;
  const codes = fingerprints + 4 * keys;
  const end = codes + (runs > 1 ? keys : 0);
  return { blocks, rankWords, strideWords, runSeg, runKeys, segFirstId, segFirstRank, directory, fingerprints, codes, total: (end + 3) & ~3 };
}

/** Bytes of a compact index payload with `keys` keys in `runs` runs (what {@link CompactVocabulary.byteLength} will be). */
export function compactIndexBytes(keys: number, runs = 1, segments = runs): number {
  return layoutOf(keys, Math.max(1, keys), Math.max(1, runs), Math.max(1, segments)).total;
}

/**
 * The lookup for one index (closure over its arrays; the one-run form has no rank code at all).
 *
 * Memory order of a known-key lookup: the bucket's end offsets (in its block's directory record),
 * then its fingerprints. Read in that order the two cache misses are serial, and that made the
 * v2 index slower than the v1 table, whose three arrays are read at one slot, in parallel (1M
 * keys: 0.87x one run, 0.76x six runs; bench/resolve.ts, load 27-30). So the fingerprints are
 * read BEFORE the offsets are known, at the guess `base + j` (block base + bucket index in the
 * block): about j keys precede the bucket in its block (+- sqrt(j) <= 8), so the guess lies in
 * the bucket's cache line or the next one, and its miss overlaps the directory's. The block bases
 * come from `bases`, a dense copy made at load (4 bytes per 64 keys: 62 KiB at 1M keys, so it
 * stays in L2, where the 68-byte directory records, one line per lookup, do not). With R > 1 runs
 * the key's code and its record's rank words are read the same way, up front. The guessed
 * fingerprint is also a fast path: when it is the key's, the bucket scan is skipped.
 * Rank of a multi-run key: the block's rank for its run + the quarter block's (16 buckets) + the
 * run's codes from the quarter start to the key, counted 4 at a time (SWAR zero-byte count of
 * codes XOR r), the first and last words masked, so there is no branch per code; the id is the
 * run's first id + rank (one segment per run), else {@link CompactVocabulary.idOfRank}.
 * Measured on this box as finds of precomputed hashes (the token hash, then ~320 ns, now ~60 ns, left out), 1M
 * keys, 8-hex tokens, each variant built in one process and timed interleaved, median of 11,
 * ns per known-key find, load 7-9: v1 table 246; before this design one run 299, six runs 440;
 * with the guesses one run 216, six runs 288. At 20k keys (all in cache) the per-code loop cost
 * 93 ns in six runs, the masked words 75, the one-segment shortcut 73 (one run 49, v1 48).
 * Tried and dropped: a fixed 5-word scan without branches (95 ns at 20k), reading both
 * neighbour lines of the guess (no gain), reading the rank words only after the match (306 vs
 * 288 ns at 1M). Whole-lookup figures (hash included): bench/resolve.ts, docs/benchmarks.md.
 */
function makeFind(buckets: number, seed: number, toId: (r: number, rank: number) => number, oneSegment: boolean, segFirstId: Uint32Array, bases: Uint32Array, dir: Uint32Array, dir8: Uint8Array, stride: number, rankWords: number, fp: Uint32Array, codes: Uint8Array, codes32: Uint32Array): (hi: number, lo: number) => number {
  const single = rankWords === 0;
  const last = fp.length - 1;
  const first0 = segFirstId[0] ?? 0;
  if (single) {
    return (hi, lo) => {
      const x = mix32((hi ^ mix32((lo ^ seed) >>> 0)) >>> 0);
      const y = (lo ^ mix32((x ^ FP_SALT) >>> 0)) >>> 0;
      const b = bucketOf(x, buckets);
      const blk = b >>> BLOCK_SHIFT;
      const j = b & (BLOCK - 1);
      const base = bases[blk]!;
      const gp = Math.min(base + j, last);
      const g = fp[gp]!; // the guess: issued before the offsets below arrive (see above)
      const o8 = 4 * (blk * stride + 1);
      const start = j === 0 ? base : base + dir8[o8 + j - 1]!;
      const end = base + dir8[o8 + j]!;
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
    const x = mix32((hi ^ mix32((lo ^ seed) >>> 0)) >>> 0);
    const y = (lo ^ mix32((x ^ FP_SALT) >>> 0)) >>> 0;
    const b = bucketOf(x, buckets);
    const blk = b >>> BLOCK_SHIFT;
    const j = b & (BLOCK - 1);
    const base = bases[blk]!;
    const gp = Math.min(base + j, last);
    // Every read that does not depend on the key's position or run is issued here, before the
    // bucket's offsets arrive: the guessed fingerprint and code, and one byte of each part of the
    // 116-byte (6 runs) directory record the rank reads (ranks, quarter ranks, offsets).
    const g = fp[gp]!;
    const gr = codes[gp]!;
    const rec = blk * stride;
    const rank0 = dir[rec + 1]!;
    const quarter = j >>> 4;
    const qr = 4 * (rec + 1 + rankWords) + quarter * rankWords;
    const qrank0 = dir8[qr]!;
    const o8 = 4 * (rec + 1 + 2 * rankWords);
    const qstart = quarter === 0 ? base : base + dir8[o8 + 16 * quarter - 1]!;
    const start = j === 0 ? base : base + dir8[o8 + j - 1]!;
    const end = base + dir8[o8 + j]!;
    let p = gp;
    let r = gr;
    if (!(g === y && gp >= start && gp < end)) {
      p = -1;
      for (let k = start; k < end; k++) {
        const f = fp[k]!;
        if (f === y) {
          p = k;
          r = codes[k]!;
          break;
        }
        if (f > y) return -1; // sorted by fingerprint inside a bucket
      }
      if (p < 0) return -1;
    }
    // Rank in its run (see above): a per-code loop mispredicts on the keys' random runs.
    let c = r === 0 ? rank0 + qrank0 : dir[rec + 1 + r]! + dir8[qr + r]!;
    const pat = Math.imul(r, 0x01010101);
    const w0 = qstart >>> 2;
    const w1 = p >>> 2;
    const head = -1 << (8 * (qstart & 3));
    const tail = ~(-1 << (8 * (p & 3)));
    let v = codes32[w0]! ^ pat;
    let m = ~((((v & 0x7f7f7f7f) + 0x7f7f7f7f) | v) | 0x7f7f7f7f) & head; // bit 7 of each byte equal to r
    if (w0 === w1) m &= tail;
    else {
      c += Math.imul(m >>> 7, 0x01010101) >>> 24;
      for (let w = w0 + 1; w < w1; w++) {
        v = codes32[w]! ^ pat;
        c += Math.imul(~((((v & 0x7f7f7f7f) + 0x7f7f7f7f) | v) | 0x7f7f7f7f) >>> 7, 0x01010101) >>> 24;
      }
      v = codes32[w1]! ^ pat;
      m = ~((((v & 0x7f7f7f7f) + 0x7f7f7f7f) | v) | 0x7f7f7f7f) & tail;
    }
    c += Math.imul(m >>> 7, 0x01010101) >>> 24;
    return oneSegment ? segFirstId[r]! + c : toId(r, c);
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
  /** Bytes of the serialised form (memory held: the views are in place, plus a 4-byte copy of each 64-bucket block's base, 1.2%). */
  readonly byteLength: number;
  private readonly bytes: Uint8Array;
  readonly segmentCount: number;
  private readonly runSeg: Uint32Array;
  private readonly runKeys: Uint32Array;
  private readonly segFirstId: Uint32Array;
  private readonly segFirstRank: Uint32Array;
  /** Positions per segment of each run's first segment (the guess of rank -> segment). */
  private readonly segLen0: Float64Array;
  /**
   * Directory records, one per 64 buckets, each in ONE place so that a lookup's first memory
   * access brings the block's base, its run ranks and the bucket offsets together (an earlier
   * layout with three separate arrays made the 6-run lookup about 2x slower than the v1 table).
   */
  private readonly dir: Uint32Array;
  private readonly dir8: Uint8Array;
  /** Each block's base (keys before it), copied out of the records at load so that it stays in cache (see makeFind). */
  private readonly bases: Uint32Array;
  private readonly stride: number;
  private readonly rankWords: number;
  private readonly fp: Uint32Array;
  private readonly codes: Uint8Array;
  /** The codes, 4 per word, for the rank scan. */
  private readonly codes32: Uint32Array;
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
    const S = (L.directory - L.segFirstId) / 8;
    this.segmentCount = S;
    this.segFirstId = new Uint32Array(buf, o + L.segFirstId, S);
    this.segFirstRank = new Uint32Array(buf, o + L.segFirstRank, S);
    this.segLen0 = new Float64Array(runs);
    this.dir = new Uint32Array(buf, o + L.directory, L.strideWords * L.blocks);
    this.dir8 = new Uint8Array(buf, o + L.directory, 4 * L.strideWords * L.blocks);
    this.stride = L.strideWords;
    this.bases = new Uint32Array(L.blocks);
    for (let k = 0; k < L.blocks; k++) this.bases[k] = this.dir[k * L.strideWords]!;
    this.rankWords = L.rankWords;
    this.fp = new Uint32Array(buf, o + L.fingerprints, keys);
    this.codes = new Uint8Array(buf, o + L.codes, runs > 1 ? keys : 0);
    this.codes32 = new Uint32Array(buf, o + L.codes, runs > 1 ? (keys + 3) >>> 2 : 0); // the payload pads the codes to whole words
    const toId = (r: number, rank: number): number => this.idOfRank(r, rank);
    this.find = keys === 0 ? () => -1 : makeFind(buckets, seed, toId, S === runs, this.segFirstId, this.bases, this.dir, this.dir8, this.stride, this.rankWords, this.fp, this.codes, this.codes32);
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
      if (input[i] !== COMPACT_MAGIC[i]) throw new MpeError('MPE_ERR_BUNDLE_MAGIC', 'vocabulary does not start with MPEVOCB2');
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
    for (let i = L.codes + (runs > 1 ? keys : 0); i < L.total; i++) if (bytes[i] !== 0) bad('padding is not zero');
    const v = new CompactVocabulary(bytes, keys, buckets, runs, seed, L);
    v.validate(L);
    return v;
  }

  /** The structural checks of {@link fromBytes}. */
  private validate(L: Layout): void {
    const bad = (what: string): never => {
      throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `compact index: ${what}`);
    };
    const { size: keys, buckets, runCount: runs, runSeg, runKeys, segFirstId, segFirstRank, dir, dir8, stride, fp, codes } = this;
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
    // last hold nothing; the last bucket ends at the key count. Codes < runs; ranks = counts;
    // fingerprints strictly increasing inside each bucket.
    const count = new Uint32Array(runs);
    let pos = 0;
    for (let block = 0; block < L.blocks; block++) {
      const rec = block * stride;
      if (dir[rec] !== pos) bad(`block ${block} starts at ${dir[rec]}, ${pos} keys precede it`);
      if (runs > 1) for (let r = 0; r < runs; r++) if (dir[rec + 1 + r] !== count[r]) bad(`block ${block} rank of run ${r}`);
      const o8 = 4 * (rec + 1 + 2 * L.rankWords);
      const sub8 = 4 * (rec + 1 + L.rankWords);
      let prev = 0;
      for (let j = 0; j < BLOCK; j++) {
        if (runs > 1 && (j & 15) === 0) {
          for (let r = 0; r < runs; r++) if (dir[rec + 1 + r]! + dir8[sub8 + (j >>> 4) * runs + r]! !== count[r]) bad(`block ${block} quarter ${j >>> 4} rank of run ${r}`);
        }
        const e = dir8[o8 + j]!;
        if (e < prev) bad(`block ${block} bucket ${j} ends before it starts`);
        if (block * BLOCK + j >= buckets && e !== prev) bad(`block ${block} bucket ${j} past the last bucket holds keys`);
        for (let p = pos + prev; p < pos + e; p++) {
          if (p >= keys) bad(`block ${block} runs past ${keys} keys`);
          if (p > pos + prev && fp[p]! <= fp[p - 1]!) bad(`fingerprints of bucket ${block * BLOCK + j} are not increasing`);
          if (runs > 1) {
            const r = codes[p]!;
            if (r >= runs) bad(`key ${p} has run ${r} of ${runs}`);
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
      const x = mix32((hi[i]! ^ mix32((lo[i]! ^ seed) >>> 0)) >>> 0);
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
    const dir = new Uint32Array(bytes.buffer, L.directory, L.strideWords * L.blocks);
    const dir8 = new Uint8Array(bytes.buffer, L.directory, 4 * L.strideWords * L.blocks);
    const fp = new Uint32Array(bytes.buffer, L.fingerprints, n);
    const codes = new Uint8Array(bytes.buffer, L.codes, runs > 1 ? n : 0);
    const idOfKey = new Int32Array(n);
    const count = new Uint32Array(runs);
    const segAt = Int32Array.from(runSeg.slice(0, runs));
    let p = 0;
    for (let k = 0; k < L.blocks; k++) {
      const rec = k * L.strideWords;
      const base = start[k * BLOCK]!;
      dir[rec] = base;
      if (runs > 1) dir.set(count, rec + 1);
      const o8 = 4 * (rec + 1 + 2 * L.rankWords);
      const sub8 = 4 * (rec + 1 + L.rankWords);
      for (let j = 0; j < BLOCK; j++) dir8[o8 + j] = start[Math.min(k * BLOCK + j + 1, buckets)]! - base;
      for (let quarter = 0; quarter < 4; quarter++) {
        const end = start[Math.min(k * BLOCK + 16 * (quarter + 1), buckets)]!;
        if (runs > 1) for (let r = 0; r < runs; r++) dir8[sub8 + quarter * runs + r] = count[r]! - dir[rec + 1 + r]!;
        for (; p < end; p++) {
        const key = order[p]!;
        fp[p] = y[key]!;
        const r = run[key]!;
        if (runs > 1) codes[p] = r;
        let k = segAt[r]!;
        while (k + 1 < runSeg[r + 1]! && segFirstRank[k + 1]! <= count[r]!) k++;
        segAt[r] = k;
        idOfKey[key] = segFirstId[k]! + count[r]! - segFirstRank[k]!;
        count[r]!++;
        }
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
