/**
 * A reload that hangs (issue 15, item 4) must not wedge the reloader: a loadAndWarm that never
 * returns is refused after the reloader's timeout and later reloads run; a late result is
 * discarded. (A FIFO in a bundle no longer blocks at all: test/server/admin-errors.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createModelReloader, type LoadedModel } from '../../src/app/reloader.js';

/** Settles `p` or says 'hang' after `ms` (a guard, not a timing assertion). */
function within<T>(p: Promise<T>, ms = 5000): Promise<T | 'hang'> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<'hang'>((r) => (t = setTimeout(() => r('hang'), ms)))]).finally(() => clearTimeout(t));
}

test('a hung load is refused after the timeout; the next reload runs; the late handle is discarded', async () => {
  let release!: (m: LoadedModel<string>) => void;
  const discarded: string[] = [];
  let served: string | null = null;
  const reloader = createModelReloader<string>({
    loadAndWarm: (location) => (location === 'hung' ? new Promise<LoadedModel<string>>((r) => (release = r)) : Promise.resolve({ handle: `h-${location}`, version: location })),
    swap: (h) => {
      served = h;
    },
    discard: (h) => {
      discarded.push(h);
    },
    timeoutMs: 200,
  });
  const hung = await within(reloader.reload({ location: 'hung', version: null }, 'admin'));
  assert.notEqual(hung, 'hang');
  assert.equal(hung !== 'hang' && hung.result, 'failure');
  assert.equal(hung !== 'hang' && hung.error?.code, 'MPE_ERR_RELOAD_FAILED');
  assert.match(hung !== 'hang' ? (hung.error?.message ?? '') : '', /did not finish within 200 ms/);
  const next = await within(reloader.reload({ location: 'v2', version: null }, 'sighup'));
  assert.equal(next !== 'hang' && next.result, 'success');
  assert.equal(served, 'h-v2');
  // The hung load finishes late: its handle is discarded, never served.
  release({ handle: 'h-hung', version: 'hung' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(discarded, ['h-hung']);
  assert.equal(served, 'h-v2');
  assert.equal(reloader.status().version, 'v2');
});
