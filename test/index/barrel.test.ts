import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as api from '../../src/index.js';
import { pickMethod } from '../../src/train/methods.js';

test('the barrel exposes the library API and the training methods map', () => {
  for (const name of ['loadBundle', 'writeBundle', 'PackedTable', 'packTable', 'Vocabulary', 'buildMlpScorer', 'createScorerSession', 'trainModel', 'ingest', 'synthesize', 'createServer', 'resolveConfig', 'createModelStore', 'MpeError']) {
    assert.equal(typeof (api as Record<string, unknown>)[name], 'function', name);
  }
  // The map to pass to trainModel for --method mpe / uniform; nothing is registered globally.
  assert.deepEqual(Object.keys(api.TRAINING_METHODS).sort(), ['fp32', 'mpe', 'uniform']);
  assert.equal(pickMethod(api.TRAINING_METHODS, 'mpe').name, 'mpe');
  assert.equal(pickMethod(api.TRAINING_METHODS, 'uniform').name, 'uniform');
  assert.throws(() => pickMethod({}, 'mpe'), { code: 'MPE_ERR_TRAIN_CONFIG' });
});
