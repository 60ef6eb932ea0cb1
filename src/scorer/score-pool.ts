/**
 * Scoring off the event loop: a pool of worker threads, each with its own onnxruntime session,
 * fed by a micro-batcher and a bounded queue.
 *
 * - Requests queue as (ids, rows). A worker takes as many queued requests as fit in
 *   min(`maxBatchRows`, its share of the queued rows) (at least one), so concurrent requests
 *   share one onnxruntime run without starving the other workers.
 * - When a request arrives and a worker is idle, dispatch waits up to `maxWaitUs` for company
 *   (below 1 ms: until the end of the current event-loop turn, `setImmediate`); when a worker
 *   frees up and requests are waiting, it takes them at once (they have already waited).
 * - The queue is bounded (`queueLimit` requests): beyond it, `score` rejects at once with
 *   MPE_ERR_OVERLOADED instead of letting latency grow without limit.
 * - Queue time is bounded too (`maxQueueMs`): a request that waited longer for a worker is shed
 *   with MPE_ERR_OVERLOADED when its batch is formed, and never scored. Past saturation the
 *   queue then holds at most about `maxQueueMs` of work, so answers stay useful (they arrive
 *   before the client's deadline) instead of every request timing out after being scored.
 * - {@link ScorePool.overloaded} lets the transports shed BEFORE the expensive part of a request
 *   (protobuf/JSON decoding, vocabulary hashing): a shed request then costs almost nothing.
 * - Deadlines: a request whose deadline has passed (or whose client went away, `cancelled()`)
 *   when its batch is formed is rejected with MPE_ERR_REQ_DEADLINE and never scored.
 * - Raw values ({@link ScorePool.scoreRaw}) travel packed and are resolved through the vocabulary
 *   by the worker (vocab.bin is in a SharedArrayBuffer): the main thread only decodes, checks the
 *   fields and dispatches. A bad value fails its own request only, not the batch it rode in.
 * - A lone request (nothing else queued) of at least 2 x `splitMinRows` rows is split across the
 *   idle workers, one slice each, so every core works on it; under load the queue is rarely
 *   alone and batches form as before.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MpeError } from '../errors.js';
import { nowNs, type ScoreTiming } from '../util/score-timing.js';
import { type RawPart, sliceRawPart } from '../vocab/packed-values.js';
import type { JobPart, ScoreWorkerInit, WorkerMessage } from './score-worker-protocol.js';
import { type ActiveProvider, disableOrtTelemetry } from './session.js';

export interface ScorePoolOptions {
  readonly workers: number;
  readonly maxBatchRows: number;
  readonly maxWaitUs: number;
  readonly queueLimit: number;
  /** Longest a request may wait for a worker (ms); older ones are shed with MPE_ERR_OVERLOADED. Infinity = no limit. */
  readonly maxQueueMs: number;
  readonly init: ScoreWorkerInit;
  /** Called once per dispatched micro-batch with its row count (metrics). */
  readonly onBatch?: (rows: number) => void;
  /**
   * A request alone in the queue with at least twice this many rows is split across the idle
   * workers (slices of at least this many rows); 0 = never split. Default 16.
   */
  readonly splitMinRows?: number;
}

/** A scored request: its probabilities, and its ids (resolved by the worker for raw values). */
export interface Scored {
  readonly probabilities: Float32Array;
  readonly ids: Int32Array;
}

interface Pending {
  /** Ids (range-checked), or null for raw values. */
  readonly ids: Int32Array | null;
  readonly raw: RawPart | null;
  readonly rows: number;
  /** Absolute deadline, ms since the epoch (Infinity = none). */
  readonly deadline: number;
  /** When it entered the queue, ms since the epoch. */
  readonly enqueuedAt: number;
  /** Never shed for its queue age (a warm-up: a busy start-up must not fail it). */
  readonly exempt?: boolean;
  /** True once the caller has gone away (its answer would be thrown away); null = cannot tell. */
  readonly cancelled: (() => boolean) | null;
  readonly resolve: (r: Scored) => void;
  readonly reject: (e: unknown) => void;
  /** Where this request's stage times go (the slices of a split request share their request's); null = not timed. */
  readonly timing: ScoreTiming | null;
}

