import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as api from '../../src/index.js';
import { getTrainingMethod } from '../../src/train/methods.js';

test('the barrel exposes the library API and registers the MPE training methods', () => {
  for (const name of ['loadBundle', 'writeBundle', 'PackedTable', 'packTable', 'Vocabulary', 'buildMlpScorer', 'createScorerSession', 'trainModel', 'ingest', 'synthesize', 'createServer', 'resolveConfig', 'createRegistry', 'MpeError']) {
    assert.equal(typeof (api as Record<string, unknown>)[name], 'function', name);
  }
  // Importing the barrel alone makes --method mpe / uniform available to trainModel.
  assert.equal(getTrainingMethod('mpe').name, 'mpe');
  assert.equal(getTrainingMethod('uniform').name, 'uniform');
});
