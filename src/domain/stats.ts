/**
 * What `ckym stats` says, decided from plain rows: per counter (sent, skipped by reason, waiting, failed,
 * pending, sent too late to link), per goal, per day in the account's time zone, uploads with what
 * Metrica made of them, and the last runs. Pure: the store reads the rows, the command renders the result.
 */
import { zonedTimeToUnix } from './timezone.js';
import type { DeliveryKind } from './types.js';

/** Metrica links a call to a visit at most this old: older calls are delivered but cannot be linked. */
export const LINK_WINDOW_SECONDS = 21 * 86_400;
/** Days in the per-day table when no `--since` is given. */
export const DEFAULT_DAYS = 14;
/** At most this many days in the per-day table (a long `--since` keeps the newest). */
export const MAX_DAYS = 92;

export type DeliveryStateName = 'waiting' | 'skipped' | 'malformed' | 'pending' | 'batched' | 'sent' | 'failed';

// ── what the store reads ────────────────────────────────────────────────────

/** Deliveries of one (counter, kind, state, reason). */
export interface DeliveryCount {
  counterId: number;
  kind: DeliveryKind;
  state: DeliveryStateName;
  reason: string | null;
  count: number;
}

/** Sent deliveries whose call was older than the link window when it was uploaded. */
export interface LateSentCount {
  counterId: number;
  kind: DeliveryKind;
  count: number;
}

/** Sent conversions per goal identifier (the `Target` cell each was uploaded with). */
export interface GoalSentCount {
  counterId: number;
  goal: string;
  count: number;
}

/** Deliveries decided as they stood after `sync.maxWaitHours`, by the wait they were still in. */
export interface WaitedOutCount {
  counterId: number;
  kind: DeliveryKind;
  waited: string;
  count: number;
}

/** Deliveries of one (day, counter, kind, state); `day` indexes the day windows asked for. */
export interface DayCount {
  day: number;
  counterId: number;
  kind: DeliveryKind;
  state: DeliveryStateName;
  count: number;
}

export interface BatchRecord {
  id: number;
  runId: number;
  counterId: number;
  kind: DeliveryKind;
  /** The file's identifier type (`clientId` or `yclid`). */
  idType: string;
  /** `fresh`, or `old`: rows dated before the counter's linking threshold, sent with the ignore flag. */
  segment: string;
  /** The refused batch this one was split from. */
  splitFrom: number | null;
  rows: number;
  status: 'prepared' | 'sending' | 'sent' | 'rejected' | 'void';
  /** Unix seconds. */
  createdAt: number;
  sentAt: number | null;
  uploadingId: number | null;
  metrikaStatus: string | null;
  /** The last uploading object Metrica returned (at upload or on `--refresh`). */
  uploading: Record<string, unknown> | null;
  error: string | null;
}

export interface RunSummary {
  id: number;
  pid: number;
  /** Unix ms. */
  startedAt: number;
  finishedAt: number | null;
  outcome: 'running' | 'ok' | 'partial' | 'failed';
  exitCode: number | null;
  pages: number;
  fetched: number;
  sentCalls: number;
  sentConversions: number;
  skipped: number;
  waiting: number;
  error: string | null;
}

export interface StatsInput {
  deliveries: DeliveryCount[];
  lateSent: LateSentCount[];
  goals: GoalSentCount[];
  days: DayCount[];
  /** Absent from a database before schema 6 (nothing recorded it). */
  waitedOut?: WaitedOutCount[] | undefined;
  batches: BatchRecord[];
  runs: RunSummary[];
  /** Counters with any delivery or batch in the database. */
  counterIdsWithData: number[];
}

// ── what stats say ──────────────────────────────────────────────────────────

export interface KindStats {
  sent: number;
  /** Sent, but the call was over 21 days old at upload: in Metrica's call reports, not linked to a visit. */
  sentOlderThan21Days: number;
  pending: number;
  batched: number;
  /** Kept aside: Metrica refused them (`sync --retry-failed` sends them again), by reason. */
  failed: number;
  failedByReason: Record<string, number>;
  /** Rows Metrica would refuse, found before they were batched: never sent, by reason. */
  malformed: number;
  malformedByReason: Record<string, number>;
  skipped: number;
  skippedByReason: Record<string, number>;
  waiting: number;
  waitingByReason: Record<string, number>;
  /**
   * Decided as they stood — sent, skipped or kept aside like any other — because they were still unfinished (in
   * progress, scheduled, awaiting a status) after `sync.maxWaitHours`; by that wait.
   */
  decidedAfterMaxWait: number;
  decidedAfterMaxWaitByReason: Record<string, number>;
}

