/**
 * The documented import direction (docs/architecture.md) as data, and a check over src/'s import
 * graph. `node --import tsx test/architecture/import-graph.ts` lists the violations;
 * import-direction.test.ts fails on any.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Area (first folder under src/, or the file name for src/*.ts) -> the areas it may import.
 * An area may always import itself. Leaves first; everything below an area is allowed to it.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  errors: [],
  util: ['errors'],
  config: ['errors', 'util'],
  codec: ['errors', 'util'],
  features: ['errors', 'util'],
  onnx: ['errors', 'util'],
  vocab: ['errors', 'util', 'features'],
  // pure statistics: sampler, count-min, top-k, drift, AUC
  stats: ['errors', 'util'],
  bundle: ['errors', 'util', 'codec', 'vocab', 'features'],
  // the score workers resolve raw values through the vocabulary (vocab/packed-values.ts)
  scorer: ['errors', 'util', 'config', 'onnx', 'codec', 'bundle', 'vocab', 'features'],
  metrics: ['errors', 'util'],
  // Redis only: registry records, fleet, statistics keys
  'model-store': ['errors', 'util', 'config', 'stats', 'bundle'],
  data: ['errors', 'util', 'features', 'stats'],
  service: ['errors', 'util', 'config', 'codec', 'features', 'vocab', 'bundle', 'scorer', 'stats', 'metrics'],
  server: ['errors', 'util', 'config', 'service', 'metrics'],
  train: ['errors', 'util', 'features', 'codec', 'vocab', 'onnx', 'bundle', 'scorer', 'stats', 'data'],
  mpe: ['errors', 'util', 'features', 'codec', 'vocab', 'onnx', 'bundle', 'scorer', 'stats', 'data', 'train'],
  // the one place that wires transports, Redis loops and the model
  app: ['errors', 'util', 'config', 'codec', 'features', 'vocab', 'bundle', 'scorer', 'stats', 'metrics', 'model-store', 'service', 'server', 'data', 'train', 'mpe'],
  interop: ['errors', 'util', 'features', 'codec', 'vocab', 'onnx', 'bundle', 'scorer', 'stats', 'data', 'train', 'mpe'],
  cli: ['*'],
  index: ['*'],
});

export interface ImportEdge {
  readonly from: string;
  readonly to: string;
  readonly fromArea: string;
  readonly toArea: string;
}

const SRC = resolve(fileURLToPath(new URL('../../src', import.meta.url)));

/** Area of a file under `src`: its first folder, or its base name without extension. */
export function areaOf(file: string, src: string = SRC): string {
  const rel = relative(src, file).split(sep);
  return rel.length > 1 ? rel[0]! : rel[0]!.replace(/\.ts$/, '');
}

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Every relative import (static, type-only, re-export and dynamic) between files under `src`. */
export function importEdges(src: string = SRC): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of walk(src, []).sort()) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const imp of info.importedFiles) {
      if (!imp.fileName.startsWith('.')) continue;
      const to = resolve(dirname(file), imp.fileName).replace(/\.js$/, '.ts');
      edges.push({ from: relative(src, file), to: relative(src, to), fromArea: areaOf(file, src), toArea: areaOf(to, src) });
    }
  }
  return edges;
}

/** The edges that run against `layers` (an area missing from `layers` may import nothing). */
export function violations(edges: readonly ImportEdge[], layers: Readonly<Record<string, readonly string[]>> = LAYERS): ImportEdge[] {
  return edges.filter((e) => {
    if (e.fromArea === e.toArea) return false;
    const allowed = layers[e.fromArea] ?? [];
    return !(allowed.includes('*') || allowed.includes(e.toArea));
  });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bad = violations(importEdges());
  for (const e of bad) process.stdout.write(`${e.from} -> ${e.to}  (${e.fromArea} may not import ${e.toArea})\n`);
  process.stdout.write(`${bad.length} imports against the documented direction in ${new Set(bad.map((e) => e.from)).size} files\n`);
  process.exitCode = bad.length === 0 ? 0 : 1;
}