interface Slot {
  readonly index: number;
  worker: Worker;
  busy: Pending[] | null;
  seq: number;
  busySince: bigint;
  /** Total busy time, nanoseconds. */
  busyNs: bigint;
}

/**
 * Starts the worker script next to this file: `.js` from dist directly; `.ts` (running from src
 * under tsx) through a tiny eval bootstrap that registers tsx's loader first. Passing
 * `execArgv: ['--import', 'tsx']` does not work for workers on Node 20 (measured: "Unknown file
 * extension .ts"), the bootstrap does.
 */
function spawnWorker(init: ScoreWorkerInit): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  const url = new URL(`./score-worker${ext}`, import.meta.url);
  if (ext !== '.ts') return new Worker(url, { workerData: init });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { eval: true, workerData: init });
}

/** A pool of scoring workers. Create with {@link ScorePool.create}. */
export class ScorePool {
  /** Provider the workers' sessions run on. */
  readonly provider: ActiveProvider;
  private readonly opts: ScorePoolOptions;
  private readonly slots: Slot[];
  private readonly idle: Slot[];
  private queue: Pending[] = [];
  private queuedRows = 0;
  private timerArmed = false;
  private closing = false;
  private drainWaiters: (() => void)[] = [];
  private readonly exited = new WeakSet<Worker>();
  private stoppedResolve: () => void = () => {};
  /** Resolves once {@link ScorePool.close} has terminated every worker. */
  readonly stopped: Promise<void> = new Promise((r) => {
    this.stoppedResolve = r;
  });
  private readonly fieldsPerRow: number;

  private constructor(opts: ScorePoolOptions, slots: Slot[], provider: ActiveProvider) {
    this.opts = opts;
    this.slots = slots;
    this.idle = slots.slice();
    this.provider = provider;
    this.fieldsPerRow = opts.init.fields;
    for (const s of slots) this.attach(s);
  }

  /** Starts `workers` threads and waits until every session is ready. Throws the first worker's start-up error. */
  static async create(opts: ScorePoolOptions): Promise<ScorePool> {
    disableOrtTelemetry();
    const started = await Promise.allSettled(Array.from({ length: opts.workers }, () => startWorker(opts.init)));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.worker.terminate() : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    const ok = started as PromiseFulfilledResult<{ worker: Worker; provider: ActiveProvider }>[];
    const slots = ok.map((r, index): Slot => ({ index, worker: r.value.worker, busy: null, seq: 0, busySince: 0n, busyNs: 0n }));
    return new ScorePool(opts, slots, ok[0]!.value.provider);
  }

  /** Requests waiting for a worker. */
  get queueDepth(): number {
    return this.queue.length;
  }

  get workerCount(): number {
    return this.slots.length;
  }

  /** Worker threads that have not exited (0 once closed: a swapped-out model keeps no threads). */
  get aliveWorkers(): number {
    let n = 0;
    for (let i = 0; i < this.slots.length; i++) if (!this.exited.has(this.slots[i]!.worker)) n++;
    return n;
  }

  /** Busy nanoseconds of each worker so far (including the current run). */
  busyNanoseconds(): bigint[] {
    const now = process.hrtime.bigint();
    return this.slots.map((s) => s.busyNs + (s.busy ? now - s.busySince : 0n));
  }

  /**
   * Why a new request would be shed now, or null when it would be admitted: the queue is full, or
   * its oldest request has already waited longer than `maxQueueMs` (the workers are behind, a new
   * one would wait longer still). Cheap (no allocation unless shedding): the transports call it
   * before decoding a request.
   */
  overloaded(now = Date.now()): MpeError | null {
    if (this.queue.length >= this.opts.queueLimit) {
      return new MpeError('MPE_ERR_OVERLOADED', `${this.queue.length} requests queued (MPE_QUEUE_LIMIT=${this.opts.queueLimit})`);
    }
    if (this.queue.length > 0 && now - this.queue[0]!.enqueuedAt > this.opts.maxQueueMs) {
      return new MpeError('MPE_ERR_OVERLOADED', `oldest queued request waited ${now - this.queue[0]!.enqueuedAt} ms (MPE_MAX_QUEUE_MS=${this.opts.maxQueueMs})`);
    }
    return null;
  }

