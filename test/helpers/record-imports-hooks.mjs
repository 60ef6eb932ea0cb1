// Module resolve hook (runs on the loader thread): records bare specifiers, i.e. packages.
import { appendFileSync } from 'node:fs';

const out = process.env.MPE_RECORD_IMPORTS;

export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (out && !specifier.startsWith('.') && !specifier.startsWith('/') && !specifier.includes(':')) appendFileSync(out, `${specifier}\n`);
  return r;
}
