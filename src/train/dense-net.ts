/**
 * The dense part of the model (MLP with BatchNorm) and its training: gradients from the
 * onnxruntime train-step graph (`train-graph.ts`), Adam in TypeScript (`dense-adam.ts`), and
 * BatchNorm running statistics kept as PyTorch does (momentum 0.1, unbiased batch variance) for
 * the exported inference scorer.
 */
import * as ort from 'onnxruntime-node';
import { MpeError } from '../errors.js';
import type { MlpWeights } from '../scorer/mlp.js';
import { createScorerSession } from '../scorer/session.js';
import { createRng } from '../util/random.js';
import { DenseAdam, type DenseAdamSnapshot } from './dense-adam.js';
import {
  bnMeanName,
  bnVarName,
  buildTrainStepGraph,
  gradName,
  TRAIN_INPUT_X,
  TRAIN_INPUT_Y,
  TRAIN_OUTPUT_DX,
  TRAIN_OUTPUT_LOSS,
  type TrainGraphSpec,
  trainParamNames,
  trainParamShapes,
} from './train-graph.js';

export interface DenseNetOptions {
  readonly inputDim: number;
  readonly hidden: readonly number[];
  /** Default true. */
  readonly batchNorm?: boolean;
  /** Default 1e-5 (PyTorch). */
  readonly bnEps?: number;
  /** Running-statistics momentum, PyTorch convention (default 0.1). */
  readonly bnMomentum?: number;
  /** Adam learning rate (default 1e-3). */
  readonly lr?: number;
  /** L2 weight decay on the dense parameters (default 0). */
  readonly weightDecay?: number;
  /** Initialisation seed (default 2022). */
  readonly seed?: number;
  /** onnxruntime intra-op threads (default: one per core). */
  readonly intraOpThreads?: number;
}

/** Gradients of one batch (views on onnxruntime's output buffers, valid until the next call). */
export interface DenseGradients {
  readonly loss: number;
  /** dL/dx, `rows * inputDim`. */
  readonly dx: Float32Array;
  /** One per parameter, in {@link DenseNet.names} order. */
  readonly grads: Float32Array[];
  /** Per BatchNorm layer: batch mean and biased batch variance. */
  readonly batchMean: Float32Array[];
  readonly batchVar: Float32Array[];
}

export interface DenseNetSnapshot {
  readonly params: Float32Array[];
  readonly runningMean: Float32Array[];
  readonly runningVar: Float32Array[];
  readonly adam: DenseAdamSnapshot;
}

/** The MLP's parameters, optimiser and train-step session. Create with {@link DenseNet.create}. */
export class DenseNet {
  readonly spec: TrainGraphSpec;
  readonly names: readonly string[];
  readonly params: readonly Float32Array[];
  readonly runningMean: readonly Float32Array[];
  readonly runningVar: readonly Float32Array[];
  readonly optimizer: DenseAdam;
  private readonly momentum: number;
  private readonly session: ort.InferenceSession;
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly gradNames: string[];

  private constructor(spec: TrainGraphSpec, params: Float32Array[], session: ort.InferenceSession, o: DenseNetOptions) {
    this.spec = spec;
    this.names = trainParamNames(spec);
    this.params = params;
    this.session = session;
    this.momentum = o.bnMomentum ?? 0.1;
    const widths = spec.batchNorm ? spec.hidden : [];
    this.runningMean = widths.map((w) => new Float32Array(w));
    this.runningVar = widths.map((w) => new Float32Array(w).fill(1));
    // Weight decay on weight matrices and biases (PyTorch's Adam(weight_decay) over model.parameters() decays all).
    this.optimizer = new DenseAdam(params, { lr: o.lr ?? 1e-3, weightDecay: o.weightDecay ?? 0 });
    const shapes = trainParamShapes(spec);
    // Parameter tensors wrap the live arrays: Adam updates them in place, so they are built once.
    this.feeds = {};
    for (let i = 0; i < params.length; i++) this.feeds[this.names[i]!] = new ort.Tensor('float32', params[i]!, shapes[i]!);
    this.gradNames = this.names.map(gradName);
  }