  /**
   * Scores `rows` rows of ids (row-major, `fields` ids per row, all already range-checked).
   * @param deadline absolute deadline in ms since the epoch (Infinity = none)
   * @param cancelled true once the caller has gone away (checked when the batch is formed)
   * @throws MpeError MPE_ERR_OVERLOADED (queue full, or waited over maxQueueMs), MPE_ERR_SHUTTING_DOWN, MPE_ERR_REQ_DEADLINE, MPE_ERR_SCORER_RUN
   */
  score(ids: Int32Array, rows: number, deadline: number, cancelled: (() => boolean) | null = null, timing: ScoreTiming | null = null): Promise<Float32Array> {
    return this.enqueue(ids, null, rows, deadline, cancelled, false, timing).then((r) => r.probabilities);
  }

  /**
   * Scores `rows` rows of ids like {@link ScorePool.score}, but never sheds them for queue length
   * or age: the readiness warm-up. Under heavy load a start-up's first score waited 661-888 ms
   * for the event loop (box at load ~19) and was shed by MPE_MAX_QUEUE_MS=300, failing start-up.
   */
  warm(ids: Int32Array, rows: number): Promise<Float32Array> {
    return this.enqueue(ids, null, rows, Number.POSITIVE_INFINITY, null, true).then((r) => r.probabilities);
  }

  /** Whether the workers resolve raw values themselves ({@link ScorePool.scoreRaw}). */
  get resolvesRaw(): boolean {
    return this.opts.init.vocabBuffer !== undefined && this.opts.init.fieldSpecs !== undefined;
  }

  /**
   * Scores a request of raw values (fields already checked): the worker resolves them.
   * @throws MpeError as {@link ScorePool.score}, and MPE_ERR_REQ_NUMERIC naming the row and field of a bad numeric value
   */
  scoreRaw(part: RawPart, deadline: number, cancelled: (() => boolean) | null = null, timing: ScoreTiming | null = null): Promise<Scored> {
    return this.enqueue(null, part, part.rows, deadline, cancelled, false, timing);
  }

  private enqueue(ids: Int32Array | null, raw: RawPart | null, rows: number, deadline: number, cancelled: (() => boolean) | null, exempt = false, timing: ScoreTiming | null = null): Promise<Scored> {
    if (this.closing) return Promise.reject(new MpeError('MPE_ERR_SHUTTING_DOWN'));
    const now = Date.now();
    const shed = exempt ? null : this.overloaded(now);
    if (shed !== null) return Promise.reject(shed);
    return new Promise<Scored>((resolve, reject) => {
      timing?.enqueued(nowNs());
      this.queue.push({ ids, raw, rows, deadline, enqueuedAt: now, cancelled, resolve, reject, exempt, timing });
      this.queuedRows += rows;
      this.pump(false);
    });
  }

  /**
   * Runs one real score of `rows` rows of `ids` on EVERY worker (hot-reload warm-up, before the
   * pool takes traffic: every worker must be idle). Rejects with the first worker's error.
   */
  warmEach(ids: Int32Array, rows: number): Promise<Float32Array[]> {
    const slots = this.idle.splice(0);
    return Promise.all(
      slots.map(
        (slot) =>
          new Promise<Float32Array>((resolve, reject) => {
            const copy = ids.slice();
            slot.busy = [{ ids: copy, raw: null, rows, deadline: Number.POSITIVE_INFINITY, enqueuedAt: Date.now(), cancelled: null, resolve: (r) => resolve(r.probabilities), reject, timing: null }];
            slot.seq++;
            slot.busySince = process.hrtime.bigint();
            slot.worker.postMessage({ seq: slot.seq, rows, parts: [{ rows, ids: copy }] }, [copy.buffer as ArrayBuffer]);
          }),
      ),
    );
  }

