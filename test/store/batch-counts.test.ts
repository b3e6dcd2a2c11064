/**
 * A batch's own counts (`batch_counts`, schema 9): settling a batch (sent, void, rejected, released, held) moves its
 * stats counts from a few count rows instead of from every row it holds, and sealing moves the smaller side of the
 * linking threshold. Every count must stay exact to the delivery: each step is checked key for key against a recount
 * of the rows (test/support/counts.ts), and a sent row is late or not by its own call time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, connectionOf, type DeliveryRecord } from '../../src/store/store.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { expectCountsByKey, expectCountsExact } from '../support/counts.js';
import { pendingCall } from '../support/deliveries.js';

let dir: string;
let store: Store;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-batch-counts-'));
  store = Store.open(path.join(dir, 'ckym.db'));
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const DAY = 86_400;
const LATE = 21 * DAY;
/** On the hour. */
const T0 = 1_714_510_800;
const CALL_HEADER = ['ClientId', 'DateTime'];
const GOAL_HEADER = ['ClientId', 'Target', 'DateTime'];

const seenAt = (id: string, callTime: number) => ({ id, callTime, serviceType: 'callback' });
const call = pendingCall;
const conversion = (callId: string, callTime: number, goal: string, waited?: 'in-progress'): DeliveryRecord => ({
  ...call(callId, callTime),
  kind: 'conversion',
  row: [callId, goal, String(callTime)],
  waited,
});
const batching = { headers: { '1/call/clientId': CALL_HEADER, '1/conversion/clientId': GOAL_HEADER, '2/call/clientId': CALL_HEADER }, now: 5_000 };

/** Records decisions as one page of `run` (into the run's open batches when `batched`). */
function page(run: number, deliveries: DeliveryRecord[], batched = true): void {
  store.recordPage(run, deliveries.map((d) => seenAt(d.callId, d.callTime)), deliveries, batched ? batching : undefined);
}

const db = () => connectionOf(store);
const openBatch = (run: number, counterId: number, kind: string): number =>
  db().prepare(`SELECT id FROM batches WHERE run_id = ? AND counter_id = ? AND kind = ? AND status = 'prepared'`).pluck().get(run, counterId, kind) as number;
const callIds = (batchId: number) => [...store.batchRows(batchId)].flat().map((r) => r[0]);
/** The sent counts of (counter, kind) per goal and lateness: `goal/late` → count. */
function sent(counterId: number, kind: string): Record<string, number> {
  const rows = db()
    .prepare(`SELECT goal, late, SUM(count) AS n FROM delivery_counts WHERE counter_id = ? AND kind = ? AND state = 'sent' GROUP BY 1, 2 HAVING n != 0`)
    .all(counterId, kind) as { goal: string; late: number; n: number }[];
  return Object.fromEntries(rows.map((r) => [`${r.goal}/${r.late}`, r.n]));
}

describe('a batch marked sent: late counted per row, from its own counts', () => {
  it('the hour that straddles "sent 21 days after the call" is split by each row\'s call time; hours before it are late, after it not', () => {
    const earlier = store.startRun(1, 0);
    page(earlier, [conversion('p', T0 + 1000, 'g2')], false); // pending from an earlier run: joins the batch when sealed
    const run = store.startRun(1, 0);
    page(run, [
      conversion('a', T0 - 3600, 'g1'), // the hour before: late
      conversion('b', T0 + 10, 'g1'), // the straddled hour, before the threshold: late
      conversion('c', T0 + 1799, 'g2', 'in-progress'), // 21 days and 1 s before it was sent: late
      conversion('d', T0 + 1800, 'g1'), // exactly 21 days: not late
      conversion('e', T0 + 3599, 'g2', 'in-progress'),
      conversion('f', T0 + 3600, 'g1'), // the hour after: not late
    ]);
    page(run, [call('x', T0 - 1, 2), call('y', T0, 2)]);
    const [batch] = store.sealBatches(run, 1, 'conversion', 'clientId', GOAL_HEADER, null, 6_000);
    const [calls] = store.sealBatches(run, 2, 'call', 'clientId', CALL_HEADER, null, 6_000);
    expect(batch!.rows).toBe(7);
    expectCountsByKey(store);
    store.markSending(batch!.id, 7_000);
    store.markSent(batch!.id, { id: 1 }, (T0 + 1800 + LATE) * 1000);
    expect(sent(1, 'conversion')).toEqual({ 'g1/1': 2, 'g1/0': 2, 'g2/1': 2, 'g2/0': 1 }); // a b | d f ; c p | e
    // a threshold on the hour: the hour before it is late, its own hour not
    store.markSent(calls!.id, { id: 2 }, (T0 + LATE) * 1000);
    expect(sent(2, 'call')).toEqual({ '/1': 1, '/0': 1 });
    expectCountsByKey(store);
    expect(expectCountsExact(store, (T0 + LATE + DAY) * 1000)).toBeGreaterThan(0);
  });

  it('a batch sent again (its sent time changes) still moves its counts from its rows, each late or not', () => {
    const run = store.startRun(1, 0);
    page(run, [call('a', T0), call('b', T0 + 7200)]);
    const [batch] = store.sealBatches(run, 1, 'call', 'clientId', CALL_HEADER, null, 6_000);
    store.markSent(batch!.id, { id: 1 }, (T0 + 3600) * 1000);
    expect(sent(1, 'call')).toEqual({ '/0': 2 });
    store.markSent(batch!.id, { id: 1 }, (T0 + LATE + 3600) * 1000);
    expect(sent(1, 'call')).toEqual({ '/1': 1, '/0': 1 });
    expectCountsByKey(store);
  });
});

