/** Test helpers that tamper with a written bundle and read the error code of a load. */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { manifestHashText } from '../../src/bundle/manifest.js';
import { xxh64Hex } from '../../src/util/checksum.js';

/** 'ok' if `p` resolves, else the rejection's `code` (or its text). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: tests edit arbitrary manifest JSON on purpose
export type Json = Record<string, any>;

/** Edits manifest.json and recomputes its own checksum (as a careless hand edit + re-sign would). */
export async function editManifest(dir: string, edit: (m: Json) => void): Promise<void> {
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Json;
  edit(m);
  m.manifestXxh64 = await xxh64Hex(new TextEncoder().encode(manifestHashText(m)));
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
}
