/**
 * The vocabulary file of `mpe import --vocab`: one line per raw value, `field<TAB>value<TAB>index`
 * (index in torch's feature index space). Empty lines and lines starting with `#` are skipped.
 * The value is a RAW value: it becomes its token with `fieldToken` (features/token.ts), as a
 * request's value will at serving time, so several raw values may share a token (then they must
 * share the index too).
 */
import { readFile } from 'node:fs/promises';
import { MpeError } from '../errors.js';
import { type FieldSpec, fieldToken } from '../features/token.js';
import { VocabularyBuilder } from '../vocab/vocabulary.js';

/**
 * Reads `path` and builds the vocabulary: (field, token) -> bundle id `idOf[index]`.
 * @throws MpeError MPE_ERR_IMPORT_NOT_FOUND, MPE_ERR_IMPORT_VOCAB (file:line and what is wrong)
 */
export async function readVocabTsv(path: string, fields: readonly FieldSpec[], idOf: Int32Array): Promise<{ bytes: Uint8Array; entries: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new MpeError('MPE_ERR_IMPORT_NOT_FOUND', `${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const fieldIndex = new Map(fields.map((f, i) => [f.name, i]));
  const seen = fields.map(() => new Map<string, number>());
  const builder = new VocabularyBuilder();
  const lines = text.split('\n');
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!.endsWith('\r') ? lines[k]!.slice(0, -1) : lines[k]!;
    if (line === '' || line.startsWith('#')) continue;
    const bad = (why: string): never => {
      throw new MpeError('MPE_ERR_IMPORT_VOCAB', `${path}:${k + 1}: ${why}`);
    };
    const cols = line.split('\t');
    if (cols.length !== 3) bad(`${cols.length} tab-separated columns, expected field, value, index`);
    const [fname, value, idx] = cols as [string, string, string];
    const f = fieldIndex.get(fname);
    if (f === undefined) bad(`field "${fname}" is not one of the export's fields (${fields.map((x) => x.name).join(', ')})`);
    if (!/^\d+$/.test(idx)) bad(`index "${idx}" is not a non-negative integer`);
    const index = Number(idx);
    if (index >= idOf.length) bad(`index ${index} >= featureCount ${idOf.length}`);
    const token = fieldToken(fields[f!]!, value);
    if (token === null) bad(`value "${value}" of numeric field "${fname}" is not a number`);
    const prev = seen[f!]!.get(token!);
    if (prev !== undefined) {
      if (prev !== index) bad(`field "${fname}" value "${value}" (token "${token}") maps to index ${index}, an earlier line mapped it to ${prev}`);
      continue;
    }
    seen[f!]!.set(token!, index);
    builder.add(f!, token!, idOf[index]!);
  }
  return { bytes: builder.build().toBytes(), entries: builder.size };
}
