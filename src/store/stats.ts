/**
 * Read-only queries for `ckym stats` and `ckym doctor`: SELECTs on the store's database, nothing else.
 * They work on a store opened `{ readonly: true }`, so they never wait for (or hold up) a running sync.
 */
import { parseJsonObject } from '../json.js';
import { connectionOf, type Store } from './store.js';
import {
  LINK_WINDOW_SECONDS,
  type BatchRecord,
  type DayCount,
  type DayWindow,
  type DeliveryCount,
  type GoalSentCount,
  type LateSentCount,
  type RunSummary,
  type StatsInput,
  type WaitedOutCount,
} from '../domain/stats.js';
import { CONVERSION_COLUMNS, type DeliveryKind } from '../domain/types.js';

export interface StatsFilter {
  /** Unix seconds: only calls at or after it (deliveries), batches created at or after it. */
  since?: number | null | undefined;
  /** Unix seconds: only calls before it (deliveries; the counts' partial hours). */
  until?: number | null | undefined;
  /** Only these counters; all when absent or empty. */
  counterIds?: readonly number[] | undefined;
}

/** The `WHERE` fragment and its parameters shared by the queries (the counter list travels as one JSON parameter). */
function where(filter: StatsFilter, timeColumn: string, counterColumn = 'counter_id'): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (filter.since !== null && filter.since !== undefined) {
    parts.push(`${timeColumn} >= ?`);
    params.push(filter.since);
  }
  if (filter.until !== null && filter.until !== undefined) {
    parts.push(`${timeColumn} < ?`);
    params.push(filter.until);
  }
  if (filter.counterIds && filter.counterIds.length > 0) {
    parts.push(`${counterColumn} IN (SELECT value FROM json_each(?))`);
    params.push(JSON.stringify(filter.counterIds));
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1', params };
}

/** True when the database has ckym's tables (a file created but never migrated has none). */
export function hasSchema(store: Store): boolean {
  const row = connectionOf(store).prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'`).get();
  return row !== undefined;
}

/**
 * Where each delivery's state is read: `delivery_view` (schema 3 on: a delivery of a sent batch is sent), or, in a
 * database the running ckym has not migrated yet (stats only reads), the table itself, which then still says 'sent'.
 */
function deliveriesOf(store: Store): string {
  return store.schemaVersion >= 3 ? 'delivery_view' : 'deliveries';
}

/** Deliveries grouped by counter, kind, state and reason. */
export function deliveryCounts(store: Store, filter: StatsFilter = {}): DeliveryCount[] {
  const w = where(filter, 'call_time');
  return connectionOf(store)
    .prepare(
      `SELECT counter_id AS counterId, kind, state, reason, COUNT(*) AS count FROM ${deliveriesOf(store)}
       WHERE ${w.sql} GROUP BY counter_id, kind, state, reason ORDER BY counter_id, kind, state, reason`,
    )
    .all(...w.params) as DeliveryCount[];
}

/** Sent deliveries whose call was over 21 days old when it was uploaded (delivered, but not linkable to a visit). */
export function lateSentCounts(store: Store, filter: StatsFilter = {}): LateSentCount[] {
  const w = where(filter, 'call_time');
  return connectionOf(store)
    .prepare(
      `SELECT counter_id AS counterId, kind, COUNT(*) AS count FROM ${deliveriesOf(store)}
       WHERE state = 'sent' AND sent_at - call_time > ? AND ${w.sql} GROUP BY counter_id, kind ORDER BY counter_id, kind`,
    )
    .all(LINK_WINDOW_SECONDS, ...w.params) as LateSentCount[];
}

/** Sent conversions per goal: the `Target` cell of the row each was uploaded with. */
export function goalSentCounts(store: Store, filter: StatsFilter = {}): GoalSentCount[] {
  const w = where(filter, 'call_time');
  const target = CONVERSION_COLUMNS.indexOf('Target');
  return connectionOf(store)
    .prepare(
      `SELECT counter_id AS counterId, COALESCE(json_extract(row, '$[${target}]'), '') AS goal, COUNT(*) AS count FROM ${deliveriesOf(store)}
       WHERE kind = 'conversion' AND state = 'sent' AND ${w.sql} GROUP BY counter_id, goal ORDER BY counter_id, goal`,
    )
    .all(...w.params) as GoalSentCount[];
}