  /** Stops accepting work, lets queued and running batches finish, then terminates the workers. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.queue.length > 0 || this.slots.some((s) => s.busy !== null)) {
      await new Promise<void>((r) => this.drainWaiters.push(r));
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.stoppedResolve();
  }

  private pump(flush: boolean): void {
    // Computed once per round, before several idle workers take their parts.
    const budget = Math.min(this.opts.maxBatchRows, Math.ceil(this.queuedRows / this.slots.length));
    while (this.idle.length > 0 && this.queue.length > 0) {
      if (!flush && this.opts.maxWaitUs > 0 && this.queuedRows < this.opts.maxBatchRows) {
        this.armTimer();
        return;
      }
      if (this.queue.length === 1 && this.idle.length >= 2) this.split();
      this.dispatch(this.idle.pop()!, budget);
    }
    if (this.queue.length === 0 && this.drainWaiters.length > 0 && this.slots.every((s) => s.busy === null)) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }

  private armTimer(): void {
    if (this.timerArmed) return;
    this.timerArmed = true;
    const fire = (): void => {
      this.timerArmed = false;
      this.pump(true);
    };
    if (this.opts.maxWaitUs < 1000) setImmediate(fire);
    else setTimeout(fire, this.opts.maxWaitUs / 1000);
  }

  /**
   * Splits the one queued request into a slice per idle worker (each >= splitMinRows rows); the
   * request resolves once every slice has, and fails with the first slice that fails.
   */
  private split(): void {
    const min = this.opts.splitMinRows ?? 16;
    const p = this.queue[0]!;
    const k = min > 0 ? Math.min(this.idle.length, Math.floor(p.rows / min)) : 0;
    if (k < 2) return;
    const F = this.fieldsPerRow;
    const probabilities = new Float32Array(p.rows);
    const ids = p.ids ?? new Int32Array(p.rows * F);
    let left = k;
    let failed = false;
    const slices: Pending[] = [];
    for (let c = 0; c < k; c++) {
      const r0 = Math.floor((c * p.rows) / k);
      const r1 = Math.floor(((c + 1) * p.rows) / k);
      slices.push({
        ids: p.ids === null ? null : p.ids.slice(r0 * F, r1 * F),
        raw: p.raw === null ? null : sliceRawPart(p.raw, F, r0, r1),
        rows: r1 - r0,
        deadline: p.deadline,
        enqueuedAt: p.enqueuedAt,
        exempt: p.exempt,
        cancelled: p.cancelled,
        timing: p.timing,
        resolve: (r) => {
          probabilities.set(r.probabilities, r0);
          if (p.ids === null) ids.set(r.ids, r0 * F);
          if (--left === 0 && !failed) p.resolve({ probabilities, ids });
        },
        reject: (e) => {
          if (failed) return;
          failed = true;
          p.reject(e);
        },
      });
    }
    this.queue.splice(0, 1, ...slices);
  }

