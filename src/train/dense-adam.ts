/**
 * Adam over a list of dense Float32Array parameters (the MLP; MPE's alpha, beta and logits).
 * Weight decay is PyTorch Adam's L2 form (g += wd * w), applied only where `decay[i]` is true.
 */
import { MpeError } from '../errors.js';

export interface DenseAdamOptions {
  /** Learning rate (default 1e-3). */
  readonly lr?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** L2 weight decay (default 0). */
  readonly weightDecay?: number;
  /** Per parameter: apply weight decay (default: all). */
  readonly decay?: readonly boolean[];
}

export interface DenseAdamSnapshot {
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  readonly step: number;
}

/** Adam over `params` (updated in place by {@link DenseAdam.step}). */
export class DenseAdam {
  readonly params: readonly Float32Array[];
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private readonly decay: readonly boolean[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  step = 0;

  constructor(params: readonly Float32Array[], o: DenseAdamOptions = {}) {
    this.params = params;
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
    this.lr = o.lr ?? 1e-3;
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
    this.decay = o.decay ?? params.map(() => true);
    if (this.decay.length !== params.length) throw new MpeError('MPE_ERR_TRAIN_CONFIG', 'decay flags must match the parameter list');
  }

  /** One Adam step; `grads[i]` has the length of `params[i]`. */
  stepWith(grads: readonly Float32Array[]): void {
    if (grads.length !== this.params.length) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `expected ${this.params.length} gradients, got ${grads.length}`);
    this.step++;
    const { beta1, beta2, eps } = this;
    const stepSize = this.lr / (1 - beta1 ** this.step);
    const invSqrtBc2 = 1 / Math.sqrt(1 - beta2 ** this.step);
    const c1 = 1 - beta1;
    const c2 = 1 - beta2;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      const g = grads[i]!;
      const m = this.m[i]!;
      const v = this.v[i]!;
      const wd = this.decay[i] ? this.weightDecay : 0;
      if (g.length !== p.length) throw new MpeError('MPE_ERR_TRAIN_CONFIG', `gradient ${i} has ${g.length} values, parameter has ${p.length}`);
      for (let k = 0; k < p.length; k++) {
        const gk = g[k]! + wd * p[k]!;
        const mk = beta1 * m[k]! + c1 * gk;
        const vk = beta2 * v[k]! + c2 * gk * gk;
        m[k] = mk;
        v[k] = vk;
        p[k]! -= (stepSize * mk) / (Math.sqrt(vk) * invSqrtBc2 + eps);
      }
    }
  }

  /** Clears the moments and the step counter. */
  reset(): void {
    for (const a of this.m) a.fill(0);
    for (const a of this.v) a.fill(0);
    this.step = 0;
  }

  snapshot(): DenseAdamSnapshot {
    return { m: this.m.map((a) => a.slice()), v: this.v.map((a) => a.slice()), step: this.step };
  }

  restore(s: DenseAdamSnapshot): void {
    for (let i = 0; i < this.m.length; i++) {
      this.m[i]!.set(s.m[i]!);
      this.v[i]!.set(s.v[i]!);
    }
    this.step = s.step;
  }
}
