/**
 * The upload protocol: how a batch leaves — exactly once — and how one left unfinished is settled.
 *
 * 1. The batch is sealed `prepared` (store) before anything is sent.
 * 2. It is marked `sending` (durably) before each attempt; its `comment` names it in Metrica's upload list.
 * 3. Metrica's answer, classified by the client, decides: `sent`; `void` (its rows go back to pending: Metrica
 *    certainly did not take it); `rejected` (quarantined); or, when the answer was lost, the list is asked.
 * A batch found `sending` at the start of a run is looked up in the list by its comment: found means sent; not
 * found means resent, but only once `sync.confirmGraceMinutes` have passed since its last attempt (Metrica may
 * still be taking in a file whose answer was lost).
 */
import type { Clock } from '../clock.js';
import { RemoteError, UploadRejected } from '../errors.js';
import type { MetrikaClient, UploadOutcome, Uploading } from '../clients/metrika.js';
import type { Batch, Store } from '../store/store.js';
import { csvLine } from '../domain/csv.js';
import { fitRow, headerOf } from '../domain/rows.js';
import { linkCutoff } from '../domain/run.js';
import type { CounterSettings, DeliveryKind, Row } from '../domain/types.js';
import type { DryRunBatch, KindReport, ReconcileResult, SyncEvents, Uploader } from './types.js';

export interface DeliverContext {
  store: Store;
  uploader: Uploader;
  clock: Clock;
  events?: SyncEvents | undefined;
}

/** Everything pending for (counter, kind) as one batch — sealed, then sent through the run's uploader. */
export async function deliver(ctx: DeliverContext, runId: number, counter: CounterSettings, kind: DeliveryKind, report: KindReport): Promise<void> {
  const batch = ctx.store.prepareBatch(runId, counter.id, kind, headerOf(counter, kind), ctx.clock.now());
  if (!batch) return;
  ctx.events?.onBatch?.({ counterId: counter.id, kind, rows: batch.rows, batchId: batch.id });
  report.batchId = batch.id;
  const { uploadingId } = await ctx.uploader.send(batch, counter);
  report.sent += batch.rows;
  report.late += ctx.store.batchCallsBefore(batch.id, linkCutoff(Math.floor(ctx.clock.now() / 1000)));
  report.uploadingId = uploadingId;
  ctx.events?.onUploaded?.({ counterId: counter.id, kind, rows: batch.rows, uploadingId });
}

/** A batch's CSV, from the header on, in chunks read from the store (a large upload streams). */
export function* csvChunks(store: Store, batch: Batch, counter: CounterSettings): Generator<string> {
  yield csvLine(batch.header);
  for (const chunk of store.batchRows(batch.id)) {
    let text = '';
    for (const row of chunk) text += csvLine(fitRow(row, batch.header, counter));
    yield text;
  }
}

export interface MetricaUploaderOptions {
  store: Store;
  metrika: MetrikaClient;
  clock: Clock;
  /** `sync.confirmGraceMinutes`. */
  confirmGraceMinutes: number;
}

/** Batches go to Metrica, exactly once. Retries follow the Metrica client's rules and the run's budget. */
export class MetricaUploader implements Uploader {
  constructor(private readonly options: MetricaUploaderOptions) {}

  async send(batch: Batch, counter: CounterSettings): Promise<{ uploadingId: number }> {
    return { uploadingId: (await this.upload(batch, counter)).id };
  }

  /** A batch found unfinished at start: Metrica's list decides whether it arrived. */
  async reconcile(batch: Batch): Promise<ReconcileResult['result']> {
    const { store, metrika, clock } = this.options;
    if (batch.status === 'prepared') {
      // Never marked sending, so no request ever left with it.
      store.voidBatch(batch.id, 'interrupted before sending');
      return 'resend';
    }
    const found = await metrika.findUploading(batch.counterId, batch.kind, batch.comment);
    if (found) {
      store.markSent(batch.id, found, clock.now());
      return 'sent';
    }
    const graceMs = this.options.confirmGraceMinutes * 60_000;
    const since = clock.now() - (batch.attemptAt ?? 0) * 1000;
    if (since < graceMs) {
      const left = Math.ceil((graceMs - since) / 60_000);
      throw new RemoteError(
        `batch ${batch.id} was being uploaded when a run ended and is not in Metrica's list yet; ` +
          `it is sent again if it is still missing in ${left} min (sync.confirmGraceMinutes)`,
      );
    }
    store.voidBatch(batch.id, "interrupted; not in Metrica's upload list");
    return 'resend';
  }

