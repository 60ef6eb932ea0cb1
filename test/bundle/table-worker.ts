// Worker for table-file.test.ts: rebuilds a PackedTable from a posted SharedArrayBuffer and
// dequantizes the ids it is given, writing into a shared output buffer.
import { parentPort, workerData } from 'node:worker_threads';
import { loadTableFromSharedBuffer } from '../../src/bundle/table-file.js';

const { buffer, ids, out } = workerData as { buffer: SharedArrayBuffer; ids: Int32Array; out: SharedArrayBuffer };
const { table, data } = loadTableFromSharedBuffer(buffer);
table.dequantize(ids, ids.length, new Float32Array(out));
parentPort!.postMessage({ sameBuffer: data.buffer === buffer, dataOffset: data.byteOffset });
