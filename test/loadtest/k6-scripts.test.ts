/**
 * The k6 scripts must load in k6 (goja, not Node): every file parses as an ES module, imports only
 * k6 modules or relative files, and touches no Node-only global. Main scripts export options with
 * scenarios and thresholds, a default function and setup(); gRPC scripts load proto files that exist.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as acorn from 'acorn';

const K6_DIR = fileURLToPath(new URL('../../loadtest/k6/', import.meta.url));
const MAIN_SCRIPTS = ['grpc-score.js', 'grpc-lookup.js', 'http-score.js'];
const NODE_ONLY_GLOBALS = new Set(['process', 'Buffer', 'require', 'module', 'exports', '__dirname', '__filename', 'setImmediate', 'global']);

type Node = acorn.Node & Record<string, unknown>;

function jsFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) jsFiles(p, out);
    else if (name.endsWith('.js')) out.push(p);
  }
  return out;
}

function walk(node: unknown, visit: (n: Node) => void): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const c of node) walk(c, visit);
    return;
  }
  const n = node as Node;
  if (typeof n.type === 'string') visit(n);
  for (const key of Object.keys(n)) if (key !== 'type' && key !== 'start' && key !== 'end') walk(n[key], visit);
}

/** Problems that would keep `source` from running in k6; [] when none. */
function k6Problems(source: string): string[] {
  const ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'module' });
  const problems: string[] = [];
  walk(ast, (n) => {
    if (n.type === 'ImportDeclaration' || n.type === 'ImportExpression' || n.type === 'ExportAllDeclaration') {
      const src = (n.source as { value?: unknown } | null)?.value;
      if (typeof src !== 'string' || !(src === 'k6' || src.startsWith('k6/') || src.startsWith('./') || src.startsWith('../') || src.startsWith('https://'))) {
        problems.push(`import of ${String(src)}`);
      }
    }
    // Identifiers in reference position (not property names like `r.status` or object keys).
    if (n.type === 'MemberExpression' && !n.computed) (n.property as Node).type = 'PropertyName';
    if (n.type === 'Property' && !n.computed) (n.key as Node).type = 'PropertyName';
    if (n.type === 'Identifier' && NODE_ONLY_GLOBALS.has(n.name as string)) problems.push(`Node-only global ${String(n.name)}`);
  });
  return problems;
}

function exportedNames(source: string): Set<string> {
  const ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'module' }) as unknown as { body: Node[] };
  const names = new Set<string>();
  for (const s of ast.body) {
    if (s.type === 'ExportDefaultDeclaration') names.add('default');
    if (s.type === 'ExportNamedDeclaration' && s.declaration) {
      const d = s.declaration as Node;
      if (d.type === 'FunctionDeclaration') names.add((d.id as { name: string }).name);
      if (d.type === 'VariableDeclaration') for (const v of d.declarations as Node[]) names.add((v.id as { name: string }).name);
    }
  }
  return names;
}

test('the checker itself flags Node-only code (so the next test can fail)', () => {
  assert.deepEqual(k6Problems("import fs from 'node:fs';\nconst b = Buffer.from('x'); process.exit(1);"), ['import of node:fs', 'Node-only global Buffer', 'Node-only global process']);
  assert.deepEqual(k6Problems("import http from 'k6/http';\nconst o = { process: 1 }; o.Buffer = 2;"), []);
  assert.throws(() => k6Problems('export default function ( {'), SyntaxError);
});

test('every k6 file parses as an ES module and uses no Node-only API', () => {
  const files = jsFiles(K6_DIR);
  assert.ok(files.length >= 4, `found ${files.length} files`);
  for (const f of files) assert.deepEqual(k6Problems(readFileSync(f, 'utf8')), [], f);
});

test('main scripts export options, setup and a default function; thresholds and both scenarios are wired', () => {
  for (const name of MAIN_SCRIPTS) {
    const src = readFileSync(join(K6_DIR, name), 'utf8');
    const names = exportedNames(src);
    for (const n of ['options', 'setup', 'default']) assert.ok(names.has(n), `${name} exports ${n}`);
    assert.match(src, /thresholds: thresholds\('(grpc|http)_req_duration', \d+\)/, `${name}: thresholds on its own duration metric`);
    assert.match(src, /errors\.add\(!ok\)/, `${name}: failed checks feed mpe_errors`);
  }
  const common = readFileSync(join(K6_DIR, 'lib/common.js'), 'utf8');
  assert.match(common, /`p\(99\)<\$\{envNum\('P99_MS', p99Ms\)\}`/, 'p99 threshold');
  assert.match(common, /mpe_errors: \[`rate<\$\{maxErrorRate\}`\]/, 'error-rate threshold');
  assert.match(common, /'constant-arrival-rate'/);
  assert.match(common, /'ramping-arrival-rate'/);
});

test('gRPC scripts load the repository proto by a path that exists relative to the script', () => {
  for (const name of ['grpc-score.js', 'grpc-lookup.js']) {
    const src = readFileSync(join(K6_DIR, name), 'utf8');
    const m = /client\.load\(\[env\('PROTO_DIR', '([^']+)'\)\], '([^']+)'\)/.exec(src);
    assert.ok(m, `${name} calls client.load`);
    const proto = resolve(dirname(join(K6_DIR, name)), m[1]!, m[2]!);
    assert.ok(existsSync(proto), proto);
    assert.match(readFileSync(proto, 'utf8'), /service EmbeddingService/);
  }
});
