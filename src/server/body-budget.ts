/**
 * Bytes of request bodies all connections together may hold in memory while they arrive
 * (MPE_MAX_BODY_BUFFER_BYTES). Without it, every connection up to MPE_MAX_CONNECTIONS could hold
 * a body of up to MPE_MAX_MESSAGE_BYTES: measured, 100 connections each holding all but the last
 * byte of a 4 MB body took a replica from 192 to 411 MiB RSS; at the 10,000-connection default
 * that is tens of GB.
 */
export class BodyBudget {
  private held = 0;

  constructor(readonly maxBytes: number) {}

  /** Takes `bytes` and returns true, or returns false (nothing taken) when they would exceed the budget. */
  take(bytes: number): boolean {
    if (this.held + bytes > this.maxBytes) return false;
    this.held += bytes;
    return true;
  }

  /** Gives back bytes taken earlier. */
  give(bytes: number): void {
    this.held -= bytes;
  }

  /** Bytes held now. */
  get heldBytes(): number {
    return this.held;
  }
}
