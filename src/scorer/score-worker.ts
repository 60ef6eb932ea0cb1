/**
 * A scoring worker thread: one onnxruntime session (intra-op threads from the config, spinning
 * off), the bundle's packed table read in place from the shared buffer, and its OWN plain
 * Float32Array for dequantized inputs (onnxruntime-node rejects tensors on a SharedArrayBuffer).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTableFromSharedBuffer } from '../bundle/table-file.js';
import type { PackedTable } from '../codec/packed-table.js';
import { isMpeError, MpeError } from '../errors.js';
import { createScorerSession, scoreBatch } from './session.js';
import type { ScoreJob, ScoreWorkerInit, WireError, WorkerMessage } from './score-worker-protocol.js';

function wire(e: unknown): WireError {
  if (isMpeError(e)) return { code: e.code, detail: e.detail ?? '' };
  return { code: 'MPE_ERR_SCORER_RUN', detail: e instanceof Error ? e.message : String(e) };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('score-worker must run as a worker thread');
  const init = workerData as ScoreWorkerInit;
  const post = (m: WorkerMessage, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer ?? []);
  let table: PackedTable;
  let session: Awaited<ReturnType<typeof createScorerSession>>;
  try {
    table = loadTableFromSharedBuffer(init.tableBuffer).table;
    // onnxruntime-node rejects model bytes on a SharedArrayBuffer (the loader's buffers are shared): copy them.
    const modelBytes = init.scorerBytes.buffer instanceof ArrayBuffer ? init.scorerBytes : new Uint8Array(init.scorerBytes);
    session = await createScorerSession(modelBytes, {
      provider: init.provider,
      intraOpThreads: init.intraOpThreads,
      allowSpinning: false,
      onFallback: () => {},
    });
  } catch (e) {
    post({ type: 'init-error', error: wire(e) });
    return;
  }
  const inputDim = init.fields * table.d;
  // Grown on demand, never shrunk: one allocation per worker for the common batch sizes.
  let input = new Float32Array(inputDim * 256);
  post({ type: 'ready', provider: session.provider });

  port.on('message', (job: ScoreJob) => {
    void (async () => {
      try {
        const need = job.rows * inputDim;
        if (input.length < need) input = new Float32Array(need);
        table.dequantize(job.ids, job.rows * init.fields, input, 0);
        const p = await scoreBatch(session.session, input, job.rows, inputDim);
        // The output may be a view on onnxruntime's buffer: copy exactly `rows` floats and transfer.
        const out = new Float32Array(p);
        post({ type: 'done', seq: job.seq, probabilities: out }, [out.buffer as ArrayBuffer]);
      } catch (e) {
        post({ type: 'failed', seq: job.seq, error: wire(e) });
      }
    })();
  });
}

main().catch((e: unknown) => {
  parentPort?.postMessage({ type: 'init-error', error: wire(e instanceof MpeError ? e : new MpeError('MPE_ERR_SCORER_RUN', String(e))) });
});
