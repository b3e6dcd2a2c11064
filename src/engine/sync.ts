import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { AuthError, CkymError, RemoteError } from '../errors.js';
import { CALLKEEPER_PAGE_SIZE, type CallKeeperClient } from '../clients/callkeeper.js';
import { retryDelay, sleep, type OnRetry, type RetryPolicy } from '../clients/http.js';
import type { MetrikaClient, Uploading } from '../clients/metrika.js';
import { batchKey, type Batch, type Batching, type DeliveryRecord, type SeenCall, type Store } from '../store/store.js';
import { PageWriter } from '../store/page-writer.js';
import { normaliseCall } from '../domain/call.js';
import { finality } from '../domain/finality.js';
import { decideDeliveries } from '../domain/deliveries.js';
import { callHeader, conversionHeader, formatDecimal, hasGoal } from '../domain/rows.js';
import { csvLine } from '../domain/csv.js';
import type { CounterSettings, DeliveryKind, Row, SkipReason, WaitReason } from '../domain/types.js';

/** Progress, told as it happens; the command decides whether and how to show it. */
export interface SyncEvents {
  onWindow?(window: { from: number; to: number }): void;
  onPage?(page: { page: number; calls: number; fetched: number }): void;
  onMalformed?(problem: string): void;
  onReconciled?(result: ReconcileResult): void;
  onBatch?(batch: { counterId: number; kind: DeliveryKind; rows: number; batchId: number }): void;
  onUploaded?(result: { counterId: number; kind: DeliveryKind; rows: number; uploadingId: number | null }): void;
  onRetry?: OnRetry;
}

/** Where a dry run's batches go instead of Metrica. */
export type DryRunSink = (batch: { counter: CounterSettings; kind: DeliveryKind; header: string[]; rows: Row[] }) => void;

export interface SyncContext {
  config: Config;
  /** The counters this run serves (enabled, and those named by --counter). */
  counters: CounterSettings[];
  store: Store;
  callkeeper: CallKeeperClient;
  /** Null in a dry run: batches go to `dryRun` instead. */
  metrika: MetrikaClient | null;
  dryRun?: DryRunSink | undefined;
  clock: Clock;
  policy: RetryPolicy;
  events?: SyncEvents | undefined;
  pid: number;
}

export interface SyncOptions {
  /** `--since`: unix seconds; replaces the window's start. */
  since?: number | undefined;
}

export interface ReconcileResult {
  batchId: number;
  counterId: number;
  kind: DeliveryKind;
  rows: number;
  /** `sent`: Metrica had it; `resend`: it never arrived, its rows go out again. */
  result: 'sent' | 'resend';
}

export interface KindReport {
  /** Rows Metrica accepted in this run. */
  sent: number;
  batchId: number | null;
  uploadingId: number | null;
}

export interface CounterReport {
  id: number;
  name: string;
  calls: KindReport;
  conversions: KindReport;
  /** This run's decisions that did not take a call, by the first reason. */
  skipped: Partial<Record<SkipReason, number>>;
  /** Calls not final yet, by why. */
  waiting: Partial<Record<WaitReason, number>>;
  error: { message: string; exitCode: number } | null;
}

export interface SyncReport {
  runId: number;
  window: { from: number; to: number };
  pages: number;
  fetched: number;
  newCalls: number;
  malformed: number;
  reconciled: ReconcileResult[];
  counters: CounterReport[];
  outcome: 'ok' | 'partial' | 'failed';
  exitCode: number;
}

const DAY = 86_400;
/** A call the fetch window still reaches back to, at most this old (a callback scheduled forever must not pin the window). */
const MAX_WAIT_DAYS = 60;
/** Metrica's answer to an upload before call linking has warmed up: not the file's fault, try on a later run. */
const TOO_EARLY = /невозможно|not possible|cannot be uploaded now|threshold/i;
/** Metrica's refusal of a DateTime after its own "now". */
const IN_THE_FUTURE = /in the future|в будущем|будущ/i;

/**
 * One sync run: reconcile → fetch → normalise → decide per counter → batch → upload → record.
 * The caller holds the lock. Failures of one counter do not stop the others; losing the
 * CallKeeper fetch or the Yandex token stops the run (nothing is advanced that was not done).
 */
