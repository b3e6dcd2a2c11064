/**
 * The upload protocol: how a counter's rows leave — exactly once — and how a batch left unfinished is settled.
 *
 * 1. The counter's linking switch for the kind is read (once a run, only when it has rows of that kind to send).
 *    Conversions are held while their switch is off: the rows stay pending, nothing is sent.
 * 2. The batches are sealed `prepared` (store) before anything is sent: one per identifier type, the rows dated
 *    before the linking threshold in a file of their own ("old", sent with Metrica's ignore flag). Each batch's
 *    `comment` (digits and letters: `ckym<install>b<id>t<newest>`) names it in Metrica's upload list.
 * 3. A batch is marked `sending` (durably) before each attempt.
 * 4. Metrica's answer, classified by the client, decides: `sent`; `void` (its rows go back to pending: Metrica
 *    certainly did not take it); refused — split into new batches (each sent in turn), or kept aside when it cannot
 *    be split (a file of one row, or a refusal of the request itself); or, when the answer was lost, the list is asked.
 * A batch found `sending` at the start of a run is looked up in the list by its comment: found means sent; not
 * found means resent, but only once `sync.confirmGraceMinutes` have passed since its last attempt (Metrica may
 * still be taking in a file whose answer was lost).
 */
import type { Clock } from '../clock.js';
import { MetrikaError, RemoteError } from '../errors.js';
import type { MetrikaClient, UploadOutcome, Uploading } from '../clients/metrika.js';
import type { Batch, Store } from '../store/store.js';
import { csvLine, csvLines } from '../domain/csv.js';
import { fitRow, headerOf } from '../domain/rows.js';
import { linkCutoff } from '../domain/run.js';
import { CLIENT_ID_TYPE } from '../domain/identifiers.js';
import { linkingFrom, oldBefore, switchName, type Linking } from '../domain/linking.js';
import { splitRanges } from '../domain/refusal.js';
import type { CounterSettings, DeliveryKind, Row } from '../domain/types.js';
import type { DryRunBatch, KindReport, ReconcileResult, SendResult, SyncEvents, Uploader } from './types.js';

export interface DeliverContext {
  store: Store;
  uploader: Uploader;
  clock: Clock;
  events?: SyncEvents | undefined;
}

/**
 * At most this many refusals of one kind's files per counter and run. Bisecting a file of n rows with k bad rows
 * costs about 2·k·log2(n) uploads; a refusal that no split can cure (a bug in every row) stops here, and what is
 * left is kept aside for `sync --retry-failed` instead of spending the day's quota.
 */
export const MAX_REFUSALS = 100;

/** The command that turns a counter's linking switches on. */
export const linkingFix = (counterId: number): string => `ckym counters edit ${counterId} --yes`;

/**
 * Everything of `kind` the counter has to send: its linking switch read, then one batch per identifier type and
 * segment, sealed, then sent through the run's uploader (refused files split and sent in turn).
 */
export async function deliver(ctx: DeliverContext, runId: number, counter: CounterSettings, kind: DeliveryKind, report: KindReport): Promise<void> {
  const { store, events } = ctx;
  const idTypes = store.toSend(runId, counter.id, kind);
  if (idTypes.length === 0) return;
  const linking = await ctx.uploader.linking(counter.id, kind);
  if (kind === 'conversion' && linking.state === 'off') {
    // Metrica refuses conversions until their switch is on: nothing is sent, nothing is voided; the rows wait.
    const rows = store.holdBatches(runId, counter.id, kind);
    const until = linking.until ? ` (Metrica says uploads open on ${linking.until})` : '';
    const message =
      `${rows} conversion${rows === 1 ? '' : 's'} for counter ${counter.id} held: Metrica's conversion linking is off${until}; ` +
      `run "${linkingFix(counter.id)}" to turn it on — they are sent once it is`;
    report.held = { rows, message };
    events?.onHeld?.({ counterId: counter.id, kind, rows, message });
    return;
  }
  const before = oldBefore(linking);
  for (const idType of idTypes) {
    const sealed = store.sealBatches(runId, counter.id, kind, idType, headerOf(counter, kind, idType), before, ctx.clock.now());
    await sendAll(ctx, counter, kind, sealed, report);
  }
}

/** Sends sealed batches one at a time; a refused one that was split puts its parts first in line. */
async function sendAll(ctx: DeliverContext, counter: CounterSettings, kind: DeliveryKind, sealed: Batch[], report: KindReport): Promise<void> {
  const { store, events } = ctx;
  const queue = [...sealed];
  let refusals = 0;
  while (queue.length > 0) {
    const batch = queue.shift()!;
    if (refusals >= MAX_REFUSALS) {
      const reason = `not sent: Metrica refused ${refusals} files of these rows in this run; kept aside until "ckym sync --retry-failed"`;
      store.rejectBatch(batch.id, reason);
      report.failed += batch.rows;
      continue;
    }
    events?.onBatch?.({ counterId: counter.id, kind, rows: batch.rows, batchId: batch.id });
    report.batchId = batch.id;
    const sent = await ctx.uploader.send(batch, counter);
    if (sent.result === 'split') {
      refusals++;
      queue.unshift(...sent.into);
      events?.onRefused?.({ counterId: counter.id, kind, batchId: batch.id, rows: batch.rows, reason: sent.reason, split: true });
      continue;
    }
    if (sent.result === 'rejected') {
      refusals++;
      report.failed += batch.rows;
      report.refusal ??= sent.reason;
      events?.onRefused?.({ counterId: counter.id, kind, batchId: batch.id, rows: batch.rows, reason: sent.reason, split: false });
      continue;
    }
    report.sent += batch.rows;
    report.late += store.batchCallsBefore(batch.id, linkCutoff(Math.floor(ctx.clock.now() / 1000)));
    report.uploadingId = sent.uploadingId;
    if (sent.kept !== null && sent.kept < batch.rows) {
      report.dropped += batch.rows - sent.kept;
      events?.onDropped?.({ counterId: counter.id, kind, batchId: batch.id, rows: batch.rows, kept: sent.kept });
    }
    events?.onUploaded?.({ counterId: counter.id, kind, rows: batch.rows, uploadingId: sent.uploadingId });
  }
}

