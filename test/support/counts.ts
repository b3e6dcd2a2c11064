/**
 * The check of `delivery_counts` (schema 6): what `ckym stats` reads from the counts kept as deliveries are written
 * must equal what the delivery rows themselves say — for all time, from an hour, from a moment off the hour, per day.
 */
import { expect } from 'vitest';
import { connectionOf, type Store } from '../../src/store/store.js';
import { countStats, rowStats, type StatsFilter } from '../../src/store/stats.js';
import { dayWindows } from '../../src/domain/stats.js';

const sorted = (rows: readonly object[]): string[] => rows.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();

/** Asserts the counts-based stats equal the row-based ones at `nowMs` for several filters; returns how many were compared. */
export function expectCountsExact(store: Store, nowMs: number, counterIds?: number[]): number {
  const now = Math.floor(nowMs / 1000);
  const filters: StatsFilter[] = [
    { counterIds },
    { since: now - 3 * 86_400 - ((now - 3 * 86_400) % 3600), counterIds }, // on the hour
    { since: now - 2 * 86_400 - 1234, counterIds }, // off the hour: the partial hour from the rows
    { since: 0, counterIds: counterIds ?? [] },
  ];
  let compared = 0;
  for (const filter of filters) {
    for (const zone of ['Europe/Moscow', 'Asia/Kolkata']) {
      const days = dayWindows(nowMs, zone, filter.since ?? null);
      const counted = countStats(store, filter, days);
      const rows = rowStats(store, filter, days);
      for (const part of ['deliveries', 'lateSent', 'goals', 'days', 'waitedOut'] as const) {
        expect(sorted(counted[part] ?? []), `${part} for ${JSON.stringify(filter)} in ${zone}`).toEqual(sorted(rows[part] ?? []));
      }
      compared++;
    }
  }
  return compared;
}

/**
 * Asserts `delivery_counts` holds, key for key, what the deliveries themselves say (as migration 6 recounts them),
 * and that `batch_counts` (migration 9) holds, key for key, the batched deliveries of each batch not sent yet and
 * nothing of any other batch. Returns the recount of delivery_counts.
 */
export function expectCountsByKey(store: Store): unknown[] {
  const db = connectionOf(store);
  const recount = db
    .prepare(
      // delivery_view: every delivery, the skipped ones kept on their calls' rows (schema 8) too
      `SELECT (d.call_time - ((d.call_time % 3600) + 3600) % 3600) / 3600 AS hour, d.counter_id, d.kind, d.state, IFNULL(d.reason, '') AS reason,
              CASE WHEN d.kind = 'conversion' AND d.row IS NOT NULL THEN COALESCE(json_extract(d.row, '$[1]'), '') ELSE '' END AS goal,
              CASE WHEN d.state = 'sent' AND d.sent_at - d.call_time > 21 * 86400 THEN 1 ELSE 0 END AS late,
              IFNULL(d.waited, '') AS waited, COUNT(*) AS count
       FROM delivery_view d GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`,
    )
    .all();
  const kept = db
    .prepare(`SELECT hour, counter_id, kind, state, reason, goal, late, waited, count FROM delivery_counts WHERE count != 0 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`)
    .all();
  expect(kept).toEqual(recount);
  if (store.schemaVersion >= 9) {
    const batched = db
      .prepare(
        `SELECT d.batch_id, (d.call_time - ((d.call_time % 3600) + 3600) % 3600) / 3600 AS hour,
                CASE WHEN d.kind = 'conversion' AND d.row IS NOT NULL THEN COALESCE(json_extract(d.row, '$[1]'), '') ELSE '' END AS goal,
                IFNULL(d.waited, '') AS waited, COUNT(*) AS count
         FROM deliveries d JOIN batches b ON b.id = d.batch_id WHERE b.status IN ('prepared', 'sending') AND d.state = 'batched'
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
      )
      .all();
    expect(db.prepare(`SELECT batch_id, hour, goal, waited, count FROM batch_counts WHERE count != 0 ORDER BY 1, 2, 3, 4`).all()).toEqual(batched);
    // a settled or deleted batch keeps no counts of its own, not even zeros
    expect(db.prepare(`SELECT DISTINCT batch_id FROM batch_counts WHERE batch_id NOT IN (SELECT id FROM batches WHERE status IN ('prepared', 'sending'))`).pluck().all()).toEqual([]);
  }
  return recount;
}