/** Deliveries decided as they stood after `sync.maxWaitHours`, by the wait they were still in (schema 6 on). */
export function waitedOutCounts(store: Store, filter: StatsFilter = {}): WaitedOutCount[] {
  if (store.schemaVersion < 6) return [];
  const w = where(filter, 'call_time');
  return connectionOf(store)
    .prepare(
      `SELECT counter_id AS counterId, kind, waited, COUNT(*) AS count FROM ${deliveriesOf(store)}
       WHERE waited IS NOT NULL AND ${w.sql} GROUP BY counter_id, kind, waited ORDER BY counter_id, kind, waited`,
    )
    .all(...w.params) as WaitedOutCount[];
}

/** Deliveries per day window (by call time), counter, kind and state; `day` is the window's index. */
export function dayCounts(store: Store, days: readonly DayWindow[], filter: StatsFilter = {}): DayCount[] {
  if (days.length === 0) return [];
  const w = where(filter, 'd.call_time', 'd.counter_id');
  const values = days.map(() => '(?, ?, ?)').join(', ');
  const windowParams = days.flatMap((d, i) => [i, d.start, d.end]);
  return connectionOf(store)
    .prepare(
      `WITH days (day, start, stop) AS (VALUES ${values})
       SELECT days.day AS day, d.counter_id AS counterId, d.kind AS kind, d.state AS state, COUNT(*) AS count
       FROM ${deliveriesOf(store)} d JOIN days ON d.call_time >= days.start AND d.call_time < days.stop
       WHERE d.call_time >= ? AND d.call_time < ? AND ${w.sql}
       GROUP BY days.day, d.counter_id, d.kind, d.state ORDER BY 1, 2, 3, 4`,
    )
    .all(...windowParams, days[0]!.start, days[days.length - 1]!.end, ...w.params) as DayCount[];
}

interface BatchRow {
  id: number;
  run_id: number;
  counter_id: number;
  kind: DeliveryKind;
  id_type: string | undefined;
  segment: string | undefined;
  split_from: number | null | undefined;
  rows: number;
  status: BatchRecord['status'];
  created_at: number;
  sent_at: number | null;
  uploading_id: number | null;
  metrika_status: string | null;
  uploading_json: string | null;
  error: string | null;
}

/** The newest batches (uploads), newest first. */
export function recentBatches(store: Store, limit: number, filter: StatsFilter = {}): BatchRecord[] {
  const w = where(filter, 'created_at');
  // A database the running ckym has not migrated yet (stats only reads) has no identifier type or segment: ClientId, fresh.
  const v4 = store.schemaVersion >= 4 ? 'id_type, segment, split_from,' : '';
  const rows = connectionOf(store)
    .prepare(
      `SELECT id, run_id, counter_id, kind, ${v4} rows, status, created_at, sent_at, uploading_id, metrika_status, uploading_json, error
       FROM batches WHERE ${w.sql} ORDER BY id DESC LIMIT ?`,
    )
    .all(...w.params, limit) as BatchRow[];
  return rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
    counterId: r.counter_id,
    kind: r.kind,
    idType: r.id_type ?? 'clientId',
    segment: r.segment ?? 'fresh',
    splitFrom: r.split_from ?? null,
    rows: r.rows,
    status: r.status,
    createdAt: r.created_at,
    sentAt: r.sent_at,
    uploadingId: r.uploading_id,
    metrikaStatus: r.metrika_status,
    uploading: parseJsonObject(r.uploading_json),
    error: r.error,
  }));
}

/** Every counter with a delivery (schema 6 on: its counts, which skips, kept on the calls' rows since 8, have too) or a batch, by id. */
export function countersWithData(store: Store): number[] {
  // Each table walked from one counter to the next through the index its key starts with (a loose index scan), not
  // row by row: a million calls are five million deliveries.
  const walk = (name: string, table: string) =>
    `${name} (id) AS (SELECT MIN(counter_id) FROM ${table}
       UNION ALL SELECT (SELECT MIN(counter_id) FROM ${table} WHERE counter_id > ${name}.id) FROM ${name} WHERE ${name}.id IS NOT NULL)`;
  return connectionOf(store)
    .prepare(
      `WITH RECURSIVE ${walk('d', store.schemaVersion >= 6 ? 'delivery_totals' : 'deliveries')}, ${walk('b', 'batches')}
       SELECT id FROM d WHERE id IS NOT NULL UNION SELECT id FROM b WHERE id IS NOT NULL ORDER BY 1`,
    )
    .pluck()
    .all() as number[];
}

/** The newest runs, newest first. */
export function recentRuns(store: Store, limit: number): RunSummary[] {
  return store.recentRuns(limit);
}