export interface StateTotals {
  sent: number;
  skipped: number;
  waiting: number;
  /** pending + batched */
  pending: number;
  failed: number;
  malformed: number;
}

export interface DayStats {
  /** `YYYY-MM-DD` in the account's time zone. */
  date: string;
  calls: StateTotals;
  conversions: StateTotals;
}

export interface CounterStats {
  id: number;
  name: string;
  configured: boolean;
  enabled: boolean | null;
  /** The configured goal identifier; null when none (or not configured). */
  goal: string | null;
  calls: KindStats;
  conversions: KindStats & { byGoal: Record<string, number> };
  days: DayStats[];
}

export type UploadProblem = 'linkage-failure' | 'lines-dropped' | 'rejected';

export interface MetrikaUploadingFacts {
  status: string | null;
  sourceQuantity: number | null;
  lineQuantity: number | null;
  staticCalls: number | null;
  dynamicCalls: number | null;
  linkedQuantity: number | null;
}

export interface UploadStats {
  batchId: number;
  runId: number;
  counterId: number;
  kind: DeliveryKind;
  idType: string;
  segment: string;
  splitFrom: number | null;
  /** Rows sent in the file. */
  rows: number;
  status: BatchRecord['status'];
  createdAt: number;
  sentAt: number | null;
  uploadingId: number | null;
  metrika: MetrikaUploadingFacts | null;
  problems: UploadProblem[];
  error: string | null;
}

export interface RunStats extends RunSummary {
  durationMs: number | null;
}

export interface StatsReport {
  /** Unix ms. */
  generatedAt: number;
  timeZone: string;
  /** Unix seconds; counts are of calls at or after it. */
  since: number | null;
  counters: CounterStats[];
  /** Sums over `counters`, day by day, oldest first. */
  days: DayStats[];
  uploads: UploadStats[];
  runs: RunStats[];
}

export interface ConfiguredCounter {
  id: number;
  name: string;
  enabled: boolean;
  goal: string;
}

export interface DayWindow {
  date: string;
  /** Unix seconds, inclusive. */
  start: number;
  /** Unix seconds, exclusive. */
  end: number;
}

// ── days in a time zone ─────────────────────────────────────────────────────

const dateFormats = new Map<string, Intl.DateTimeFormat>();

