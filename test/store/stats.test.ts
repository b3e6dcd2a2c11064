import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type DeliveryRecord } from '../../src/store/store.js';
import {
  countersWithData,
  dayCounts,
  deliveryCounts,
  failedCounts,
  goalSentCounts,
  hasSchema,
  lateSentCounts,
  readStats,
  recentBatches,
} from '../../src/store/stats.js';

const DAY = 86_400;
/** 2024-05-20 00:00 Moscow. */
const MAY_20 = Date.parse('2024-05-19T21:00:00Z') / 1000;

let dir: string;
let file: string;
let store: Store;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-store-stats-'));
  file = path.join(dir, 'ckym.db');
  store = Store.open(file);
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const d = (over: Partial<DeliveryRecord> & { callId: string }): DeliveryRecord => ({
  counterId: 1,
  kind: 'call',
  state: 'pending',
  reason: null,
  row: over.state && over.state !== 'pending' ? null : [over.callId, String(over.callTime ?? MAY_20)],
  callTime: MAY_20,
  ...over,
});

/**
 * Counter 1: a1, a2 sent (a2 called 30 days before the upload), a3 skipped (site), a4 waiting;
 * conversions for a1 (goal_a) and a2 (goal_b). Counter 2: b1 rejected (failed), b2 pending.
 */
function seed(): void {
  const run = store.startRun(1, MAY_20 * 1000);
  const conv = (callId: string, goal: string, callTime: number): DeliveryRecord =>
    d({ callId, kind: 'conversion', callTime, row: ['cid', goal, String(callTime)] });
  store.recordPage(
    run,
    // each call as its decisions have it (a skipped decision is counted at its call's time: schema 8)
    (
      [
        ['a1', MAY_20 + 3600],
        ['a2', MAY_20 - 30 * DAY],
        ['a3', MAY_20 - DAY],
        ['a4', MAY_20 + 7200],
        ['b1', MAY_20 - DAY],
        ['b2', MAY_20],
      ] as const
    ).map(([id, callTime]) => ({ id, callTime, serviceType: 'callback' })),
    [
      d({ callId: 'a1', callTime: MAY_20 + 3600 }),
      d({ callId: 'a2', callTime: MAY_20 - 30 * DAY }),
      d({ callId: 'a3', state: 'skipped', reason: 'site', callTime: MAY_20 - DAY }),
      d({ callId: 'a4', state: 'waiting', reason: 'settling', callTime: MAY_20 + 7200 }),
      conv('a1', 'goal_a', MAY_20 + 3600),
      conv('a2', 'goal_b', MAY_20 - 30 * DAY),
      d({ counterId: 2, callId: 'b1', callTime: MAY_20 - DAY }),
    ],
  );
  const calls = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, (MAY_20 + 4 * 3600) * 1000)[0]!;
  store.markSending(calls.id, (MAY_20 + 4 * 3600) * 1000);
  store.markSent(calls.id, { id: 1_000_001, status: 'UPLOADED', source_quantity: 2, line_quantity: 2 }, (MAY_20 + 4 * 3600) * 1000);
  const convs = store.sealBatches(run, 1, 'conversion', 'clientId', ['ClientId', 'Target', 'DateTime'], null, (MAY_20 + 4 * 3600) * 1000)[0]!;
  store.markSent(convs.id, { id: 1_000_002, status: 'UPLOADED' }, (MAY_20 + 4 * 3600) * 1000);
  const rejected = store.sealBatches(run, 2, 'call', 'clientId', ['ClientId', 'DateTime'], null, (MAY_20 + 4 * 3600) * 1000)[0]!;
  store.rejectBatch(rejected.id, 'Metrica rejected the calls: invalid_uploading');
  store.recordPage(run, [], [d({ counterId: 2, callId: 'b2', callTime: MAY_20 + 60 })]);
  store.finishRun(run, {
    outcome: 'partial',
    exitCode: 5,
    error: 'counter 2: rejected',
    finishedAt: MAY_20 * 1000 + 2500,
    pages: 1,
    fetched: 6,
    sentCalls: 2,
    sentConversions: 2,
    skipped: 1,
    waiting: 1,
  });
}

const windows = [
  { date: '2024-05-19', start: MAY_20 - DAY, end: MAY_20 },
  { date: '2024-05-20', start: MAY_20, end: MAY_20 + DAY },
];