  /**
   * The upload loop. An attempt whose outcome is unknown is looked up in Metrica's list by its comment; when the
   * list does not have it, the rows are sent again only when `sync.confirmGraceMinutes` is 0 — otherwise the batch
   * waits, `sending`, for a later run's reconcile.
   */
  private async upload(batch: Batch, counter: CounterSettings): Promise<Uploading> {
    const { store, metrika, clock } = this.options;
    const retry = metrika.retry;
    const what = `${batch.kind === 'call' ? 'calls' : 'conversions'} for counter ${counter.id}`;
    for (let attempt = 1; ; attempt++) {
      store.markSending(batch.id, clock.now());
      const started = retry.timer.now();
      let outcome: UploadOutcome;
      try {
        outcome = await metrika.upload({
          counterId: counter.id,
          kind: batch.kind,
          comment: batch.comment,
          newGoalName: counter.callGoalName || undefined,
          csv: () => csvChunks(store, batch, counter),
        });
      } catch (error) {
        // 401/403: Metrica answered, so it did not take the file.
        store.voidBatch(batch.id, (error as Error).message);
        throw error;
      }
      if (outcome.kind === 'accepted') {
        store.markSent(batch.id, outcome.uploading, clock.now());
        return outcome.uploading;
      }
      if (outcome.kind === 'too-early' || outcome.kind === 'clock-behind' || outcome.kind === 'rejected') {
        const message = `Metrica rejected the ${what}: ${outcome.errorType || `HTTP ${outcome.status}`}: ${outcome.message}`;
        if (outcome.kind === 'rejected') {
          store.rejectBatch(batch.id, message);
          throw new UploadRejected(`${message} (batch ${batch.id} is quarantined; see "ckym stats")`);
        }
        // The rows are fine, the moment is not: they wait for a later run.
        store.voidBatch(batch.id, message);
        throw new RemoteError(
          outcome.kind === 'too-early'
            ? `${message} (call linking is still warming up; the rows wait for a later run)`
            : `${message} (Metrica thinks some calls are in the future: this machine's clock is probably ahead — check it with "ckym doctor"; the rows wait for a later run)`,
        );
      }
      const problem = outcome.status ? `HTTP ${outcome.status} ${outcome.message}` : outcome.message;
      store.recordBatchError(batch.id, problem);
      const next = retry.next(attempt, { reason: problem, retryAfter: outcome.retryAfter }, retry.timer.now() - started);
      if (outcome.kind === 'unknown') {
        // Metrica may have it. Give it a moment, then ask before sending again.
        await retry.pause(next.retry ? next.delayMs : retry.backoff(attempt));
        const found = await metrika.findUploading(counter.id, batch.kind, batch.comment);
        if (found) {
          store.markSent(batch.id, found, clock.now());
          return found;
        }
        if (this.options.confirmGraceMinutes > 0) {
          throw new RemoteError(
            `the upload of the ${what} got no answer (${problem}) and is not in Metrica's list yet; ` +
              `batch ${batch.id} is confirmed or sent again by a run after ${this.options.confirmGraceMinutes} min`,
          );
        }
        if (next.retry) continue;
      } else if (next.retry) {
        await retry.wait(next.delayMs, { what: `upload of ${what}`, attempt, reason: problem });
        continue;
      }
      // Every attempt was refused (or lost, and Metrica's list does not have it): the rows wait for the next run.
      store.voidBatch(batch.id, problem);
      throw new RemoteError(`Metrica unavailable for the ${what}: ${problem}; the rows wait for the next run${retry.explain(next.why)}`);
    }
  }
}

/** A dry run: each batch's rows are collected as they would have been uploaded; nothing leaves, nothing is settled. */
export class DryRunUploader implements Uploader {
  readonly batches: DryRunBatch[] = [];

  constructor(private readonly store: Store) {}

  async reconcile(): Promise<null> {
    return null;
  }

  async send(batch: Batch, counter: CounterSettings): Promise<{ uploadingId: null }> {
    const rows: Row[] = [];
    for (const chunk of this.store.batchRows(batch.id)) for (const row of chunk) rows.push(fitRow(row, batch.header, counter));
    this.batches.push({ counterId: counter.id, counterName: counter.name, kind: batch.kind, header: batch.header, rows });
    return { uploadingId: null };
  }
}
