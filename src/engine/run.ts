/**
 * One sync run: reconcile → window → pages → decide → batches. It orchestrates; the decisions are the domain's
 * (window, finality, what a counter takes, rows, outcome), the I/O the store's, the clients' and the uploader's.
 */
import { AuthError, CkymError } from '../errors.js';
import { CALLKEEPER_PAGE_SIZE } from '../clients/callkeeper.js';
import { batchKey, type Batching, type DeliveryRecord, type RunTotals, type SeenCall } from '../store/store.js';
import { PageWriter } from '../store/page-writer.js';
import { callIdOf, normaliseCall } from '../domain/call.js';
import { finality } from '../domain/finality.js';
import { decideDeliveries } from '../domain/deliveries.js';
import { deliveryKinds, headerOf, idTypesOf } from '../domain/rows.js';
import { fetchWindow, runOutcome, waitHorizon, type FetchWindow } from '../domain/run.js';
import { planRecheck } from '../domain/recheck.js';
import { callFingerprint, fingerprintHolds, fingerprintsFrom, settingsFingerprint } from '../domain/fingerprint.js';
import type { Call, CounterSettings, DeliveryKind, RawCall } from '../domain/types.js';
import { respectAdopted, type AdoptedFloors } from '../domain/adopt.js';
import { deliver } from './upload.js';
import { checkPriorUploads } from './adopt.js';
import type { CounterReport, KindReport, SyncContext, SyncOptions, SyncReport } from './types.js';

/**
 * The caller holds the lock. Failures of one counter do not stop the others; losing the CallKeeper fetch or the
 * Yandex token stops the run (nothing is advanced that was not done).
 */
