/**
 * The run summary `mpe train --json` prints: everything the bundle's manifest records about the
 * run, in one object a researcher can tabulate without opening the bundle: data and split sizes,
 * metrics, memory (average bits per weight, weights-only and all-in ratios, bytes), the MPE search
 * (lambda, tau, G, group size and pad, bits per group, budget probes), and per phase the epochs
 * run, best epoch, samples/s and the per-epoch history; plus wall time.
 */
import { compressionRatios } from '../bundle/summary.js';
import { groupRows } from '../codec/layout.js';
import type { TrainResult } from './trainer.js';

export interface PhaseSummary {
  readonly name: string;
  readonly epochs: number;
  readonly bestEpoch: number;
  /** Training samples / training seconds (evaluation excluded). */
  readonly samplesPerSecond: number;
  readonly trainSeconds: number;
  readonly history: readonly { epoch: number; trainLoss: number; validAuc: number; validLogLoss: number; seconds: number; samplesPerSecond: number }[];
}

/** Builds the summary of a finished run; `wallSeconds` is the caller's wall time (ingestion included). */
export function runSummary(r: TrainResult, wallSeconds: number): Record<string, unknown> {
  const m = r.manifest;
  const t = m.table;
  let bitSum = 0;
  for (let g = 0; g < t.bitsPerGroup.length; g++) bitSum += groupRows(g, m.featureCount, t.groupSize, t.groupPad ?? 0) * t.bitsPerGroup[g]!;
  const averageBits = t.kind === 'rowwise' ? Number.NaN : bitSum / Math.max(m.featureCount, 1);
  const ratios = compressionRatios(m.d, m.featureCount, averageBits, m.files['table.bin'].bytes, m.files['vocab.bin'].bytes);
  const phases: PhaseSummary[] = r.phases.map((p) => ({
    name: p.name,
    epochs: p.history.length,
    bestEpoch: p.bestEpoch,
    samplesPerSecond: p.samples / Math.max(p.trainSeconds, 1e-9),
    trainSeconds: p.trainSeconds,
    history: p.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, validAuc: h.valid.auc, validLogLoss: h.valid.logLoss, seconds: h.seconds, samplesPerSecond: h.samplesPerSecond })),
  }));
  const training = m.training as Record<string, unknown>;
  const { mpe, ...options } = training;
  return {
    bundleDir: r.bundleDir,
    method: m.model.method,
    data: m.data,
    rows: r.dataset.rows,
    featureCount: r.dataset.featureCount,
    skippedLines: r.dataset.stats.skipped,
    metrics: r.metrics,
    memory: {
      averageBits,
      weightsOnlyRatio: ratios.weightsOnly,
      allInRatio: ratios.allIn,
      allInBytes: ratios.allInBytes,
      fp32AllInBytes: ratios.fp32AllInBytes,
      tableBytes: m.files['table.bin'].bytes,
      vocabBytes: m.files['vocab.bin'].bytes,
      groupSize: t.groupSize,
      groupPad: t.groupPad ?? 0,
      groupCount: t.groupCount,
      bitsPerGroup: t.bitsPerGroup,
    },
    options,
    mpe: mpe ?? null,
    phases,
    samplesPerSecond: r.samplesPerSecond,
    times: r.times,
    wallSeconds,
  };
}