  /** @param budget most rows to take (at least one request is taken). */
  private dispatch(slot: Slot, budget: number): void {
    const now = Date.now();
    const batch: Pending[] = [];
    let rows = 0;
    // Share the queue among the workers instead of letting the first free one take everything that
    // fits: with 2 queued requests and 2 workers, each worker runs one (the other frees up soon),
    // rather than one worker running a double batch while the other idles. Under heavy load the
    // share exceeds maxBatchRows and batches are full as before.
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (batch.length > 0 && rows + next.rows > budget) break;
      this.queue.shift();
      this.queuedRows -= next.rows;
      if (next.deadline <= now) {
        next.reject(new MpeError('MPE_ERR_REQ_DEADLINE', 'deadline passed while queued'));
        continue;
      }
      if (next.exempt !== true && now - next.enqueuedAt > this.opts.maxQueueMs) {
        next.reject(new MpeError('MPE_ERR_OVERLOADED', `waited ${now - next.enqueuedAt} ms for a worker (MPE_MAX_QUEUE_MS=${this.opts.maxQueueMs})`));
        continue;
      }
      if (next.cancelled?.()) {
        next.reject(new MpeError('MPE_ERR_REQ_DEADLINE', 'the client went away while the request was queued'));
        continue;
      }
      batch.push(next);
      rows += next.rows;
    }
    if (batch.length === 0) {
      this.idle.push(slot);
      return;
    }
    const F = this.fieldsPerRow;
    const parts: JobPart[] = [];
    const transfer: ArrayBuffer[] = [];
    for (let i = 0; i < batch.length; i++) {
      const p = batch[i]!;
      if (p.raw !== null) {
        parts.push({ rows: p.rows, raw: p.raw });
        continue;
      }
      // A whole buffer is transferred (the request never reads it again), a view is copied.
      const whole = p.ids!.byteOffset === 0 && p.ids!.byteLength === p.ids!.buffer.byteLength && p.ids!.length === p.rows * F;
      const ids = whole ? p.ids! : p.ids!.slice(0, p.rows * F);
      parts.push({ rows: p.rows, ids });
      transfer.push(ids.buffer as ArrayBuffer);
    }
    slot.busy = batch;
    slot.seq++;
    slot.busySince = process.hrtime.bigint();
    this.opts.onBatch?.(rows);
    slot.worker.postMessage({ seq: slot.seq, rows, parts }, transfer);
  }

  private finish(slot: Slot, done: (WorkerMessage & { type: 'done' }) | null, error: unknown): void {
    const batch = slot.busy;
    slot.busy = null;
    const finished = process.hrtime.bigint();
    slot.busyNs += finished - slot.busySince;
    if (batch !== null) {
      const F = this.fieldsPerRow;
      const dispatchedNs = Number(slot.busySince);
      const finishedNs = Number(finished);
      let off = 0;
      for (let i = 0; i < batch.length; i++) {
        const p = batch[i]!;
        const partError = done?.errors[i] ?? null;
        if (done !== null && p.timing !== null) p.timing.scored(dispatchedNs, done.times, finishedNs);
        if (done === null) p.reject(error);
        else if (partError !== null) p.reject(new MpeError(partError.code, partError.detail));
        else p.resolve({ probabilities: done.probabilities.subarray(off, off + p.rows), ids: p.ids ?? done.ids!.subarray(off * F, (off + p.rows) * F) });
        off += p.rows;
      }
    }
    this.idle.push(slot);
    this.pump(true);
  }

  private attach(slot: Slot): void {
    const w = slot.worker;
    w.once('exit', () => this.exited.add(w));
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'done' && m.seq === slot.seq) this.finish(slot, m, null);
      else if (m.type === 'failed' && m.seq === slot.seq) this.finish(slot, null, new MpeError(m.error.code, m.error.detail));
    });
    w.on('error', (e) => this.crashed(slot, e));
    w.on('exit', (code) => {
      if (!this.closing) this.crashed(slot, new Error(`worker exited with code ${code}`));
    });
  }

  /** A worker died: fail its batch, replace it. */
  private crashed(slot: Slot, e: unknown): void {
    if (this.closing && slot.busy === null) return;
    const err = new MpeError('MPE_ERR_SCORER_RUN', `score worker ${slot.index} failed: ${e instanceof Error ? e.message : String(e)}`);
    const idleAt = this.idle.indexOf(slot);
    if (idleAt >= 0) this.idle.splice(idleAt, 1);
    const batch = slot.busy;
    slot.busy = null;
    if (batch !== null) for (const p of batch) p.reject(err);
    slot.worker.removeAllListeners();
    void slot.worker.terminate();
    if (this.closing) {
      this.pump(true);
      return;
    }
    startWorker(this.opts.init).then(
      ({ worker }) => {
        slot.worker = worker;
        this.attach(slot);
        this.idle.push(slot);
        this.pump(true);
      },
      () => {
        // Cannot restart: leave the slot out; remaining workers keep serving.
      },
    );
  }
}

function startWorker(init: ScoreWorkerInit): Promise<{ worker: Worker; provider: ActiveProvider }> {
  const worker = spawnWorker(init);
  return new Promise((resolve, reject) => {
    const onMessage = (m: WorkerMessage): void => {
      cleanup();
      if (m.type === 'ready') resolve({ worker, provider: m.provider });
      else if (m.type === 'init-error') {
        void worker.terminate();
        reject(new MpeError(m.error.code, m.error.detail));
      }
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new MpeError('MPE_ERR_SCORER_RUN', `score worker failed to start: ${e.message}`));
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new MpeError('MPE_ERR_SCORER_RUN', `score worker exited during start-up (code ${code})`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