/** The calendar date (`YYYY-MM-DD`) of unix second `unix` in `timeZone`. */
export function localDate(unix: number, timeZone: string): string {
  let format = dateFormats.get(timeZone);
  // Stryker disable next-line ConditionalExpression: a cache of date formatters: rebuilt each time it is the same
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(unix * 1000).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** `YYYY-MM-DD` plus `n` calendar days. */
export function addDays(date: string, n: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** Local midnight of `date` in `timeZone`, as unix seconds (a midnight skipped by DST moves forward). */
export function startOfDay(date: string, timeZone: string): number {
  const unix = zonedTimeToUnix(`${date} 00:00:00`, timeZone);
  if (unix === null) throw new RangeError(`not a date: ${date}`);
  return unix;
}

/**
 * The days of the per-day table, oldest first, ending with today (in `timeZone`): the last
 * `DEFAULT_DAYS` days, or every day from `since`'s (at most `MAX_DAYS`, the newest).
 */
export function dayWindows(nowMs: number, timeZone: string, since: number | null = null): DayWindow[] {
  const today = localDate(Math.floor(nowMs / 1000), timeZone);
  let count = DEFAULT_DAYS;
  if (since !== null) {
    const first = localDate(since, timeZone);
    const span = Math.round((Date.parse(`${today}T00:00:00Z`) - Date.parse(`${first}T00:00:00Z`)) / 86_400_000) + 1;
    count = Math.min(Math.max(span, 1), MAX_DAYS);
  }
  const out: DayWindow[] = [];
  for (let i = count - 1; i >= 0; i--) {
    const date = addDays(today, -i);
    out.push({ date, start: startOfDay(date, timeZone), end: startOfDay(addDays(date, 1), timeZone) });
  }
  return out;
}

// ── shaping ─────────────────────────────────────────────────────────────────

export function emptyKindStats(): KindStats {
  return {
    sent: 0,
    sentOlderThan21Days: 0,
    pending: 0,
    batched: 0,
    failed: 0,
    failedByReason: {},
    malformed: 0,
    malformedByReason: {},
    skipped: 0,
    skippedByReason: {},
    waiting: 0,
    waitingByReason: {},
    decidedAfterMaxWait: 0,
    decidedAfterMaxWaitByReason: {},
  };
}

export function emptyStateTotals(): StateTotals {
  return { sent: 0, skipped: 0, waiting: 0, pending: 0, failed: 0, malformed: 0 };
}

function bump(map: Record<string, number>, key: string, n: number): void {
  map[key] = (map[key] ?? 0) + n;
}

function addToKind(k: KindStats, state: DeliveryStateName, reason: string | null, n: number): void {
  const why = reason ?? 'unknown';
  switch (state) {
    case 'sent':
      k.sent += n;
      break;
    case 'pending':
      k.pending += n;
      break;
    case 'batched':
      k.batched += n;
      break;
    case 'failed':
      k.failed += n;
      bump(k.failedByReason, why, n);
      break;
    case 'skipped':
      k.skipped += n;
      bump(k.skippedByReason, why, n);
      break;
    case 'malformed':
      k.malformed += n;
      bump(k.malformedByReason, why, n);
      break;
    case 'waiting':
      k.waiting += n;
      bump(k.waitingByReason, why, n);
      break;
  }
}

function addToTotals(t: StateTotals, state: DeliveryStateName, n: number): void {
  if (state === 'batched' || state === 'pending') t.pending += n;
  else t[state] += n;
}

function sumTotals(into: StateTotals, from: StateTotals): void {
  into.sent += from.sent;
  into.skipped += from.skipped;
  into.waiting += from.waiting;
  into.pending += from.pending;
  into.failed += from.failed;
  into.malformed += from.malformed;
}

/** Orders reasons by count (largest first), then by name. */
export function byCount(map: Record<string, number>): [string, number][] {
  // Stryker disable next-line ConditionalExpression,EqualityOperator: names in one map are unique, and sort only asks whether the result is below zero
  return Object.entries(map).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The counters stats cover: `only` when given (in that order); else the configured ones in config order,
 * then any other counter the database has data for, by id.
 */
export function countersCovered(configured: readonly ConfiguredCounter[], withData: readonly number[], only?: readonly number[]): number[] {
  if (only && only.length > 0) return [...new Set(only)];
  const ids = configured.map((c) => c.id);
  const extra = withData.filter((id) => !ids.includes(id)).sort((a, b) => a - b);
  return [...ids, ...extra];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null);

/** What Metrica reported about an upload, read defensively (only `id` is sure to be there). */
export function uploadingFacts(uploading: Record<string, unknown> | null, status: string | null): MetrikaUploadingFacts | null {
  if (!uploading && status === null) return null;
  const u = uploading ?? {};
  return {
    status: typeof u.status === 'string' ? u.status : status,
    sourceQuantity: num(u.source_quantity),
    lineQuantity: num(u.line_quantity),
    staticCalls: num(u.static_calls_quantity),
    dynamicCalls: num(u.dynamic_calls_quantity),
    linkedQuantity: num(u.linked_quantity),
  };
}

/**
 * What should stand out about an upload: Metrica failed to link it, kept fewer lines than it was sent (its
 * `line_quantity` below its `source_quantity` or the rows ckym sent), or refused the file.
 */
export function uploadProblems(batch: Pick<BatchRecord, 'status'> & { rows?: number }, facts: MetrikaUploadingFacts | null): UploadProblem[] {
  const problems: UploadProblem[] = [];
  if (batch.status === 'rejected') problems.push('rejected');
  if (facts?.status === 'LINKAGE_FAILURE') problems.push('linkage-failure');
  const kept = facts?.lineQuantity ?? null;
  const sent = Math.max(facts?.sourceQuantity ?? 0, batch.status === 'sent' ? (batch.rows ?? 0) : 0);
  if (kept !== null && kept < sent) problems.push('lines-dropped');
  return problems;
}

export interface BuildStatsOptions {
  configured: readonly ConfiguredCounter[];
  only?: readonly number[] | undefined;
  days: readonly DayWindow[];
  nowMs: number;
  timeZone: string;
  since: number | null;
}

/** Shapes the rows the store read into the stats report. */
export function buildStats(input: StatsInput, options: BuildStatsOptions): StatsReport {
  const ids = countersCovered(options.configured, input.counterIdsWithData, options.only);
  const covered = new Set(ids);
  const configured = new Map(options.configured.map((c) => [c.id, c]));
  const newDays = (): DayStats[] =>
    options.days.map((d) => ({ date: d.date, calls: emptyStateTotals(), conversions: emptyStateTotals() }));

  const counters = new Map<number, CounterStats>(
    ids.map((id) => {
      const c = configured.get(id);
      return [
        id,
        {
          id,
          name: c?.name ?? '',
          configured: c !== undefined,
          enabled: c?.enabled ?? null,
          goal: c && c.goal.trim() !== '' ? c.goal.trim() : null,
          calls: emptyKindStats(),
          conversions: { ...emptyKindStats(), byGoal: {} },
          days: newDays(),
        },
      ];
    }),
  );
  const kindOf = (c: CounterStats, kind: DeliveryKind): KindStats => (kind === 'call' ? c.calls : c.conversions);

  for (const d of input.deliveries) {
    const c = counters.get(d.counterId);
    if (c) addToKind(kindOf(c, d.kind), d.state, d.reason, d.count);
  }
  // Stryker disable next-line ArrayDeclaration: an entry of no counter covered is passed over
  for (const w of input.waitedOut ?? []) {
    const k = counters.get(w.counterId);
    if (!k) continue;
    kindOf(k, w.kind).decidedAfterMaxWait += w.count;
    bump(kindOf(k, w.kind).decidedAfterMaxWaitByReason, w.waited, w.count);
  }
  for (const l of input.lateSent) {
    const c = counters.get(l.counterId);
    if (c) kindOf(c, l.kind).sentOlderThan21Days += l.count;
  }
  for (const g of input.goals) {
    const c = counters.get(g.counterId);
    if (c) bump(c.conversions.byGoal, g.goal, g.count);
  }
  for (const d of input.days) {
    const day = counters.get(d.counterId)?.days[d.day];
    if (day) addToTotals(d.kind === 'call' ? day.calls : day.conversions, d.state, d.count);
  }

  const days = newDays();
  for (const c of counters.values()) {
    c.days.forEach((d, i) => {
      sumTotals(days[i]!.calls, d.calls);
      sumTotals(days[i]!.conversions, d.conversions);
    });
  }

  const uploads: UploadStats[] = input.batches
    .filter((b) => covered.has(b.counterId))
    .map((b) => {
      const metrika = uploadingFacts(b.uploading, b.metrikaStatus);
      return {
        batchId: b.id,
        runId: b.runId,
        counterId: b.counterId,
        kind: b.kind,
        idType: b.idType,
        segment: b.segment,
        splitFrom: b.splitFrom,
        rows: b.rows,
        status: b.status,
        createdAt: b.createdAt,
        sentAt: b.sentAt,
        uploadingId: b.uploadingId,
        metrika,
        problems: uploadProblems(b, metrika),
        error: b.error,
      };
    });

  const runs: RunStats[] = input.runs
    .filter((r) => options.since === null || r.startedAt >= options.since * 1000)
    .map((r) => ({ ...r, durationMs: r.finishedAt === null ? null : Math.max(0, r.finishedAt - r.startedAt) }));

  return {
    generatedAt: options.nowMs,
    timeZone: options.timeZone,
    since: options.since,
    counters: [...counters.values()],
    days,
    uploads,
    runs,
  };
}

/** Sums of a day list (for the table's total line and for checks). */
export function totalOfDays(days: readonly DayStats[]): { calls: StateTotals; conversions: StateTotals } {
  const calls = emptyStateTotals();
  const conversions = emptyStateTotals();
  for (const d of days) {
    sumTotals(calls, d.calls);
    sumTotals(conversions, d.conversions);
  }
  return { calls, conversions };
}
