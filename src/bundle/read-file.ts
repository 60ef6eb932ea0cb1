/**
 * Reads bundle files so that a bad file cannot hold the process: every file is opened
 * non-blocking with a timeout, refused unless it is a regular file, and its size (fstat) is
 * checked against what the caller expects BEFORE any memory is allocated for it. Whole files go
 * into memory that worker threads can share: one `SharedArrayBuffer` of the file's size, filled by
 * positional reads (a single read for files under 2 GiB; the loop only matters past the per-call
 * limit or on a short read).
 */
import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { basename } from 'node:path';
import { MpeError } from '../errors.js';

/** Per-call read limit of libuv is 2 GiB - 1; stay below it. */
const MAX_READ = 1 << 30;

/**
 * Longest an open() (plus its fstat) of a bundle file may take (milliseconds). A FIFO never blocks
 * (opened O_NONBLOCK, then refused as not regular); this bounds a hung network volume.
 */
export const OPEN_TIMEOUT_MS = 10_000;

/** Largest manifest.json read (bytes): the manifest lists per-group bits, far below this. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** Memory this process may use at most (bytes): its cgroup limit when one is set, else the machine's. */
function memoryLimit(): number {
  const c = process.constrainedMemory?.() ?? 0;
  const t = totalmem();
  return c > 0 && c < t ? c : t;
}

/**
 * Paths whose open() has timed out and not returned yet. A hung open holds one of libuv's four
 * threadpool threads; a second open of the same path would hold another (and the fourth would stop
 * every file and DNS operation of the process), so it is refused at once instead.
 */
const hung = new Set<string>();

function unreadable(path: string, why: string, cause?: unknown): MpeError {
  return new MpeError('MPE_ERR_BUNDLE_UNREADABLE', `${basename(path)}: ${why}`, cause === undefined ? undefined : { cause });
}

/** Resolves `p`, or rejects with `onTimeout()` after `ms`; `late` disposes of a value that arrives after the timeout. */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error, late: (v: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(onTimeout());
    }, ms);
    timer.unref();
    p.then(
      (v) => {
        if (done) late(v);
        else {
          done = true;
          clearTimeout(timer);
          resolve(v);
        }
      },
      (e: unknown) => {
        if (!done) {
          done = true;
          clearTimeout(timer);
          reject(e);
        }
      },
    );
  });
}

/** Maps an open()/stat() failure: ENOENT/ENOTDIR -> MPE_ERR_BUNDLE_NOT_FOUND, anything else -> _UNREADABLE (never the raw Node error). */
function openError(path: string, e: unknown): MpeError {
  if (e instanceof MpeError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new MpeError('MPE_ERR_BUNDLE_NOT_FOUND', basename(path), { cause: e });
  return unreadable(path, `cannot be opened (${code ?? 'error'})`, e);
}

/** Checks that `dir` is a directory, with the open timeout (a hung volume fails the stat, not the process). */
export async function checkDirectory(dir: string, timeoutMs: number = OPEN_TIMEOUT_MS): Promise<void> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await withTimeout(stat(dir), timeoutMs, () => unreadable(dir, `stat did not return within ${timeoutMs} ms`), () => {});
  } catch (e) {
    throw openError(dir, e);
  }
  // Same words as a missing path (openError): the admin endpoint must not tell files from nothing.
  if (!st.isDirectory()) throw new MpeError('MPE_ERR_BUNDLE_NOT_FOUND', basename(dir));
}

/**
 * Opens `path` read-only and non-blocking within `timeoutMs`, and returns it with its size, only
 * if it is a regular file. Throws MPE_ERR_BUNDLE_NOT_FOUND (missing) or MPE_ERR_BUNDLE_UNREADABLE
 * (not a regular file, timed out, an earlier open still hung, or any other open error).
 */