export async function sync(ctx: SyncContext, options: SyncOptions = {}): Promise<SyncReport> {
  const { store, clock, events = {} } = ctx;
  // 0. A counter this database does not know, whose uploads are in Metrica's list: stop, or go on after them (--adopt).
  const adopted = await checkPriorUploads(ctx, options);
  const runId = store.startRun(ctx.pid, clock.now());
  const reports = new Map<number, CounterReport>(ctx.counters.map((c) => [c.id, emptyReport(c)]));
  const report: SyncReport = {
    runId,
    window: { from: 0, to: 0 },
    rechecked: [],
    pages: 0,
    fetched: 0,
    newCalls: 0,
    unchanged: 0,
    malformed: 0,
    reconciled: [],
    adopted,
    counters: [...reports.values()],
    outcome: 'ok',
    exitCode: 0,
  };
  const fail = (counterId: number, error: unknown): void => {
    if (error instanceof AuthError) throw error;
    const r = reports.get(counterId);
    if (r && !r.error) r.error = asCounterError(error);
  };
  const ids = ctx.counters.map((c) => c.id);

  try {
    // 1. Batches a previous run left unfinished are settled before anything new is sent.
    for (const batch of store.unfinishedBatches(ids)) {
      try {
        const result = await ctx.uploader.reconcile(batch);
        if (result === null) continue;
        const settled = { batchId: batch.id, counterId: batch.counterId, kind: batch.kind, rows: batch.rows, result };
        report.reconciled.push(settled);
        events.onReconciled?.(settled);
        const r = reports.get(batch.counterId);
        if (r && result === 'sent') kindReport(r, batch.kind).sent += batch.rows;
      } catch (error) {
        fail(batch.counterId, error);
      }
    }

    // `--retry-failed`: the rows Metrica refused go back in line, to be decided and sent like any pending row.
    if (options.retryFailed) {
      for (const [counterId, rows] of store.requeueFailed(ids)) {
        reports.get(counterId)!.requeued = rows;
        events.onRequeued?.({ counterId, rows });
      }
    }

    // 2. The windows: new calls from the cursors minus the look-back; the calls still waited on (or still to send)
    //    before that through the fewest narrow windows the database's call counts allow — a callback stuck for days
    //    no longer pins the window to it.
    const now = Math.floor(clock.now() / 1000);
    const main = fetchWindow({
      now,
      since: options.since,
      cursors: ids.map((id) => store.cursor(id)),
      initialDays: ctx.config.sync.initialDays,
      lookbackHours: ctx.config.sync.lookbackHours,
    });
    const waiting = store.unsettledTimes(ids, waitHorizon(now), main.from);
    const plan = planRecheck({
      main,
      mainKnown: waiting.length > 0 ? store.callsBetween(main.from, main.to) : 0,
      points: store.callsAround(waiting, main.from),
      pageSize: CALLKEEPER_PAGE_SIZE,
    });
    report.window = plan.main;
    report.rechecked = plan.windows;
    store.setRunWindow(runId, report.window.from, report.window.to);
    events.onWindow?.(report.window);

    // 3. Fetch once for all counters, window by window (the narrow ones first, oldest first), page by page; each
    //    page's decisions are recorded with it. A pending decision goes straight into this run's batch of its
    //    counter, kind and identifier type.
    const batching: Batching = { headers: {}, now: clock.now() };
    for (const counter of ctx.counters) {
      for (const kind of deliveryKinds(counter)) {
        for (const idType of idTypesOf(counter, kind)) batching.headers[batchKey(counter.id, kind, idType)] = headerOf(counter, kind, idType);
      }
    }
    const writer = new PageWriter(store, runId, batching);
    const floors = store.adoptedFloors(ids);
    let reached: number | null = null;
    let unverified = false;
    // A call fetched again as it was, under the same settings, is not decided again (domain/fingerprint.ts).
    const settings = settingsFingerprint(ctx.counters, { ...ctx.config.sync, timezone: ctx.config.callkeeper.timezone, adopted: [...floors] });
    const from = fingerprintsFrom(plan.main.to, ctx.config.sync);
    try {
      for (const window of [...plan.windows, plan.main]) {
        // A window of calls the database has never seen (a backfill) asks it for no fingerprints.
        const known = store.callsBetween(window.from, window.to) > 0;
        for await (const page of ctx.callkeeper.pages(window.from, window.to)) {
          if (page.unverified) unverified = true;
          const decided = decidePage(ctx, page.calls, now, window, reports, { settings, known, from }, floors);
          report.unchanged += decided.unchanged;
          report.malformed += decided.malformed.length;
          for (const problem of decided.malformed) events.onMalformed?.(problem);
          if (decided.latest !== null && (reached === null || decided.latest > reached)) reached = decided.latest;
          // Stryker disable next-line ConditionalExpression,EqualityOperator: `more` (a full page: more follow) only decides whether the page writer starts its worker thread — where pages are written, not what; in process (no compiled worker) they are written inline either way
          await writer.write(decided.seen, decided.records, page.calls.length >= CALLKEEPER_PAGE_SIZE);
          report.pages++;
          report.fetched += page.calls.length;
          events.onPage?.({ page: page.page, calls: page.calls.length, fetched: report.fetched, reached });
        }
      }
      report.newCalls = await writer.finish();
    } finally {
      // A failed fetch still waits for the pages already handed over: nothing else writes meanwhile.
      await writer.close();
    }
    // A fetch that ended on an empty array (not CallKeeper's documented "No rows found") moves no cursor.
    if (!unverified) store.setCursors(ids, report.window.to);

    // 4. Per counter and kind, everything pending, in one batch per identifier type and segment, each sent and
    //    recorded exactly once (a refused one split and sent in parts; conversions held while their switch is off).
    for (const counter of ctx.counters) {
      const r = reports.get(counter.id)!;
      if (r.error) continue;
      for (const kind of deliveryKinds(counter)) {
        try {
          await deliver(ctx, runId, counter, kind, kindReport(r, kind));
        } catch (error) {
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

  const { outcome, exitCode } = runOutcome(
    report.counters.map((c) => ({ delivered: c.calls.sent + c.conversions.sent, error: c.error, refused: c.calls.failed + c.conversions.failed })),
  );
  report.outcome = outcome;
  report.exitCode = exitCode;
  store.finishRun(runId, {
    ...totals(report),
    outcome,
    exitCode,
    error:
      report.counters
        .flatMap((c) => [
          ...(c.error ? [`counter ${c.id}: ${c.error.message}`] : []),
          ...(c.calls.refusal ? [`counter ${c.id}: ${c.calls.failed} calls kept aside: ${c.calls.refusal}`] : []),
          ...(c.conversions.refusal ? [`counter ${c.id}: ${c.conversions.failed} conversions kept aside: ${c.conversions.refusal}`] : []),
        ])
        .join('; ') || null,
    finishedAt: clock.now(),
  });
  return report;
}

/**
 * One page: each call normalised, then decided for every counter (the report counts skips, waits and rows kept
 * aside as malformed). A row is checked against the window its page was asked for and now.
 */
function decidePage(
  ctx: SyncContext,
  calls: readonly RawCall[],
  now: number,
  window: FetchWindow,
  reports: Map<number, CounterReport>,
  fingerprints: { settings: string; known: boolean; from: number },
  floors: Map<number, AdoptedFloors>,
) {
  const checks = { window, now };
  const seen: SeenCall[] = [];
  const records: DeliveryRecord[] = [];
  const malformed: string[] = [];
  let latest: number | null = null;
  let unchanged = 0;
  // A call fetched again as it was is recognised before it is read: by its id, then its fingerprint. A no-op's look-back
  // window is mostly such calls (1 408 of 1 436 at a million calls), and reading each (time zone, phone, tags) was
  // most of what deciding the page cost.
  const ids = calls.map(callIdOf);
  const kept = fingerprints.known ? ctx.store.fingerprints(ids) : null;
  const readable: { raw: RawCall; call: Call; fingerprint: string | undefined }[] = [];
  for (const [i, raw] of calls.entries()) {
    const held = kept?.get(ids[i]!);
    const fingerprint = held === undefined ? undefined : callFingerprint(raw, fingerprints.settings);
    if (held !== undefined && held.fingerprint === fingerprint) {
      // Its time is the one it was decided with: the same text under the same time zone (both in the fingerprint).
      if (latest === null || held.callTime > latest) latest = held.callTime;
      unchanged++;
      continue;
    }
    const normalised = normaliseCall(raw, ctx.config.callkeeper.timezone);
    if (normalised.ok) readable.push({ raw, call: normalised.call, fingerprint });
    else malformed.push(normalised.problem);
  }
  for (const { raw, call, fingerprint: digested } of readable) {
    if (latest === null || call.callTime > latest) latest = call.callTime;
    // Digested only where it can be compared now or later: SHA-256 of every call was a tenth of a backfill's CPU.
    const fingerprint = digested ?? (call.callTime >= fingerprints.from ? callFingerprint(raw, fingerprints.settings) : null);
    const fin = finality(call, now, ctx.config.sync.settleMinutes, ctx.config.sync.maxWaitHours);
    // Stryker disable next-line ArrayDeclaration: only read by fingerprintHolds, which looks for 'waiting' and 'malformed': a stray first element changes nothing
    const states: string[] = [];
    // Skipped decisions travel as one text on the call (SeenCall.skips), not a record each: 73 % of a backfill's
    // decisions. Kinds, reasons and waits are fixed words of the domain's types: nothing in them needs escaping.
    const skips: string[] = [];
    const waited = fin.final ? (fin.waitedOut ?? null) : null;
    for (const counter of ctx.counters) {
      const r = reports.get(counter.id)!;
      for (const d of respectAdopted(decideDeliveries(call, counter, fin, checks), call, floors.get(counter.id))) {
        states.push(d.state);
        if (d.state === 'skipped') {
          if (d.kind === 'call') r.skipped[d.reason] = (r.skipped[d.reason] ?? 0) + 1;
          skips.push(waited ? `[${counter.id},"${d.kind}","${d.reason}","${waited}"]` : `[${counter.id},"${d.kind}","${d.reason}"]`);
          continue;
        }
        if (d.state === 'waiting' && d.kind === 'call') r.waiting[d.reason] = (r.waiting[d.reason] ?? 0) + 1;
        if (d.state === 'malformed' && d.kind === 'call') r.malformed[d.reason] = (r.malformed[d.reason] ?? 0) + 1;
        records.push({
          counterId: counter.id,
          callId: call.id,
          kind: d.kind,
          state: d.state,
          reason: d.state === 'pending' ? null : d.reason,
          row: d.state === 'pending' ? d.row : null,
          idType: d.state === 'pending' ? d.idType : undefined,
          callTime: call.callTime,
          waited,
        });
      }
    }
    seen.push({
      id: call.id,
      callTime: call.callTime,
      serviceType: String(call.serviceType),
      fingerprint: fingerprintHolds(states) ? fingerprint : null,
      skips: skips.length > 0 ? `[${skips.join(',')}]` : null,
    });
  }
  return { seen, records, malformed, latest, unchanged };
}

function asCounterError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof CkymError) return { message: error.message, exitCode: error.exitCode };
  return { message: error instanceof Error ? error.message : String(error), exitCode: 1 };
}

function emptyReport(counter: CounterSettings): CounterReport {
  const kind = (): KindReport => ({ sent: 0, late: 0, dropped: 0, failed: 0, refusal: null, held: null, batchId: null, uploadingId: null });
  return {
    id: counter.id,
    name: counter.name,
    calls: kind(),
    conversions: kind(),
    skipped: {},
    waiting: {},
    malformed: {},
    requeued: 0,
    error: null,
  };
}

function kindReport(r: CounterReport, kind: DeliveryKind): KindReport {
  return kind === 'call' ? r.calls : r.conversions;
}

function totals(report: SyncReport): RunTotals {
  const sum = (values: Partial<Record<string, number>>) => Object.values(values).reduce<number>((s, n) => s + (n ?? 0), 0);
  return {
    pages: report.pages,
    fetched: report.fetched,
    sentCalls: report.counters.reduce((s, c) => s + c.calls.sent, 0),
    sentConversions: report.counters.reduce((s, c) => s + c.conversions.sent, 0),
    skipped: report.counters.reduce((s, c) => s + sum(c.skipped), 0),
    waiting: report.counters.reduce((s, c) => s + sum(c.waiting), 0),
  };
}