/**
 * Rows per CSV chunk. Small enough that the garbage collector, which copies what is alive whenever it runs, finds
 * little alive (a chunk's parsed rows and its text): chunks of 5000 rows made the upload's collections cost ≈ 1 s.
 */
const CSV_CHUNK_ROWS = 1000;

/** A batch's CSV, from the header on, in chunks read from the store (a large upload streams). */
export function* csvChunks(store: Store, batch: Batch, counter: CounterSettings): Generator<string> {
  yield csvLine(batch.header);
  for (const chunk of store.batchRows(batch.id, CSV_CHUNK_ROWS)) yield csvLines(chunk.map((row) => fitRow(row, batch.header, counter)));
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

  /**
   * The switch as Metrica says it is. A threshold Metrica will not give (a 4xx: the endpoint may be gone from newer
   * versions of the API) is `unknown`: the rows go as if it were on, and a refusal says the rest.
   */
  async linking(counterId: number, kind: DeliveryKind): Promise<Linking> {
    const now = Math.floor(this.options.clock.now() / 1000);
    try {
      return linkingFrom(await this.options.metrika.joinThreshold(counterId, kind), now);
    } catch (error) {
      if (error instanceof MetrikaError) return { state: 'unknown', why: error.message };
      throw error;
    }
  }

  async send(batch: Batch, counter: CounterSettings): Promise<SendResult> {
    return this.upload(batch, counter);
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
  private async upload(batch: Batch, counter: CounterSettings): Promise<SendResult> {
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
          clientIdType: CLIENT_ID_TYPE[batch.idType],
          ignoreThreshold: batch.segment === 'old',
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
        return { result: 'sent', uploadingId: outcome.uploading.id, kept: keptLines(outcome.uploading) };
      }
      if (outcome.kind === 'rejected' || outcome.kind === 'too-large') {
        // Metrica answered that it will not take this file: it never goes again as it is.
        const reason = `Metrica refused the ${what}: ${outcome.errorType || `HTTP ${outcome.status}`}: ${outcome.message}`;
        const splittable = outcome.kind === 'too-large' || outcome.scope === 'rows';
        const ranges = splittable ? splitRanges(batch.rows, outcome.kind === 'rejected' ? outcome.line : null) : [];
        if (ranges.length > 0) {
          const into = store.splitBatch(batch.id, ranges, batch.runId, `${reason} (split into ${ranges.length} files)`, clock.now());
          return { result: 'split', into, reason };
        }
        store.rejectBatch(batch.id, reason);
        return { result: 'rejected', reason };
      }
      if (outcome.kind === 'too-early' || outcome.kind === 'clock-behind') {
        const message = `Metrica rejected the ${what}: ${outcome.errorType || `HTTP ${outcome.status}`}: ${outcome.message}`;
        // The rows are fine, the moment is not: they wait for a later run.
        store.voidBatch(batch.id, message);
        throw new RemoteError(
          outcome.kind === 'too-early'
            ? `${message} (Metrica's ${switchName(batch.kind)} is off or still warming up: run "${linkingFix(counter.id)}" to turn it on; the rows wait for a later run)`
            : `${message} (Metrica thinks some calls are in the future: this machine's clock is probably ahead — check it with "ckym doctor"; the rows wait for a later run)`,
        );
      }
      if (outcome.kind === 'redirected') {
        store.voidBatch(batch.id, outcome.message);
        throw new RemoteError(`Metrica unavailable for the ${what}: ${outcome.message}; the rows wait for the next run`);
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
          return { result: 'sent', uploadingId: found.id, kept: keptLines(found) };
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

/** The lines Metrica kept of an upload (`line_quantity`), when it says. */
function keptLines(uploading: Uploading): number | null {
  const n = uploading.line_quantity;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/** A dry run: each batch's rows are collected as they would have been uploaded; nothing leaves, nothing is settled. */
export class DryRunUploader implements Uploader {
  readonly batches: DryRunBatch[] = [];

  constructor(private readonly store: Store) {}

  async reconcile(): Promise<null> {
    return null;
  }

  /** A dry run asks Metrica nothing: no switch is known, no row is split off as old, nothing is held. */
  async linking(): Promise<Linking> {
    // Stryker disable next-line StringLiteral: a Linking's `why` is read by nothing (only its state is): the text documents the dry run's answer
    return { state: 'unknown', why: 'a dry run asks Metrica nothing' };
  }

  async send(batch: Batch, counter: CounterSettings): Promise<SendResult> {
    const rows: Row[] = [];
    for (const chunk of this.store.batchRows(batch.id)) for (const row of chunk) rows.push(fitRow(row, batch.header, counter));
    this.batches.push({
      counterId: counter.id,
      counterName: counter.name,
      kind: batch.kind,
      idType: batch.idType,
      segment: batch.segment,
      header: batch.header,
      rows,
    });
    return { result: 'sent', uploadingId: null, kept: null };
  }
}
