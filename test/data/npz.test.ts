import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeNpy, writeNpz } from '../../src/data/npz.js';

test('npy header: magic, version 1.0, dict, data 64-byte aligned; shape must match the data', () => {
  const b = encodeNpy({ data: Int32Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] });
  assert.deepEqual([...b.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const hlen = b[8]! | (b[9]! << 8);
  assert.equal((10 + hlen) % 64, 0);
  const header = new TextDecoder().decode(b.subarray(10, 10 + hlen));
  assert.match(header, /^\{'descr': '<i4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
  assert.deepEqual([...new Int32Array(b.slice(10 + hlen).buffer)], [1, 2, 3, 4, 5, 6]);
  assert.match(new TextDecoder().decode(encodeNpy({ data: new Uint8Array(3), shape: [3] }).subarray(10, 70)), /'descr': '\|u1'.*'shape': \(3,\)/);
  assert.throws(() => encodeNpy({ data: new Int32Array(5), shape: [2, 3] }), { code: 'MPE_ERR_TRAIN_CONFIG' });
});

test('numpy reads the npz back (skipped where /usr/bin/python3 has no numpy)', (t) => {
  if (spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status !== 0) {
    t.skip('/usr/bin/python3 with numpy not available');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mpe-npz-'));
  try {
    const path = join(dir, 'a.npz');
    writeNpz(path, {
      X: { data: Int32Array.of(0, 5, -7, 2 ** 31 - 1), shape: [2, 2] },
      y: { data: Uint8Array.of(1, 0), shape: [2] },
      feat_cnt: { data: BigInt64Array.of(3n, 2n ** 40n), shape: [2] },
      w: { data: Float64Array.of(0.5, -1e-300), shape: [2] },
    });
    const py = "import numpy as np, json, sys; z = np.load(sys.argv[1]); print(json.dumps({k: [str(z[k].dtype), list(z[k].shape), z[k].ravel().tolist()] for k in z.files}))";
    const r = spawnSync('/usr/bin/python3', ['-c', py, path], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      X: ['int32', [2, 2], [0, 5, -7, 2 ** 31 - 1]],
      y: ['uint8', [2], [1, 0]],
      feat_cnt: ['int64', [2], [3, 2 ** 40]],
      w: ['float64', [2], [0.5, -1e-300]],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