  /** Initialises the parameters (PyTorch Linear default: U(-1/sqrt(in), 1/sqrt(in)); BN gamma 1, beta 0) and starts the session. */
  static async create(o: DenseNetOptions): Promise<DenseNet> {
    if (!Number.isInteger(o.inputDim) || o.inputDim < 1) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `inputDim must be a positive integer, got ${o.inputDim}`);
    for (const h of o.hidden) if (!Number.isInteger(h) || h < 1) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `hidden sizes must be positive integers, got ${o.hidden.join(',')}`);
    const spec: TrainGraphSpec = { inputDim: o.inputDim, hidden: o.hidden.slice(), batchNorm: o.batchNorm ?? true, bnEps: o.bnEps ?? 1e-5 };
    const rng = createRng(o.seed ?? 2022);
    const names = trainParamNames(spec);
    const shapes = trainParamShapes(spec);
    const params: Float32Array[] = [];
    let fanIn = spec.inputDim;
    for (let i = 0; i < names.length; i++) {
      const shape = shapes[i]!;
      const n = shape.reduce((a, b) => a * b, 1);
      const p = new Float32Array(n);
      const name = names[i]!;
      if (name.endsWith('.gamma')) p.fill(1);
      else if (!name.endsWith('.beta')) {
        if (name.endsWith('.W')) fanIn = shape[1]!;
        const bound = 1 / Math.sqrt(fanIn);
        for (let k = 0; k < n; k++) p[k] = (2 * rng.next() - 1) * bound;
      }
      params.push(p);
    }
    const bytes = buildTrainStepGraph(spec);
    // No spin-waiting: on this shared 2-core box the train step ran at 145 ms with spinning off vs
    // 183 ms with it on (batch 2048, 2 threads, other processes busy; docs/training.md).
    const { session } = await createScorerSession(bytes, {
      provider: 'cpu',
      allowSpinning: false,
      ...(o.intraOpThreads !== undefined ? { intraOpThreads: o.intraOpThreads } : {}),
    });
    return new DenseNet(spec, params, session, o);
  }

  /** Runs the train-step graph on `rows` inputs `x` (rows * inputDim) with 0/1 labels `y` (rows). No update. */
  async gradients(x: Float32Array, y: Float32Array, rows: number): Promise<DenseGradients> {
    const feeds = this.feeds;
    feeds[TRAIN_INPUT_X] = new ort.Tensor('float32', x.subarray(0, rows * this.spec.inputDim), [rows, this.spec.inputDim]);
    feeds[TRAIN_INPUT_Y] = new ort.Tensor('float32', y.subarray(0, rows), [rows, 1]);
    const out = await this.session.run(feeds);
    const grads = this.gradNames.map((n) => out[n]!.data as Float32Array);
    const L = this.runningMean.length;
    const batchMean: Float32Array[] = [];
    const batchVar: Float32Array[] = [];
    for (let l = 0; l < L; l++) {
      batchMean.push(out[bnMeanName(l)]!.data as Float32Array);
      batchVar.push(out[bnVarName(l)]!.data as Float32Array);
    }
    return { loss: (out[TRAIN_OUTPUT_LOSS]!.data as Float32Array)[0]!, dx: out[TRAIN_OUTPUT_DX]!.data as Float32Array, grads, batchMean, batchVar };
  }

  /** Applies one Adam step and updates the BatchNorm running statistics from a batch of `rows`. */
  applyGradients(g: DenseGradients, rows: number): void {
    this.optimizer.stepWith(g.grads);
    const m = this.momentum;
    const unbias = rows > 1 ? rows / (rows - 1) : 1;
    for (let l = 0; l < this.runningMean.length; l++) {
      const rm = this.runningMean[l]!;
      const rv = this.runningVar[l]!;
      const bm = g.batchMean[l]!;
      const bv = g.batchVar[l]!;
      for (let k = 0; k < rm.length; k++) {
        rm[k] = (1 - m) * rm[k]! + m * bm[k]!;
        rv[k] = (1 - m) * rv[k]! + m * bv[k]! * unbias;
      }
    }
  }

  /** Copy of the weights in the scorer's form (inference BatchNorm with the running statistics). */
  toMlpWeights(): MlpWeights {
    const p = this.params;
    const hidden: MlpWeights['hidden'] = [];
    let i = 0;
    for (let l = 0; l < this.spec.hidden.length; l++) {
      const W = p[i++]!.slice();
      const b = p[i++]!.slice();
      if (this.spec.batchNorm) {
        const gamma = p[i++]!.slice();
        const beta = p[i++]!.slice();
        hidden.push({ W, b, bn: { gamma, beta, mean: this.runningMean[l]!.slice(), variance: this.runningVar[l]!.slice(), eps: this.spec.bnEps } });
      } else hidden.push({ W, b });
    }
    return { inputDim: this.spec.inputDim, hidden, out: { W: p[i++]!.slice(), b: p[i++]!.slice() } };
  }

  /** Number of dense parameters. */
  get parameterCount(): number {
    let n = 0;
    for (const p of this.params) n += p.length;
    return n;
  }

  snapshot(): DenseNetSnapshot {
    return {
      params: this.params.map((a) => a.slice()),
      runningMean: this.runningMean.map((a) => a.slice()),
      runningVar: this.runningVar.map((a) => a.slice()),
      adam: this.optimizer.snapshot(),
    };
  }

  restore(s: DenseNetSnapshot): void {
    for (let i = 0; i < this.params.length; i++) this.params[i]!.set(s.params[i]!);
    for (let l = 0; l < this.runningMean.length; l++) {
      this.runningMean[l]!.set(s.runningMean[l]!);
      this.runningVar[l]!.set(s.runningVar[l]!);
    }
    this.optimizer.restore(s.adam);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
