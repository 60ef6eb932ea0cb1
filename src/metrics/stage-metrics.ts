/**
 * Score stage metrics: one histogram, `mpe_score_stage_seconds{stage}`, with every stage of every
 * successful Score (util/score-timing.ts: decode, queue, to_worker, resolve, dequantize, onnx,
 * to_main, encode). The label children are made once here, so an observation costs no label
 * lookup: 8 `observe` calls per request.
 */
import { Histogram, type Registry } from 'prom-client';
import { SCORE_STAGES, type ScoreTiming } from '../util/score-timing.js';

/** Seconds: 10 us .. 1 s (a hop between threads takes tens of microseconds, an onnxruntime run milliseconds). */
export const STAGE_BUCKETS: readonly number[] = Object.freeze([0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);

export interface StageMetrics {
  /** Records every stage of one answered Score. */
  observe(timing: ScoreTiming): void;
}

export function createStageMetrics(registry: Registry): StageMetrics {
  const histogram = new Histogram({
    name: 'mpe_score_stage_seconds',
    help: 'Time of each stage of a successful Score request (decode, queue, to_worker, resolve, dequantize, onnx, to_main, encode)',
    labelNames: ['stage'],
    buckets: [...STAGE_BUCKETS],
    registers: [registry],
  });
  const children = SCORE_STAGES.map((stage) => histogram.labels({ stage }));
  return {
    observe(timing): void {
      const s = timing.seconds;
      for (let i = 0; i < children.length; i++) children[i]!.observe(s[i]!);
    },
  };
}
