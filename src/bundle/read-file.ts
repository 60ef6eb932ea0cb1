/**
 * Reads a whole file into memory that worker threads can share: one `SharedArrayBuffer` of the
 * file's size, filled by positional reads (a single read for files under 2 GiB; the loop only
 * matters past the per-call limit or on a short read).
 */
import { open } from 'node:fs/promises';
import { MpeError } from '../errors.js';

/** Per-call read limit of libuv is 2 GiB - 1; stay below it. */
const MAX_READ = 1 << 30;

/** Reads `path` into a Uint8Array over a new SharedArrayBuffer. Throws MPE_ERR_BUNDLE_NOT_FOUND if the file is missing. */
export async function readFileShared(path: string): Promise<Uint8Array> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MpeError('MPE_ERR_BUNDLE_NOT_FOUND', path, { cause: e });
    throw e;
  }
  try {
    const { size } = await fh.stat();
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    let pos = 0;
    while (pos < size) {
      const { bytesRead } = await fh.read(bytes, pos, Math.min(MAX_READ, size - pos), pos);
      if (bytesRead === 0) throw new MpeError('MPE_ERR_BUNDLE_TRUNCATED', `${path} shrank while being read`);
      pos += bytesRead;
    }
    return bytes;
  } finally {
    await fh.close();
  }
}