export interface StatsQuery extends StatsFilter {
  days: readonly DayWindow[];
  uploadLimit: number;
  runLimit: number;
}

/** The deliveries' part of the stats, read from every delivery row (a database before schema 6; the counts' check). */
export function rowStats(store: Store, filter: StatsFilter, days: readonly DayWindow[]): Pick<StatsInput, 'deliveries' | 'lateSent' | 'goals' | 'days' | 'waitedOut'> {
  return {
    deliveries: deliveryCounts(store, filter),
    lateSent: lateSentCounts(store, filter),
    goals: goalSentCounts(store, filter),
    days: dayCounts(store, days, filter),
    waitedOut: waitedOutCounts(store, filter),
  };
}

const HOUR = 3600;

/**
 * The same, from `delivery_counts` (schema 6 on): sums of the counts kept per hour of the calls, as exact as the
 * rows. A `--since` or a day boundary that is not on the hour (a time zone of half or quarter hours) adds the rows of
 * its partial hour, read from the deliveries themselves.
 */
export function countStats(store: Store, filter: StatsFilter, days: readonly DayWindow[]): Pick<StatsInput, 'deliveries' | 'lateSent' | 'goals' | 'days' | 'waitedOut'> {
  const db = connectionOf(store);
  const since = filter.since ?? null;
  const fromHour = since === null ? null : Math.ceil(since / HOUR);
  const w = where({ counterIds: filter.counterIds }, 'hour');
  // the partial hour a --since off the hour leaves: [since, the next full hour)
  const edge: StatsFilter | null = since !== null && since % HOUR !== 0 ? { since, until: fromHour! * HOUR, counterIds: filter.counterIds } : null;

  const sum = <T extends { count: number }>(rows: T[], extra: T[], key: (r: T) => string): T[] => {
    const all = new Map<string, T>();
    for (const r of [...rows, ...extra]) {
      const k = key(r);
      const had = all.get(k);
      if (had) had.count += r.count;
      else all.set(k, { ...r });
    }
    return [...all.values()].filter((r) => r.count !== 0);
  };
  // One pass over the counts (for all time, the totals: a few rows): every figure below is a sum of these groups.
  const keys = countKeys(filter.counterIds);
  const groups = (
    since === null
      ? db
          .prepare(
            `SELECT counter_id AS counterId, kind, state, reason, goal, late, waited, SUM(count) AS count
             FROM delivery_totals WHERE ${w.sql} GROUP BY counter_id, kind, state, reason, goal, late, waited`,
          )
          .all(...w.params)
      : db
          .prepare(
            `WITH RECURSIVE ${keys.sql}
             SELECT c.counter_id AS counterId, c.kind AS kind, c.state AS state, c.reason AS reason, c.goal AS goal, c.late AS late,
                    c.waited AS waited, SUM(c.count) AS count
             FROM keys k CROSS JOIN delivery_counts c ON c.counter_id = k.counter_id AND c.kind = k.kind AND c.state = k.state AND c.hour >= ?
             GROUP BY c.counter_id, c.kind, c.state, c.reason, c.goal, c.late, c.waited`,
          )
          .all(...keys.params, fromHour)
  ) as { counterId: number; kind: DeliveryKind; state: DeliveryCount['state']; reason: string; goal: string; late: number; waited: string; count: number }[];
  const deliveries = sum(
    groups.map((g) => ({ counterId: g.counterId, kind: g.kind, state: g.state, reason: g.reason === '' ? null : g.reason, count: g.count })),
    edge ? deliveryCounts(store, edge) : [],
    (r) => `${r.counterId}/${r.kind}/${r.state}/${r.reason ?? ''}`,
  );
  const lateSent = sum(
    groups.filter((g) => g.state === 'sent' && g.late === 1).map((g) => ({ counterId: g.counterId, kind: g.kind, count: g.count })),
    edge ? lateSentCounts(store, edge) : [],
    (r) => `${r.counterId}/${r.kind}`,
  );
  const goals = sum(
    groups.filter((g) => g.kind === 'conversion' && g.state === 'sent').map((g) => ({ counterId: g.counterId, goal: String(g.goal), count: g.count })),
    edge ? goalSentCounts(store, edge) : [],
    (r) => `${r.counterId}/${r.goal}`,
  );
  const waitedOut = sum(
    groups.filter((g) => g.waited !== '').map((g) => ({ counterId: g.counterId, kind: g.kind, waited: g.waited, count: g.count })),
    edge ? waitedOutCounts(store, edge) : [],
    (r) => `${r.counterId}/${r.kind}/${r.waited}`,
  );

  let perDay: DayCount[] = [];
  if (days.length > 0) {
    const onTheHour = days.every((d) => d.start % HOUR === 0 && d.end % HOUR === 0) && (since === null || since % HOUR === 0);
    if (!onTheHour) {
      perDay = dayCounts(store, days, filter);
    } else {
      const values = days.map(() => '(?, ?, ?)').join(', ');
      const windowParams = days.flatMap((d, i) => [i, d.start / HOUR, d.end / HOUR]);
      const first = Math.max(days[0]!.start / HOUR, fromHour ?? -Infinity);
      perDay = (
        db
          .prepare(
            `WITH RECURSIVE days (day, start, stop) AS (VALUES ${values}), ${keys.sql}
             SELECT days.day AS day, c.counter_id AS counterId, c.kind AS kind, c.state AS state, SUM(c.count) AS count
             FROM keys k CROSS JOIN delivery_counts c ON c.counter_id = k.counter_id AND c.kind = k.kind AND c.state = k.state AND c.hour >= ? AND c.hour < ?
             JOIN days ON c.hour >= days.start AND c.hour < days.stop
             GROUP BY days.day, c.counter_id, c.kind, c.state ORDER BY 1, 2, 3, 4`,
          )
          .all(...windowParams, ...keys.params, first, days[days.length - 1]!.end / HOUR) as DayCount[]
      ).filter((r) => r.count !== 0);
    }
  }
  return { deliveries, lateSent, goals, days: perDay, waitedOut };
}