export async function sync(ctx: SyncContext, options: SyncOptions = {}): Promise<SyncReport> {
  const { store, clock, events = {} } = ctx;
  const startedAt = clock.now();
  const runId = store.startRun(ctx.pid, startedAt);
  const reports = new Map<number, CounterReport>(ctx.counters.map((c) => [c.id, emptyReport(c)]));
  const report: SyncReport = {
    runId,
    window: { from: 0, to: 0 },
    pages: 0,
    fetched: 0,
    newCalls: 0,
    malformed: 0,
    reconciled: [],
    counters: [...reports.values()],
    outcome: 'ok',
    exitCode: 0,
  };
  const fail = (counterId: number, error: unknown): void => {
    const r = reports.get(counterId);
    if (r && !r.error) r.error = asCounterError(error);
  };

  try {
    // 1. Batches a previous run left unfinished are settled before anything new is sent.
    if (ctx.metrika) {
      for (const batch of store.unfinishedBatches(ctx.counters.map((c) => c.id))) {
        try {
          const result = await reconcile(ctx, batch);
          report.reconciled.push(result);
          events.onReconciled?.(result);
          const r = reports.get(batch.counterId);
          if (r && result.result === 'sent') kindReport(r, batch.kind).sent += batch.rows;
        } catch (error) {
          if (error instanceof AuthError) throw error;
          fail(batch.counterId, error);
        }
      }
    }

    // 2. The window: from each counter's cursor (minus the look-back), never later than a call still waited on
  //    or still to be sent (so it is decided again with today's settings).
    const nowS = Math.floor(clock.now() / 1000);
    report.window = fetchWindow(ctx, nowS, options.since);
    store.setRunWindow(runId, report.window.from, report.window.to);
    events.onWindow?.(report.window);

    // 3. Fetch once for all counters, page by page; decisions are recorded with each page.
    const { timezone } = ctx.config.callkeeper;
    const { settleMinutes } = ctx.config.sync;
    // Pending decisions go straight into this run's batch of their counter and kind.
    const batching: Batching = { headers: {}, now: clock.now() };
    for (const counter of ctx.counters) {
      for (const kind of kindsOf(counter)) batching.headers[batchKey(counter.id, kind)] = headerOf(counter, kind);
    }
    const writer = new PageWriter(store, runId, batching);
    try {
      for await (const page of ctx.callkeeper.pages(report.window.from, report.window.to)) {
        const seen: SeenCall[] = [];
        const records: DeliveryRecord[] = [];
        for (const raw of page.calls) {
          const normalised = normaliseCall(raw, timezone);
          if (!normalised.ok) {
            report.malformed++;
            events.onMalformed?.(normalised.problem);
            continue;
          }
          const call = normalised.call;
          seen.push({ id: call.id, callTime: call.callTime, serviceType: String(call.serviceType) });
          const fin = finality(call, nowS, settleMinutes);
          for (const counter of ctx.counters) {
            const r = reports.get(counter.id)!;
            for (const d of decideDeliveries(call, counter, fin)) {
              if (d.state === 'skipped' && d.kind === 'call') r.skipped[d.reason] = (r.skipped[d.reason] ?? 0) + 1;
              if (d.state === 'waiting' && d.kind === 'call') r.waiting[d.reason] = (r.waiting[d.reason] ?? 0) + 1;
              records.push({
                counterId: counter.id,
                callId: call.id,
                kind: d.kind,
                state: d.state,
                reason: d.state === 'pending' ? null : d.reason,
                row: d.state === 'pending' ? d.row : null,
                callTime: call.callTime,
              });
            }
          }
        }
        await writer.write(seen, records, page.calls.length >= CALLKEEPER_PAGE_SIZE);
        report.pages++;
        report.fetched += page.calls.length;
        events.onPage?.({ page: page.page, calls: page.calls.length, fetched: report.fetched });
      }
      report.newCalls = await writer.finish();
    } finally {
      // A failed fetch still waits for the pages already handed over: nothing else writes meanwhile.
      await writer.close();
    }
    store.setCursors(
      ctx.counters.map((c) => c.id),
      report.window.to,
    );

    // 4. One batch per counter and kind with everything pending, each sent and recorded exactly once.
    for (const counter of ctx.counters) {
      const r = reports.get(counter.id)!;
      if (r.error) continue;
      for (const kind of kindsOf(counter)) {
        try {
          await deliver(ctx, runId, counter, kind, r);
        } catch (error) {
          if (error instanceof AuthError) throw error;
          fail(counter.id, error);
          break;
        }
      }
    }
    // The batches of counters that failed before their upload were never sent: their rows wait for the next run.
    store.releaseBatches(runId);
  } catch (error) {
    store.releaseBatches(runId);
    store.finishRun(runId, {
      ...totals(report),
      outcome: 'failed',
      exitCode: error instanceof CkymError ? error.exitCode : 1,
      error: error instanceof Error ? error.message : String(error),
      finishedAt: clock.now(),
    });
    throw error;
  }

  const failed = report.counters.filter((c) => c.error);
  if (failed.length > 0) {
    // Only "unavailable" and nothing delivered anywhere: the run did not get through at all (4).
    // Otherwise it finished with some counters failed (5): a rejected file, or others delivered.
    const delivered = report.counters.some((c) => !c.error && c.calls.sent + c.conversions.sent > 0);
    const unavailable = !delivered && failed.every((c) => c.error!.exitCode === 4);
    report.outcome = unavailable ? 'failed' : 'partial';
    report.exitCode = unavailable ? 4 : 5;
  }
  store.finishRun(runId, {
    ...totals(report),
    outcome: report.outcome,
    exitCode: report.exitCode,
    error: failed.map((c) => `counter ${c.id}: ${c.error!.message}`).join('; ') || null,
    finishedAt: clock.now(),
  });
  return report;
}

