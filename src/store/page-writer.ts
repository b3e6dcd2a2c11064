import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { pageDecision, storeError, type Batching, type DeliveryRecord, type PageDecision, type SeenCall, type Store } from './store.js';
import type { DeliveryKind, IdentifierType, WaitReason } from '../domain/types.js';

/** Pages handed to the worker and not yet recorded, at most: bounds memory when SQLite is the slower side. */
const MAX_IN_FLIGHT = 2;
/**
 * The worker holds two pages of decisions at a time; V8's default young generation (48 MB) let its heap reach
 * ≈ 42 MB. 16 MB: the 100 000-call backfill's peak RSS 200 → 184 MB, the same time (BENCHMARKS.md).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 16 };

export interface WorkerSetup {
  file: string;
  runId: number;
  batching: Batching | undefined;
}
/**
 * A page as it crosses to the worker: a column per field. Cloned as records, every SeenCall and DeliveryRecord carried
 * its property names: postMessage was 0.40 s of the sync thread in a 100 000-call backfill and the worker paid as much
 * again to rebuild them; columns copy each name once. Rows cross as their cells and are made JSON text on the worker
 * (`pageDecision`): sent as text, the worker's share fell further but the sync thread's did not (BENCHMARKS.md).
 */
export interface PackedPage {
  calls: { id: string[]; callTime: Float64Array; serviceType: string[]; fingerprint: (string | null)[]; skips: (string | null)[] };
  decisions: {
    counterId: Float64Array;
    callId: string[];
    kind: DeliveryKind[];
    state: PageDecision['state'][];
    reason: PageDecision['reason'][];
    row: DeliveryRecord['row'][];
    idType: (IdentifierType | null)[];
    callTime: Float64Array;
    waited: (WaitReason | null)[];
  };
}

export function packPage(calls: readonly SeenCall[], deliveries: readonly DeliveryRecord[]): PackedPage {
  const c: PackedPage['calls'] = { id: [], callTime: new Float64Array(calls.length), serviceType: [], fingerprint: [], skips: [] };
  calls.forEach((call, i) => {
    c.id.push(call.id);
    c.callTime[i] = call.callTime;
    c.serviceType.push(call.serviceType);
    c.fingerprint.push(call.fingerprint ?? null);
    c.skips.push(call.skips ?? null);
  });
  const n = deliveries.length;
  const d: PackedPage['decisions'] = {
    counterId: new Float64Array(n),
    callId: [],
    kind: [],
    state: [],
    reason: [],
    row: [],
    idType: [],
    callTime: new Float64Array(n),
    waited: [],
  };
  deliveries.forEach((record, i) => {
    d.counterId[i] = record.counterId;
    d.callId.push(record.callId);
    d.kind.push(record.kind);
    d.state.push(record.state);
    d.reason.push(record.reason);
    d.row.push(record.row);
    d.idType.push(record.idType ?? null);
    d.callTime[i] = record.callTime;
    d.waited.push(record.waited ?? null);
  });
  return { calls: c, decisions: d };
}

export function unpackPage(page: PackedPage): { calls: SeenCall[]; decisions: PageDecision[] } {
  const c = page.calls;
  const calls = c.id.map((id, i): SeenCall => ({ id, callTime: c.callTime[i]!, serviceType: c.serviceType[i]!, fingerprint: c.fingerprint[i]!, skips: c.skips[i]! }));
  const d = page.decisions;
  const decisions = d.callId.map((callId, i) =>
    pageDecision({
      counterId: d.counterId[i]!,
      callId,
      kind: d.kind[i]!,
      state: d.state[i]!,
      reason: d.reason[i]!,
      row: d.row[i]!,
      idType: d.idType[i] ?? undefined,
      callTime: d.callTime[i]!,
      waited: d.waited[i]!,
    }),
  );
  return { calls, decisions };
}
export type WorkerAnswer = { fresh: number } | { error: { message: string; code: string | undefined } };

/** The worker's script beside this module (dist/store/ from tsc, dist/bundle/ from the bundle); null when absent (tests run the sources). */
export function defaultWorkerFile(): string | null {
  const file = fileURLToPath(new URL('./page-writer-worker.js', import.meta.url));
  return fs.existsSync(file) ? file : null;
}

/**
 * Records a sync's pages of calls and decisions (Store.recordPage, with the run's batching), one transaction per page, in order.
 *
 * The first two pages are written on the run's own connection: a cron run's look-back window is a page or two,
 * and starting a thread would cost it more than it saves. From the third page on — a backfill — a worker thread
 * with its own connection writes the pages while this thread fetches, parses and decides the next one, so
 * SQLite's work and CallKeeper's pages use both cores. Nothing else writes to the database until `finish()`
 * (or `close()`) has waited for every page; a page is recorded whole or not at all, as before, so a crash
 * loses only decisions that the next run makes again.
 */
export class PageWriter {
  private worker: Worker | null = null;
  private pages = 0;
  private inFlight = 0;
  private fresh = 0;
  private failure: Error | null = null;
  private exited: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly runId: number,
    private readonly batching?: Batching,
    private readonly workerFile: string | null = defaultWorkerFile(),
  ) {}

  /**
   * Queues one page; resolves once the page is recorded (inline) or handed over with room for the next.
   * `more`: another page follows (this one was full).
   */
  async write(calls: readonly SeenCall[], deliveries: readonly DeliveryRecord[], more: boolean): Promise<void> {
    this.check();
    const page = this.pages++;
    if (!this.worker) {
      // The thread takes ≈ 150 ms to start on a small machine: worth it from the third page on. It is started
      // after the second (when a third follows), so that it boots while that one is fetched.
      if (page >= 1 && more && this.workerFile !== null) this.worker = this.start(this.workerFile);
      this.fresh += this.store.recordPage(this.runId, calls, deliveries, this.batching);
      return;
    }
    const worker = this.worker;
    while (this.inFlight >= MAX_IN_FLIGHT) await this.answer();
    this.check();
    this.inFlight++;
    worker.postMessage(packPage(calls, deliveries) satisfies PackedPage);
  }

  /** Waits for every page, ends the worker, and tells how many calls were new to the database. Throws the first failure. */
  async finish(): Promise<number> {
    await this.close();
    this.check();
    return this.fresh;
  }

  /** Waits for the pages already handed over (they are good decisions) and ends the worker. Never throws. */
  async close(): Promise<void> {
    while (this.inFlight > 0 && !this.failure) await this.answer();
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    worker.postMessage('close');
    await this.exited;
  }

  private start(file: string): Worker {
    const worker = new Worker(file, { workerData: { file: this.store.file, runId: this.runId, batching: this.batching } satisfies WorkerSetup, resourceLimits: WORKER_LIMITS });
    worker.on('message', (answer: WorkerAnswer) => {
      this.inFlight--;
      if ('error' in answer) {
        this.failure ??= storeError(this.store.file, Object.assign(new Error(answer.error.message), { code: answer.error.code }));
      } else {
        this.fresh += answer.fresh;
      }
      this.notify();
    });
    worker.on('error', (error) => {
      this.failure ??= storeError(this.store.file, error);
      this.notify();
    });
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        if (this.inFlight > 0) this.failure ??= new Error(`the database writer thread ended (exit ${code}) with ${this.inFlight} pages unwritten`);
        this.inFlight = 0;
        this.notify();
        resolve();
      }),
    );
    return worker;
  }

  private answer(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}