describe('stats queries', () => {
  it('deliveries by counter, kind, state and reason; filtered by --since and --counter', () => {
    seed();
    expect(deliveryCounts(store)).toEqual([
      { counterId: 1, kind: 'call', state: 'sent', reason: null, count: 2 },
      { counterId: 1, kind: 'call', state: 'skipped', reason: 'site', count: 1 },
      { counterId: 1, kind: 'call', state: 'waiting', reason: 'settling', count: 1 },
      { counterId: 1, kind: 'conversion', state: 'sent', reason: null, count: 2 },
      { counterId: 2, kind: 'call', state: 'failed', reason: 'rejected', count: 1 },
      { counterId: 2, kind: 'call', state: 'pending', reason: null, count: 1 },
    ]);
    expect(deliveryCounts(store, { counterIds: [2] }).every((r) => r.counterId === 2)).toBe(true);
    const since = deliveryCounts(store, { since: MAY_20 });
    expect(since.filter((r) => r.counterId === 1 && r.state === 'sent' && r.kind === 'call')[0]!.count).toBe(1);
    expect(since.some((r) => r.state === 'skipped' || r.state === 'failed')).toBe(false);
  });

  it('sent calls older than 21 days at upload, per kind', () => {
    seed();
    expect(lateSentCounts(store)).toEqual([
      { counterId: 1, kind: 'call', count: 1 },
      { counterId: 1, kind: 'conversion', count: 1 },
    ]);
    expect(lateSentCounts(store, { since: MAY_20 - DAY })).toEqual([]);
  });

  it('sent conversions per goal identifier (the Target each row carried)', () => {
    seed();
    expect(goalSentCounts(store)).toEqual([
      { counterId: 1, goal: 'goal_a', count: 1 },
      { counterId: 1, goal: 'goal_b', count: 1 },
    ]);
  });

  it('per day window, by call time', () => {
    seed();
    expect(dayCounts(store, windows)).toEqual([
      { day: 0, counterId: 1, kind: 'call', state: 'skipped', count: 1 },
      { day: 0, counterId: 2, kind: 'call', state: 'failed', count: 1 },
      { day: 1, counterId: 1, kind: 'call', state: 'sent', count: 1 },
      { day: 1, counterId: 1, kind: 'call', state: 'waiting', count: 1 },
      { day: 1, counterId: 1, kind: 'conversion', state: 'sent', count: 1 },
      { day: 1, counterId: 2, kind: 'call', state: 'pending', count: 1 },
    ]);
    expect(dayCounts(store, windows, { counterIds: [2] }).map((r) => r.state)).toEqual(['failed', 'pending']);
    expect(dayCounts(store, [])).toEqual([]);
  });

  it('batches newest first, with the uploading as last recorded', () => {
    seed();
    const [rejected, convs, calls] = recentBatches(store, 10);
    expect(rejected).toMatchObject({ counterId: 2, status: 'rejected', uploadingId: null, error: 'Metrica rejected the calls: invalid_uploading' });
    expect(convs).toMatchObject({ kind: 'conversion', status: 'sent', uploadingId: 1_000_002 });
    expect(calls).toMatchObject({ kind: 'call', rows: 2, metrikaStatus: 'UPLOADED', uploading: { line_quantity: 2 } });
    store.recordUploadingStatus(calls!.id, { id: 1_000_001, status: 'LINKAGE_FAILURE', source_quantity: 2, line_quantity: 1 });
    expect(recentBatches(store, 1, { counterIds: [1] })[0]).toMatchObject({
      id: convs!.id,
    });
    expect(recentBatches(store, 3).find((b) => b.id === calls!.id)).toMatchObject({
      metrikaStatus: 'LINKAGE_FAILURE',
      uploading: { status: 'LINKAGE_FAILURE', line_quantity: 1 },
    });
  });

  it('counters with data; quarantined rows', () => {
    seed();
    expect(countersWithData(store)).toEqual([1, 2]);
    expect(failedCounts(store)).toEqual([{ counterId: 2, count: 1 }]);
  });

  it('readStats reads a read-only store while another connection holds a write transaction', () => {
    seed();
    const writer = new Database(file);
    writer.exec('BEGIN IMMEDIATE');
    writer.prepare(`UPDATE deliveries SET state = 'skipped', reason = 'site' WHERE call_id = 'a4'`).run();
    const reader = Store.open(file, { readonly: true });
    try {
      const started = Date.now();
      const input = readStats(reader, { days: windows, uploadLimit: 20, runLimit: 10 });
      expect(Date.now() - started).toBeLessThan(1000);
      // the uncommitted change is not seen
      expect(input.deliveries.find((r) => r.counterId === 1 && r.state === 'waiting')!.count).toBe(1);
      expect(input.runs).toHaveLength(1);
      expect(input.runs[0]).toMatchObject({ outcome: 'partial', exitCode: 5, fetched: 6 });
      expect(input.counterIdsWithData).toEqual([1, 2]);
    } finally {
      reader.close();
      writer.exec('ROLLBACK');
      writer.close();
    }
  });

  it('an empty database file is refused as damaged (Store.open), never read as one without a schema', () => {
    const empty = path.join(dir, 'empty.db');
    fs.writeFileSync(empty, '');
    expect(() => Store.open(empty, { readonly: true })).toThrow(/empty\.db is empty \(0 bytes\)/);
    expect(hasSchema(store)).toBe(true);
  });
});