function fetchWindow(ctx: SyncContext, nowS: number, since: number | undefined): { from: number; to: number } {
  if (since !== undefined) return { from: since, to: nowS };
  const { initialDays, lookbackHours } = ctx.config.sync;
  let from = nowS;
  for (const counter of ctx.counters) {
    const cursor = ctx.store.cursor(counter.id);
    const start = cursor === null ? nowS - initialDays * DAY : cursor - Math.round(lookbackHours * 3600);
    from = Math.min(from, start);
  }
  const unsettled = ctx.store.oldestUnsettled(
    ctx.counters.map((c) => c.id),
    nowS - MAX_WAIT_DAYS * DAY,
  );
  if (unsettled !== null) from = Math.min(from, unsettled);
  return { from, to: nowS };
}

function headerOf(counter: CounterSettings, kind: DeliveryKind): string[] {
  return kind === 'call' ? callHeader(counter) : conversionHeader(counter);
}

function kindsOf(counter: CounterSettings): DeliveryKind[] {
  return hasGoal(counter) ? ['call', 'conversion'] : ['call'];
}

/** Sends everything pending for (counter, kind) as one batch. */
async function deliver(ctx: SyncContext, runId: number, counter: CounterSettings, kind: DeliveryKind, r: CounterReport): Promise<void> {
  const header = headerOf(counter, kind);
  const batch = ctx.store.prepareBatch(runId, counter.id, kind, header, ctx.clock.now());
  if (!batch) return;
  ctx.events?.onBatch?.({ counterId: counter.id, kind, rows: batch.rows, batchId: batch.id });
  const k = kindReport(r, kind);
  k.batchId = batch.id;
  if (!ctx.metrika) {
    const rows: Row[] = [];
    for (const chunk of ctx.store.batchRows(batch.id)) for (const row of chunk) rows.push(fit(row, header, counter));
    ctx.dryRun?.({ counter, kind, header, rows });
    k.sent += batch.rows;
    return;
  }
  const uploading = await upload(ctx, counter, batch);
  k.sent += batch.rows;
  k.uploadingId = uploading?.id ?? null;
  ctx.events?.onUploaded?.({ counterId: counter.id, kind, rows: batch.rows, uploadingId: k.uploadingId });
}

/**
 * The upload loop of the exactly-once protocol. The batch is 'sending' (durably) before each attempt.
 * An attempt whose outcome is unknown is looked up in Metrica's list by its comment; when the list does not
 * have it, the rows are sent again only once `sync.confirmGraceMinutes` have passed since the attempt
 * (Metrica may still be taking in a file whose answer was lost); until then the batch waits for a later run.
 */
async function upload(ctx: SyncContext, counter: CounterSettings, batch: Batch): Promise<Uploading | null> {
  const metrika = ctx.metrika!;
  const { store, policy } = ctx;
  const what = `${batch.kind === 'call' ? 'calls' : 'conversions'} for counter ${counter.id}`;
  const graceMs = ctx.config.sync.confirmGraceMinutes * 60_000;
  let lastProblem = '';
  for (let attempt = 0; attempt <= policy.retries; attempt++) {
    store.markSending(batch.id, ctx.clock.now());
    let outcome;
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
      store.markSent(batch.id, outcome.uploading, ctx.clock.now());
      return outcome.uploading;
    }
    if (outcome.kind === 'rejected') {
      const message = `Metrica rejected the ${what}: ${outcome.errorType || `HTTP ${outcome.status}`}: ${outcome.message}`;
      if (TOO_EARLY.test(outcome.message)) {
        store.voidBatch(batch.id, message);
        throw new RemoteError(`${message} (call linking is still warming up; the rows wait for a later run)`);
      }
      if (IN_THE_FUTURE.test(outcome.message)) {
        // Metrica's clock is behind ours: the rows are fine, the moment is not. They wait; the clock needs a look.
        store.voidBatch(batch.id, message);
        throw new RemoteError(
          `${message} (Metrica thinks some calls are in the future: this machine's clock is probably ahead — check it with "ckym doctor"; the rows wait for a later run)`,
        );
      }
      store.rejectBatch(batch.id, message);
      throw new UploadRejected(`${message} (batch ${batch.id} is quarantined; see "ckym stats")`);
    }
    lastProblem = outcome.status ? `HTTP ${outcome.status} ${outcome.message}` : outcome.message;
    store.recordBatchError(batch.id, lastProblem);
    const wait = retryDelay(attempt + 1, policy, outcome.retryAfter);
    if (outcome.kind === 'unknown') {
      // Metrica may have it. Give it a moment, then ask before sending again.
      await sleep(wait ?? policy.backoffMs);
      const found = await metrika.findUploading(counter.id, batch.kind, batch.comment);
      if (found) {
        store.markSent(batch.id, found, ctx.clock.now());
        return found;
      }
      if (graceMs > 0) {
        throw new RemoteError(
          `the upload of the ${what} got no answer (${lastProblem}) and is not in Metrica's list yet; ` +
            `batch ${batch.id} is confirmed or sent again by a run after ${ctx.config.sync.confirmGraceMinutes} min`,
        );
      }
    } else {
      if (wait === null) break;
      ctx.events?.onRetry?.({ service: 'Metrica', what: `upload of ${what}`, attempt: attempt + 1, delayMs: wait, reason: lastProblem });
      await sleep(wait);
    }
  }
  // Every attempt was refused, and Metrica's list does not have it: the rows wait for the next run.
  store.voidBatch(batch.id, lastProblem);
  throw new RemoteError(`Metrica unavailable for the ${what}: ${lastProblem}; the rows wait for the next run`);
}

