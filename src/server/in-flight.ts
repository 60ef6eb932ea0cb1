/**
 * Request admission for graceful shutdown: counts requests in flight, refuses new ones once
 * draining, and resolves `drained()` when the last one finishes. Shared by both transports.
 */
import { MpeError } from '../errors.js';

export class InFlight {
  private count = 0;
  private draining = false;
  private waiters: (() => void)[] = [];

  get active(): number {
    return this.count;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Admits a request. @throws MpeError MPE_ERR_SHUTTING_DOWN once draining */
  enter(): void {
    if (this.draining) throw new MpeError('MPE_ERR_SHUTTING_DOWN');
    this.count++;
  }

  leave(): void {
    this.count--;
    if (this.count === 0 && this.draining) for (const w of this.waiters.splice(0)) w();
  }

  /** Stops admitting; resolves when every admitted request has left. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.count === 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }
}