export async function openRegularFile(path: string, timeoutMs: number = OPEN_TIMEOUT_MS): Promise<{ fh: FileHandle; size: number }> {
  if (hung.has(path)) throw unreadable(path, 'an earlier open of this file has not returned (hung volume?)');
  const opened = (async () => {
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      return { fh, st: await fh.stat() };
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
  })();
  let r: Awaited<typeof opened>;
  try {
    r = await withTimeout(
      opened,
      timeoutMs,
      () => {
        hung.add(path);
        return unreadable(path, `open did not return within ${timeoutMs} ms`);
      },
      (late) => {
        hung.delete(path);
        void late.fh.close().catch(() => {});
      },
    );
  } catch (e) {
    // A timed-out open that later fails must also leave the hung set.
    opened.catch(() => hung.delete(path));
    throw openError(path, e);
  }
  if (!r.st.isFile()) {
    await r.fh.close().catch(() => {});
    throw unreadable(path, 'is not a regular file');
  }
  return { fh: r.fh, size: r.st.size };
}

async function readAll(fh: FileHandle, path: string, bytes: Uint8Array): Promise<void> {
  const size = bytes.byteLength;
  let pos = 0;
  while (pos < size) {
    const { bytesRead } = await fh.read(bytes, pos, Math.min(MAX_READ, size - pos), pos);
    if (bytesRead === 0) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `${basename(path)} shrank while being read`);
    pos += bytesRead;
  }
}

/**
 * Checks the first bytes of a file against its size before the whole is read (table.bin's and
 * vocab.bin's headers say how long the file must be): throws to refuse the file.
 */
export interface HeadCheck {
  /** Bytes read from the start of the file (fewer when the file is shorter). */
  readonly bytes: number;
  check(head: Uint8Array, fileBytes: number): void;
}

/**
 * Reads `path` into a Uint8Array over a new SharedArrayBuffer. Nothing of the file's size is
 * allocated before these checks pass: with `expectedBytes`, a file of another size is refused
 * from its fstat size (smaller MPE_ERR_BUNDLE_TRUNCATED, larger MPE_ERR_BUNDLE_MISMATCH); with
 * a file larger than this process's memory is refused (MPE_ERR_BUNDLE_MISMATCH); with `head`,
 * its first bytes are read and checked against its size (a sparse file, or a manifest and file
 * that both lie about a huge table, fail there). Open errors as {@link openRegularFile}.
 */
export async function readFileShared(path: string, expectedBytes?: number, timeoutMs?: number, head?: HeadCheck): Promise<Uint8Array> {
  const { fh, size } = await openRegularFile(path, timeoutMs);
  try {
    const name = basename(path);
    if (expectedBytes !== undefined && size < expectedBytes) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `${name} has ${size} bytes, manifest says ${expectedBytes}`);
    if (expectedBytes !== undefined && size > expectedBytes) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `${name} has ${size} bytes, manifest says ${expectedBytes}`);
    // Also when the manifest agrees with a huge file: one that cannot fit in memory is refused, not allocated.
    if (size > memoryLimit()) throw new MpeError('MPE_ERR_BUNDLE_MISMATCH', `${name} has ${size} bytes, more than this process's memory`);
    if (head !== undefined) {
      const first = new Uint8Array(Math.min(size, head.bytes));
      await readAll(fh, path, first);
      head.check(first, size);
    }
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    await readAll(fh, path, bytes);
    return bytes;
  } finally {
    await fh.close();
  }
}

/** Reads a small text file (manifest.json) of at most `maxBytes`, with the same open checks. */
export async function readTextFile(path: string, maxBytes: number = MAX_MANIFEST_BYTES, timeoutMs?: number): Promise<string> {
  const { fh, size } = await openRegularFile(path, timeoutMs);
  try {
    if (size > maxBytes) throw new MpeError('MPE_ERR_BUNDLE_MANIFEST', `${basename(path)} has ${size} bytes, more than the ${maxBytes} a manifest may have`);
    const bytes = new Uint8Array(size);
    await readAll(fh, path, bytes);
    return Buffer.from(bytes.buffer, 0, size).toString('utf8');
  } finally {
    await fh.close();
  }
}