describe('sealing: the smaller side of the linking threshold moves', () => {
  const threshold = T0 + 1800; // mid-hour

  it('a backfill (mostly old): the open batch becomes the old one, the fresh rows move to a new batch, sent first', () => {
    const earlier = store.startRun(1, 0);
    page(earlier, [call('p', T0 - 30 * DAY)], false); // left pending: old, joins the batch
    const run = store.startRun(1, 0);
    page(run, [call('o1', T0 - 200 * DAY), call('o2', T0 - 100 * DAY), call('o3', T0 - 3600), call('o4', T0), call('o5', T0 + 1799)]);
    page(run, [call('n1', T0 + 1800), call('n2', T0 + 3000), call('n3', T0 + 7200)]);
    const open = openBatch(run, 1, 'call');
    const sealed = store.sealBatches(run, 1, 'call', 'clientId', CALL_HEADER, threshold, 6_000);
    const install = store.installationId();
    expect(sealed.map((b) => [b.id, b.segment, b.rows, b.status, b.comment])).toEqual([
      [open + 1, 'fresh', 3, 'prepared', `ckym${install}b${open + 1}t${T0 + 7200}`],
      [open, 'old', 6, 'prepared', `ckym${install}b${open}t${T0 + 1799}`],
    ]);
    expect(callIds(open + 1)).toEqual(['n1', 'n2', 'n3']);
    expect(callIds(open)).toEqual(['o1', 'o2', 'o3', 'o4', 'o5', 'p']);
    expect(store.batchCallsBefore(open, threshold)).toBe(6);
    expectCountsByKey(store);
    for (const b of sealed) store.markSent(b.id, { id: b.id }, (T0 + LATE + 900) * 1000);
    expect(sent(1, 'call')).toEqual({ '/1': 5, '/0': 4 }); // o1 o2 o3 p o4 late; o5 and the fresh ones not
    expectCountsByKey(store);
  });

  it('mostly fresh: the old rows move out, the open batch stays the fresh one; all old: the open batch is the old one', () => {
    const run = store.startRun(1, 0);
    page(run, [call('o1', T0 - DAY), call('o2', T0 + 60), call('n1', T0 + 1800), call('n2', T0 + 1900), call('n3', T0 + 3600)]);
    const open = openBatch(run, 1, 'call');
    const sealed = store.sealBatches(run, 1, 'call', 'clientId', CALL_HEADER, threshold, 6_000);
    expect(sealed.map((b) => [b.id, b.segment, b.rows])).toEqual([
      [open, 'fresh', 3],
      [open + 1, 'old', 2],
    ]);
    expect(callIds(open + 1)).toEqual(['o1', 'o2']);
    expectCountsByKey(store);

    const next = store.startRun(1, 0);
    page(next, [call('q1', T0 - DAY, 2), call('q2', T0 - 60, 2)]);
    const only = openBatch(next, 2, 'call');
    expect(store.sealBatches(next, 2, 'call', 'clientId', CALL_HEADER, threshold, 6_000).map((b) => [b.id, b.segment, b.rows])).toEqual([[only, 'old', 2]]);
    expect(db().prepare(`SELECT COUNT(*) FROM batches WHERE run_id = ?`).pluck().get(next)).toBe(1);
    expectCountsByKey(store);
  });

  it('as many old as fresh: the old ones move (the open batch stays fresh), with conversions of several goals and waits', () => {
    const run = store.startRun(1, 0);
    page(run, [conversion('a', T0 + 100, 'g1'), conversion('b', T0 + 200, 'g2', 'in-progress'), conversion('c', T0 + 1800, 'g1'), conversion('d', T0 + 2000, 'g2', 'in-progress')]);
    const open = openBatch(run, 1, 'conversion');
    const sealed = store.sealBatches(run, 1, 'conversion', 'clientId', GOAL_HEADER, threshold, 6_000);
    expect(sealed.map((b) => [b.id, b.segment, callIds(b.id)])).toEqual([
      [open, 'fresh', ['c', 'd']],
      [open + 1, 'old', ['a', 'b']],
    ]);
    expectCountsByKey(store);
  });
});