/** A batch found unfinished at start: Metrica's list decides whether it arrived. */
async function reconcile(ctx: SyncContext, batch: Batch): Promise<ReconcileResult> {
  const base = { batchId: batch.id, counterId: batch.counterId, kind: batch.kind, rows: batch.rows };
  if (batch.status === 'prepared') {
    // Never marked sending, so no request ever left with it.
    ctx.store.voidBatch(batch.id, 'interrupted before sending');
    return { ...base, result: 'resend' };
  }
  const found = await ctx.metrika!.findUploading(batch.counterId, batch.kind, batch.comment);
  if (found) {
    ctx.store.markSent(batch.id, found, ctx.clock.now());
    return { ...base, result: 'sent' };
  }
  const graceMs = ctx.config.sync.confirmGraceMinutes * 60_000;
  const since = ctx.clock.now() - (batch.attemptAt ?? 0) * 1000;
  if (since < graceMs) {
    const left = Math.ceil((graceMs - since) / 60_000);
    throw new RemoteError(
      `batch ${batch.id} was being uploaded when a run ended and is not in Metrica's list yet; ` +
        `it is sent again if it is still missing in ${left} min (sync.confirmGraceMinutes)`,
    );
  }
  ctx.store.voidBatch(batch.id, "interrupted; not in Metrica's upload list");
  return { ...base, result: 'resend' };
}

function* csvChunks(store: Store, batch: Batch, counter: CounterSettings): Generator<string> {
  yield csvLine(batch.header);
  for (const chunk of store.batchRows(batch.id)) {
    let text = '';
    for (const row of chunk) text += csvLine(fit(row, batch.header, counter));
    yield text;
  }
}

/** A row decided under an older header (the counter's price setting changed since) is fitted to the batch's. */
function fit(row: Row, header: readonly string[], counter: CounterSettings): Row {
  const width = header.length;
  if (row.length === width) return row;
  if (row.length > width) return row.slice(0, width);
  // Price and Currency were added since: they are the counter's, not the call's.
  const added = header.slice(row.length).map((column) =>
    column === 'Price' && counter.price !== null ? formatDecimal(counter.price) : column === 'Currency' ? counter.currency : '',
  );
  return [...row, ...added];
}

export class UploadRejected extends CkymError {
  readonly exitCode = 5;
}

function asCounterError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CkymError) return { message: error.message, exitCode: error.exitCode };
  return { message: error instanceof Error ? error.message : String(error), exitCode: 1 };
}

function emptyReport(counter: CounterSettings): CounterReport {
  return {
    id: counter.id,
    name: counter.name,
    calls: { sent: 0, batchId: null, uploadingId: null },
    conversions: { sent: 0, batchId: null, uploadingId: null },
    skipped: {},
    waiting: {},
    error: null,
  };
}

function kindReport(r: CounterReport, kind: DeliveryKind): KindReport {
  return kind === 'call' ? r.calls : r.conversions;
}

function totals(report: SyncReport) {
  let skipped = 0;
  let waiting = 0;
  for (const c of report.counters) {
    for (const n of Object.values(c.skipped)) skipped += n ?? 0;
    for (const n of Object.values(c.waiting)) waiting += n ?? 0;
  }
  return {
    pages: report.pages,
    fetched: report.fetched,
    sentCalls: report.counters.reduce((s, c) => s + c.calls.sent, 0),
    sentConversions: report.counters.reduce((s, c) => s + c.conversions.sent, 0),
    skipped,
    waiting,
  };
}
