import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataSourceOf } from '../../src/cli/data-options.js';

test('data-source flags: criteo, csv with tab separator, and refusals with codes', () => {
  assert.deepEqual(dataSourceOf({ format: 'criteo', sep: ',' }), { format: 'criteo' });
  assert.deepEqual(dataSourceOf({ format: 'csv', label: 'y', categorical: 'a, b,', numeric: 'c', sep: '\\t' }), {
    format: 'csv',
    csv: { label: 'y', categorical: ['a', 'b'], numeric: ['c'], sep: '\t' },
  });
  assert.equal(dataSourceOf({ format: 'csv', label: 'y', numeric: 'c', sep: 'tab' }).csv?.sep, '\t');
  assert.throws(() => dataSourceOf({ format: 'parquet', sep: ',' }), { code: 'MPE_ERR_TRAIN_CONFIG' });
  assert.throws(() => dataSourceOf({ format: 'csv', categorical: 'a', sep: ',' }), { code: 'MPE_ERR_DATA_SCHEMA' });
  assert.throws(() => dataSourceOf({ format: 'csv', label: 'y', sep: ',' }), { code: 'MPE_ERR_DATA_SCHEMA' });
});
