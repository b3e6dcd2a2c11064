/**
 * The check of `delivery_counts` (schema 6): what `ckym stats` reads from the counts kept as deliveries are written
 * must equal what the delivery rows themselves say — for all time, from an hour, from a moment off the hour, per day.
 */
import { expect } from 'vitest';
import type { Store } from '../../src/store/store.js';
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