describe('a batch split, voided, rejected, released or held: its counts move from its own', () => {
  it('each step keeps delivery_counts and batch_counts exact to the rows', () => {
    const run = store.startRun(1, 0);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    page(run, ids.map((id, i) => conversion(id, T0 + i * 1500, i % 2 ? 'g1' : 'g2', i === 3 ? 'in-progress' : undefined)));
    const [batch] = store.sealBatches(run, 1, 'conversion', 'clientId', GOAL_HEADER, null, 6_000);
    store.markSending(batch!.id, 7_000);
    const [one, two, three] = store.splitBatch(batch!.id, [[0, 2], [2, 4], [4, 5]], run, 'refused', 8_000);
    expect([one, two, three].map((b) => callIds(b!.id))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(db().prepare(`SELECT state, batch_id FROM deliveries WHERE call_id = 'f'`).get()).toEqual({ state: 'pending', batch_id: null });
    expectCountsByKey(store);
    store.markSent(one!.id, { id: 1 }, (T0 + 1000 + LATE) * 1000); // a late, b not
    expect(sent(1, 'conversion')).toEqual({ 'g2/1': 1, 'g1/0': 1 });
    expectCountsByKey(store);
    store.rejectBatch(two!.id, 'refused again');
    expectCountsByKey(store);
    store.voidBatch(three!.id, 'lost');
    expectCountsByKey(store);
    expect(db().prepare(`SELECT state, COUNT(*) AS n FROM delivery_counts WHERE kind = 'conversion' GROUP BY 1 HAVING SUM(count) != 0 ORDER BY 1`).all()).toEqual([
      { state: 'failed', n: 2 },
      { state: 'pending', n: 2 },
      { state: 'sent', n: 2 },
    ]);

    const next = store.startRun(1, 0);
    page(next, [call('r', T0), conversion('s', T0, 'g3')]);
    expectCountsByKey(store);
    store.releaseBatches(next);
    expectCountsByKey(store);
    page(next, [conversion('t', T0, 'g3')]);
    expect(store.holdBatches(next, 1, 'conversion')).toBe(4); // e f s t
    expectCountsByKey(store);
    expect(db().prepare(`SELECT COUNT(*) FROM batch_counts`).pluck().get()).toBe(0);
  });
});

describe('schema 9: a database with unfinished batches', () => {
  it('is migrated with the counts of its prepared and sending batches; settling them afterwards stays exact', () => {
    store.close();
    const file = path.join(dir, 'v7.db');
    const scratch = Store.open(path.join(dir, 'scratch.db'));
    const Database = connectionOf(scratch).constructor as unknown as new (file: string) => ReturnType<typeof connectionOf>;
    scratch.close();
    const raw = new Database(file);
    for (const m of MIGRATIONS.slice(0, 5)) raw.exec(m);
    const now = T0 + LATE + 1800;
    raw.exec(`INSERT INTO runs (id, pid, started_at, outcome) VALUES (1, 1, 0, 'failed');
      INSERT INTO batches (id, run_id, counter_id, kind, comment, header, rows, status, attempts, created_at, sent_at, segment) VALUES
        (1, 1, 9, 'call', 'ckym0123456789abb1t1', '[]', 1, 'sent', 1, ${T0}, ${now}, 'fresh'),
        (2, 1, 9, 'conversion', 'ckym0123456789abb2t1', '[]', 4, 'sending', 1, ${T0}, NULL, 'old'),
        (3, 1, 9, 'call', 'ckym0123456789abb3t1', '[]', 0, 'prepared', 0, ${T0}, NULL, 'fresh'),
        (4, 1, 9, 'call', 'ckym0123456789abb4t1', '[]', 1, 'void', 1, ${T0}, NULL, 'fresh');
      INSERT INTO calls (id, call_time, service_type, first_seen_run, last_seen_run) VALUES
        ('s', ${T0 - DAY}, 'callback', 1, 1), ('a', ${T0 - 60}, 'callback', 1, 1), ('b', ${T0 + 10}, 'callback', 1, 1),
        ('c', ${T0 + 1800}, 'callback', 1, 1), ('d', ${T0 + 4000}, 'callback', 1, 1), ('v', ${T0}, 'callback', 1, 1);
      INSERT INTO deliveries (counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run) VALUES
        (9, 's', 'call', 'batched', NULL, '["s","x"]', ${T0 - DAY}, 1, 1),
        (9, 'a', 'conversion', 'batched', NULL, '["a","g1","x"]', ${T0 - 60}, 2, 1),
        (9, 'b', 'conversion', 'batched', NULL, '["b","g1","x"]', ${T0 + 10}, 2, 1),
        (9, 'c', 'conversion', 'batched', NULL, '["c","g1","x"]', ${T0 + 1800}, 2, 1),
        (9, 'd', 'conversion', 'batched', NULL, '["d","g2","x"]', ${T0 + 4000}, 2, 1),
        (9, 'a', 'call', 'batched', NULL, '["a","x"]', ${T0 - 60}, 3, 1),
        (9, 'b', 'call', 'batched', NULL, '["b","x"]', ${T0 + 10}, 3, 1),
        (9, 'v', 'call', 'pending', NULL, '["v","x"]', ${T0}, NULL, 1);`);
    for (const m of MIGRATIONS.slice(5, 7)) raw.exec(m);
    raw.pragma('user_version = 7');
    raw.close();

    store = Store.open(file);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    const h = T0 / 3600;
    expect(db().prepare(`SELECT batch_id, hour, goal, waited, count FROM batch_counts ORDER BY 1, 2, 3`).all()).toEqual([
      { batch_id: 2, hour: h - 1, goal: 'g1', waited: '', count: 1 },
      { batch_id: 2, hour: h, goal: 'g1', waited: '', count: 2 },
      { batch_id: 2, hour: h + 1, goal: 'g2', waited: '', count: 1 },
      { batch_id: 3, hour: h - 1, goal: '', waited: '', count: 1 },
      { batch_id: 3, hour: h, goal: '', waited: '', count: 1 },
    ]);
    expectCountsByKey(store);
    store.markSent(2, { id: 5 }, now * 1000); // a and b late (the threshold is T0 + 1800), c and d not
    expect(sent(9, 'conversion')).toEqual({ 'g1/1': 2, 'g1/0': 1, 'g2/0': 1 });
    expectCountsByKey(store);
    store.voidBatch(3, 'never sent');
    expectCountsByKey(store);
    expect(expectCountsExact(store, now * 1000, [9])).toBeGreaterThan(0);
  });
});

describe('schema 10: a batch\'s counts lie together', () => {
  /** Pages of the database file the WAL holds since the last checkpoint (frames: 24-byte header, 24 + page size each). */
  const walFrames = (): number => {
    const size = fs.statSync(`${store.file}-wal`).size;
    const page = db().pragma('page_size', { simple: true }) as number;
    return size <= 32 ? 0 : (size - 32) / (24 + page);
  };

  it('marking a year-long batch of one counter sent rewrites its own count rows, not the table of every counter', () => {
    // Three counters, a call every hour of a year each: a count row per hour, counter and state.
    const run = store.startRun(1, T0 * 1000);
    const hours = 365 * 24;
    for (let from = 0; from < hours; from += 1000) {
      const deliveries: DeliveryRecord[] = [];
      for (let h = from; h < Math.min(hours, from + 1000); h++) {
        for (const counterId of [1, 2, 3]) deliveries.push({ ...call(`c${counterId}-${h}`, T0 - h * 3600, counterId) });
      }
      store.recordPage(run, deliveries.map((d) => seenAt(d.callId, d.callTime)), deliveries, {
        headers: { '1/call/clientId': CALL_HEADER, '2/call/clientId': CALL_HEADER, '3/call/clientId': CALL_HEADER },
        now: T0 * 1000,
      });
    }
    const [batch] = store.sealBatches(run, 1, 'call', 'clientId', CALL_HEADER, null, T0 * 1000);
    expect(batch!.rows).toBe(hours);
    const table = db().prepare(`SELECT COUNT(*) FROM dbstat WHERE name = 'delivery_counts'`).pluck().get() as number;
    expect(table).toBeGreaterThan(100);
    db().pragma('wal_autocheckpoint = 0');
    db().pragma('wal_checkpoint(TRUNCATE)');
    expect(walFrames()).toBe(0);

    store.markSent(batch!.id, { id: 1 }, (T0 + 3600) * 1000);

    // The commit wrote counter 1's 'batched' rows and its new 'sent' ones: with the hour first in the key (schema 6–9)
    // it wrote every page of the table (each hour's page holds every counter's rows).
    const written = walFrames();
    expect(written).toBeLessThan(table * 0.75);
    expectCountsByKey(store);
    expect(sent(1, 'call')).toEqual({ '/1': hours - 21 * 24, '/0': 21 * 24 });
  });
});
