/**
 * Writes a bundle directory atomically: every file goes into a temporary sibling directory,
 * is fsynced, and the directory is renamed into place; a reader never sees a half-written bundle.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { computeLayout, type TableSpec } from '../codec/layout.js';
import { isMpeError, MpeError } from '../errors.js';
import { initChecksum, xxh64HexSyncParts } from '../util/checksum.js';
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  type Manifest,
  MANIFEST_FILE,
  type ManifestInput,
  manifestHashText,
  parseManifest,
  SCORER_FILE,
  TABLE_FILE,
  VOCAB_FILE,
} from './manifest.js';
import { encodeTableHeader, groupedView } from './table-file.js';
import { encodeVocabHeader } from './vocab-file.js';

/** Everything a bundle is made of. */
export interface BundleParts {
  /** Model info, fields and free-form metrics/data/training; the writer derives the rest. */
  readonly manifest: ManifestInput;
  readonly tableSpec: TableSpec;
  /** The data section: the codec's `packTable(tableSpec, weights)`. */
  readonly tableData: Uint8Array;
  /** `Vocabulary.toBytes()`. */
  readonly vocabBytes: Uint8Array;
  /** The ONNX scorer (opaque). */
  readonly scorerBytes: Uint8Array;
}

async function writeSynced(path: string, parts: readonly Uint8Array[]): Promise<number> {
  const fh = await open(path, 'wx');
  let total = 0;
  try {
    for (const p of parts) {
      let off = 0;
      while (off < p.byteLength) {
        const { bytesWritten } = await fh.write(p, off, p.byteLength - off);
        off += bytesWritten;
      }
      total += p.byteLength;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return total;
}

async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** 'absent' | 'empty' (an empty directory) | 'bundle' (has an mpe-bundle manifest.json); throws for anything else. */
async function existingKind(dir: string): Promise<'absent' | 'empty' | 'bundle'> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw e;
  }
  if (!st.isDirectory()) throw new MpeError('MPE_ERR_BUNDLE_WRITE', `${dir} exists and is not a directory`);
  if ((await readdir(dir)).length === 0) return 'empty';
  try {
    const m = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as { format?: unknown };
    if (m.format === BUNDLE_FORMAT) return 'bundle';
  } catch {
    // fall through: not a bundle
  }
  throw new MpeError('MPE_ERR_BUNDLE_WRITE', `${dir} exists and is not a bundle: refusing to overwrite it`);
}

function buildManifest(parts: BundleParts, files: Manifest['files']): Manifest {
  const spec = parts.tableSpec;
  const g = groupedView(spec);
  const input = parts.manifest;
  const body: Omit<Manifest, 'manifestXxh64'> = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    model: { name: input.model.name, version: input.model.version, createdAt: input.model.createdAt ?? new Date().toISOString(), method: input.model.method },
    fields: input.fields,
    d: spec.d,
    featureCount: spec.featureCount,
    table: {
      kind: spec.kind,
      groupSize: g.groupSize,
      ...(g.groupPad > 0 ? { groupPad: g.groupPad } : {}),
      groupCount: g.groupCount,
      bitsPerGroup: Array.from(g.bitsPerGroup),
      alpha: Array.from(g.alpha),
      beta: Array.from(g.beta),
      ...(spec.kind === 'rowwise' ? { rowwiseBits: spec.bits } : {}),
    },
    scorer: { file: SCORER_FILE, input: 'embeddings', output: 'probability', inputDim: input.fields.length * spec.d },
    files,
    metrics: input.metrics ?? {},
    data: input.data ?? {},
    training: input.training ?? {},
  };
  return { ...body, manifestXxh64: xxh64HexSyncParts([new TextEncoder().encode(manifestHashText(body))]) };
}

/**
 * Writes a bundle to `dir` (created, or replaced if it already holds a bundle or is empty) and
 * returns its manifest. The files go to a temporary sibling directory first, are fsynced, and
 * the directory is renamed into place; on failure the temporary directory is removed and `dir`
 * is left as it was. Throws MPE_ERR_BUNDLE_WRITE (dir is a file or a non-bundle directory, data
 * size does not match the spec, I/O failure), MPE_ERR_BUNDLE_MANIFEST (invalid model info or fields)
 * and the codec's layout errors for a bad spec.
 */
export async function writeBundle(dir: string, parts: BundleParts): Promise<Manifest> {
  await initChecksum();
  const target = resolve(dir);
  const layout = computeLayout(parts.tableSpec);
  if (parts.tableData.byteLength !== layout.dataBytes) {
    throw new MpeError('MPE_ERR_BUNDLE_WRITE', `table data has ${parts.tableData.byteLength} bytes, the spec's layout needs ${layout.dataBytes}`);
  }
  const kind = await existingKind(target);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${suffix}`);
  const old = join(parent, `.${basename(target)}.old-${suffix}`);
  try {
    await mkdir(tmp);
    const tableParts = [encodeTableHeader(parts.tableSpec), parts.tableData];
    const vocabParts = [encodeVocabHeader(parts.vocabBytes.byteLength, parts.manifest.fields.length), parts.vocabBytes];
    const scorerParts = [parts.scorerBytes];
    const files: Manifest['files'] = {
      [TABLE_FILE]: { bytes: await writeSynced(join(tmp, TABLE_FILE), tableParts), xxh64: xxh64HexSyncParts(tableParts) },
      [VOCAB_FILE]: { bytes: await writeSynced(join(tmp, VOCAB_FILE), vocabParts), xxh64: xxh64HexSyncParts(vocabParts) },
      [SCORER_FILE]: { bytes: await writeSynced(join(tmp, SCORER_FILE), scorerParts), xxh64: xxh64HexSyncParts(scorerParts) },
    };
    const manifest = buildManifest(parts, files);
    const text = JSON.stringify(manifest, null, 2);
    parseManifest(text); // never write what the reader would refuse
    await writeSynced(join(tmp, MANIFEST_FILE), [new TextEncoder().encode(`${text}\n`)]);
    await syncDir(tmp);
    if (kind === 'bundle') {
      // rename() cannot replace a non-empty directory: move the old one aside first.
      await rename(target, old);
      await rename(tmp, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, target); // replaces an empty directory atomically
    }
    await syncDir(parent);
    return manifest;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (isMpeError(e)) throw e;
    throw new MpeError('MPE_ERR_BUNDLE_WRITE', `${target}: ${(e as Error).message}`, { cause: e });
  }
}
