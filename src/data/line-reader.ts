/**
 * Streams the lines of a text file (plain, or gzip when the name ends in `.gz`) to a callback,
 * in big chunks: the file is never held in memory as a whole.
 */
import { createReadStream, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { MpeError } from '../errors.js';

/** 4 MiB reads: fewer callbacks than the 64 KiB default (measured ~10% faster on a 250 MB file). */
const CHUNK_BYTES = 4 << 20;

/**
 * Calls `onLine(line, lineNo)` for every line (1-based numbers, `\r\n` accepted, a missing final
 * newline accepted). Throws MPE_ERR_DATA_NOT_FOUND when the file does not exist.
 * Resolves with the number of lines seen.
 */
export async function forEachLine(path: string, onLine: (line: string, lineNo: number) => void): Promise<number> {
  try {
    if (!statSync(path).isFile()) throw new MpeError('MPE_ERR_DATA_NOT_FOUND', `${path} is not a file`);
  } catch (e) {
    if (e instanceof MpeError) throw e;
    throw new MpeError('MPE_ERR_DATA_NOT_FOUND', path, { cause: e });
  }
  const file = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  const stream: Readable = path.endsWith('.gz') ? file.pipe(createGunzip({ chunkSize: CHUNK_BYTES })) : file;
  if (stream !== file) file.on('error', (e) => stream.destroy(e));
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let lineNo = 0;
  for await (const chunk of stream) {
    const text = rest + decoder.write(chunk as Buffer);
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      onLine(text.slice(start, end), ++lineNo);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest.length > 0) onLine(rest.endsWith('\r') ? rest.slice(0, -1) : rest, ++lineNo);
  return lineNo;
}