/**
 * The kinds and states a count can have (the `deliveries` table's CHECKs). Written as records of every member of the
 * types, so that a kind or state added to the domain fails to compile here instead of going missing from `stats`.
 */
const COUNT_KINDS = Object.keys({ call: true, conversion: true } satisfies Record<DeliveryKind, true>);
const COUNT_STATES = Object.keys({
  waiting: true,
  skipped: true,
  malformed: true,
  pending: true,
  batched: true,
  sent: true,
  failed: true,
} satisfies Record<DeliveryCount['state'], true>);

/**
 * A `keys (counter_id, kind, state)` table for a read of `delivery_counts` by hour: every (counter, kind, state) the
 * read wants, the counters named by the filter or walked through the table's key (a loose index scan). Schema 10 keys
 * the counts by counter, kind and state before the hour, so each key is a seek to its hours — not a scan of the table.
 * The same rows on an older database, whose key starts with the hour.
 */
function countKeys(counterIds: readonly number[] | undefined): { sql: string; params: unknown[] } {
  const counters =
    counterIds && counterIds.length > 0
      ? { sql: `counters (id) AS (SELECT value FROM json_each(?))`, params: [JSON.stringify(counterIds)] }
      : {
          sql: `counters (id) AS (SELECT MIN(counter_id) FROM delivery_counts
                  UNION ALL SELECT (SELECT MIN(counter_id) FROM delivery_counts WHERE counter_id > counters.id) FROM counters WHERE counters.id IS NOT NULL)`,
          params: [],
        };
  return {
    sql: `${counters.sql}, keys (counter_id, kind, state) AS MATERIALIZED (
            SELECT counters.id, k.value, s.value FROM counters, json_each(?) k, json_each(?) s WHERE counters.id IS NOT NULL)`,
    params: [...counters.params, JSON.stringify(COUNT_KINDS), JSON.stringify(COUNT_STATES)],
  };
}

/** Everything `buildStats` needs, read in one read transaction (one consistent snapshot even while a sync writes). */
export function readStats(store: Store, query: StatsQuery): StatsInput {
  const filter: StatsFilter = { since: query.since, counterIds: query.counterIds };
  return connectionOf(store).transaction(() => ({
    ...(store.schemaVersion >= 6 ? countStats(store, filter, query.days) : rowStats(store, filter, query.days)),
    batches: recentBatches(store, query.uploadLimit, filter),
    runs: recentRuns(store, query.runLimit),
    counterIdsWithData: countersWithData(store),
  }))();
}

/** Rows kept aside (Metrica refused them), per counter: for `doctor`. */
export function failedCounts(store: Store): { counterId: number; count: number }[] {
  return connectionOf(store)
    .prepare(`SELECT counter_id AS counterId, COUNT(*) AS count FROM deliveries WHERE state = 'failed' GROUP BY counter_id ORDER BY 1`)
    .all() as { counterId: number; count: number }[];
}
