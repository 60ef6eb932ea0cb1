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
import { vocabularyOfFile } from '../bundle/shared-vocab.js';
import { resolveRawPart, type TokenLookup } from '../vocab/packed-values.js';
import { nowNs } from '../util/score-timing.js';

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
  const F = init.fields;
  const d = table.d;
  const inputDim = F * d;
  const fieldSpecs = init.fieldSpecs ?? null;
  const oov = fieldSpecs === null ? null : Int32Array.from(fieldSpecs, (f) => f.oovId);
  let vocab: TokenLookup | null = null;
  try {
    if (init.vocabBuffer !== undefined && fieldSpecs !== null) vocab = vocabularyOfFile(new Uint8Array(init.vocabBuffer));
  } catch (e) {
    post({ type: 'init-error', error: wire(e) });
    return;
  }
  // Grown on demand, never shrunk: one allocation per worker for the common batch sizes.
  let input = new Float32Array(inputDim * 256);
  post({ type: 'ready', provider: session.provider });

  port.on('message', (job: ScoreJob) => {
    void (async () => {
      const t0 = nowNs();
      try {
        const need = job.rows * inputDim;
        if (input.length < need) input = new Float32Array(need);
        let anyRaw = false;
        const errors: (WireError | null)[] = [];
        // One part of ids travels as the batch's own array; raw parts are resolved into a new one.
        let ids: Int32Array;
        if (job.parts.length === 1 && job.parts[0]!.ids !== undefined) ids = job.parts[0]!.ids;
        else {
          ids = new Int32Array(job.rows * F);
          for (let i = 0, row = 0; i < job.parts.length; row += job.parts[i]!.rows, i++) {
            const part = job.parts[i]!;
            const at = ids.subarray(row * F, (row + part.rows) * F);
            if (part.ids !== undefined) {
              at.set(part.ids.subarray(0, part.rows * F));
              errors.push(null);
              continue;
            }
            anyRaw = true;
            try {
              if (vocab === null) throw new MpeError('MPE_ERR_SCORER_RUN', 'this worker has no vocabulary: raw values must be resolved before dispatch');
              resolveRawPart(part.raw, fieldSpecs!, vocab, at);
              errors.push(null);
            } catch (e) {
              // Only this part fails: score OOV rows in its place, the other requests are unharmed.
              for (let k = 0; k < at.length; k++) at[k] = oov![k % F]!;
              errors.push(wire(e));
            }
          }
        }
        const t1 = nowNs();
        dequantizeBatch(job, ids, input);
        const t2 = nowNs();
        const p = await scoreBatch(session.session, input, job.rows, inputDim);
        const t3 = nowNs();
        // The output may be a view on onnxruntime's buffer: copy exactly `rows` floats and transfer.
        const out = new Float32Array(p);
        const back = anyRaw ? ids : null;
        post({ type: 'done', seq: job.seq, probabilities: out, ids: back, errors, times: [t0, t1, t2, t3, nowNs()] }, back === null ? [out.buffer as ArrayBuffer] : [out.buffer as ArrayBuffer, back.buffer as ArrayBuffer]);
      } catch (e) {
        post({ type: 'failed', seq: job.seq, error: wire(e) });
      }
    })();
  });

  /**
   * Dequantizes the batch into `out`. A part with a context: the context fields' rows are
   * dequantized ONCE into a template row, copied into each candidate's input, and only the other
   * fields are dequantized per candidate.
   */
  function dequantizeBatch(job: ScoreJob, ids: Int32Array, out: Float32Array): void {
    let plain = true;
    for (const part of job.parts) if (part.raw?.context) plain = false;
    if (plain) {
      table.dequantize(ids, job.rows * F, out, 0);
      return;
    }
    for (let i = 0, row = 0; i < job.parts.length; row += job.parts[i]!.rows, i++) {
      const part = job.parts[i]!;
      const mask = part.raw?.context?.mask;
      if (mask === undefined) {
        table.dequantize(ids.subarray(row * F, (row + part.rows) * F), part.rows * F, out, row * inputDim);
        continue;
      }
      const template = new Float32Array(inputDim);
      for (let f = 0; f < F; f++) if (mask[f] === 1) table.dequantize(ids.subarray(row * F + f, row * F + f + 1), 1, template, f * d);
      // Runs of consecutive per-candidate fields, dequantized with one call per run and row.
      const runs: number[] = [];
      for (let f = 0; f < F; f++) {
        if (mask[f] === 1) continue;
        const a = f;
        while (f + 1 < F && mask[f + 1] === 0) f++;
        runs.push(a, f + 1);
      }
      for (let r = row; r < row + part.rows; r++) {
        out.set(template, r * inputDim);
        for (let k = 0; k < runs.length; k += 2) {
          const a = runs[k]!;
          const b = runs[k + 1]!;
          table.dequantize(ids.subarray(r * F + a, r * F + b), b - a, out, r * inputDim + a * d);
        }
      }
    }
  }
}

main().catch((e: unknown) => {
  parentPort?.postMessage({ type: 'init-error', error: wire(e instanceof MpeError ? e : new MpeError('MPE_ERR_SCORER_RUN', String(e))) });
});
