/**
 * The documented import direction (docs/architecture.md), enforced: every relative import under
 * src/ must go from an area to one its LAYERS entry allows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ImportEdge, importEdges, LAYERS, violations } from './import-graph.js';

test('no import under src/ runs against the documented direction', () => {
  const edges = importEdges();
  assert.ok(edges.length > 200, `the graph was read (${edges.length} imports)`);
  const bad = violations(edges).map((e) => `${e.from} -> ${e.to} (${e.fromArea} may not import ${e.toArea})`);
  assert.deepEqual(bad, []);
});

test('every area under src/ has a rule, and the rules name only existing areas', () => {
  const areas = new Set(importEdges().flatMap((e) => [e.fromArea, e.toArea]));
  for (const a of areas) assert.ok(a in LAYERS, `area ${a} has no entry in LAYERS`);
  for (const [a, allowed] of Object.entries(LAYERS)) for (const b of allowed) assert.ok(b === '*' || b in LAYERS, `${a} allows unknown area ${b}`);
});

test('the check catches a leaf importing upwards and an unknown area', () => {
  const edge = (from: string, to: string): ImportEdge => ({ from: `${from}/x.ts`, to: `${to}/y.ts`, fromArea: from, toArea: to });
  const found = violations([edge('stats', 'model-store'), edge('model-store', 'app'), edge('server', 'service'), edge('nowhere', 'errors'), edge('cli', 'app')]);
  assert.deepEqual(
    found.map((e) => `${e.fromArea}->${e.toArea}`),
    ['stats->model-store', 'model-store->app', 'nowhere->errors'],
  );
});
