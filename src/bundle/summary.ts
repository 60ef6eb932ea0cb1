/**
 * What `mpe inspect` reports about a loaded bundle: bit-width histogram, bytes per section,
 * compression ratios and per-file checksum state. Definitions in docs/format.md#inspect.
 */
import { groupRows } from '../codec/layout.js';
import { initChecksum, xxh64HexSync } from '../util/checksum.js';
import type { LoadedBundle } from './load.js';
import { type BinaryFileName, MANIFEST_FILE, manifestHashText, SCORER_FILE, TABLE_FILE, VOCAB_FILE } from './manifest.js';

export type ChecksumState = 'ok' | 'mismatch';

export interface BitsHistogramRow {
  readonly bits: number;
  readonly groups: number;
  readonly features: number;
}

export interface BundleSummary {
  readonly model: LoadedBundle['manifest']['model'];
  readonly d: number;
  readonly featureCount: number;
  readonly fieldCount: number;
  readonly table: { readonly kind: 'grouped' | 'rowwise'; readonly groupSize: number; readonly groupPad: number; readonly groupCount: number };
  /** One row per bit width present, ascending. */
  readonly bitsHistogram: readonly BitsHistogramRow[];
  /** Mean code bits per feature (row-wise: the code width, without the per-row scale and bias). */
  readonly averageBits: number;
  readonly bytes: LoadedBundle['bytesBySection'] & { readonly total: number };
  readonly ratios: CompressionRatios;
  readonly checksums: Readonly<Record<typeof MANIFEST_FILE | BinaryFileName, ChecksumState>>;
  readonly loadStats: LoadedBundle['loadStats'];
}

/** Recomputes each file's XXH64 from the loaded bytes (no re-read) and compares with the manifest. */
export async function checksumStates(b: LoadedBundle): Promise<Record<typeof MANIFEST_FILE | BinaryFileName, ChecksumState>> {
  await initChecksum();
  const m = b.manifest;
  const st = (got: string, want: string): ChecksumState => (got === want ? 'ok' : 'mismatch');
  return {
    [MANIFEST_FILE]: st(xxh64HexSync(new TextEncoder().encode(manifestHashText(m))), m.manifestXxh64),
    [TABLE_FILE]: st(xxh64HexSync(new Uint8Array(b.tableBuffer)), m.files[TABLE_FILE].xxh64),
    [VOCAB_FILE]: st(xxh64HexSync(new Uint8Array(b.vocabBuffer)), m.files[VOCAB_FILE].xxh64),
    [SCORER_FILE]: st(xxh64HexSync(b.scorerBytes), m.files[SCORER_FILE].xxh64),
  };
}

/** The two compression measures of docs/format.md#inspect, shared by `mpe inspect` and the service (GetModel, metrics). */
export interface CompressionRatios {
  /** 32 / average stored bits per weight (codes only, the paper's measure); null when every feature is pruned. */
  readonly weightsOnly: number | null;
  /** fp32AllInBytes / allInBytes: what a serving process really saves, vocabulary included. */
  readonly allIn: number;
  /** table.bin + vocab.bin bytes. */
  readonly allInBytes: number;
  /** A fp32 table of the same shape (4 * d * featureCount) plus the same vocabulary. */
  readonly fp32AllInBytes: number;
}

/** Computes {@link CompressionRatios} from a table's shape, its average bits and the bytes the service holds. */
export function compressionRatios(d: number, featureCount: number, averageBits: number, tableBytes: number, vocabBytes: number): CompressionRatios {
  const allInBytes = tableBytes + vocabBytes;
  const fp32AllInBytes = 4 * d * featureCount + vocabBytes;
  return { weightsOnly: averageBits === 0 ? null : 32 / averageBits, allIn: fp32AllInBytes / allInBytes, allInBytes, fp32AllInBytes };
}

/** Summarises a bundle loaded (preferably with `verify: false`, so that bad checksums are reported rather than thrown). */
export async function summarizeBundle(b: LoadedBundle): Promise<BundleSummary> {
  const h = b.tableHeader;
  const n = h.spec.featureCount;
  const groups = new Map<number, { groups: number; features: number }>();
  let bitSum = 0;
  for (let g = 0; g < h.groupCount; g++) {
    const bits = h.bitsPerGroup[g]!;
    const rows = groupRows(g, n, h.groupSize, h.groupPad);
    const e = groups.get(bits) ?? { groups: 0, features: 0 };
    e.groups++;
    e.features += rows;
    groups.set(bits, e);
    bitSum += bits * rows;
  }
  const bitsHistogram = [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([bits, e]) => ({ bits, ...e }));
  const averageBits = n === 0 ? 0 : bitSum / n;
  const s = b.bytesBySection;
  return {
    model: b.manifest.model,
    d: h.spec.d,
    featureCount: n,
    fieldCount: b.manifest.fields.length,
    table: { kind: h.spec.kind, groupSize: h.groupSize, groupPad: h.groupPad, groupCount: h.groupCount },
    bitsHistogram,
    averageBits,
    bytes: { ...s, total: s.manifest + s.tableHeader + s.tableData + s.vocab + s.scorer },
    ratios: compressionRatios(h.spec.d, n, averageBits, s.tableHeader + s.tableData, s.vocab),
    checksums: await checksumStates(b),
    loadStats: b.loadStats,
  };
}
