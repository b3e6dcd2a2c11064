/**
 * The store's exactly-once queries with several counters sharing calls: every query that takes a counter must keep
 * to that counter (and kind, and run), or one counter's batch would carry, void, release or send another's rows.
 * What the database holds is read through a second, read-only connection: the store's own handle stays its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectionOf, Store, type Batching, type DeliveryRecord, type SeenCall } from '../../src/store/store.js';

const HEADER = ['ClientId', 'DateTime'];
const T0 = 1714510800;

let dir: string;
let file: string;
let store: Store;
let reader: Database.Database;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-exactly-once-'));
  file = path.join(dir, 'ckym.db');
  store = Store.open(file);
  reader = new Database(file, { readonly: true });
});
afterEach(() => {
  reader.close();
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

type State = DeliveryRecord['state'];

/** A decision of `counterId` about call `callId`; the row names the counter, so a row that lands in another counter's batch shows. */
function decision(counterId: number, callId: string, state: State = 'pending', over: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    counterId,
    callId,
    kind: 'call',
    state,
    reason: state === 'skipped' ? 'status' : state === 'waiting' ? 'settling' : null,
    row: state === 'pending' ? [`${counterId}:${callId}`, String(T0)] : null,
    callTime: T0,
    ...over,
  };
}

/** The run's batch of (counter, kind) sealed, ClientId rows, nothing split off as old: the one batch, or null when nothing is pending. */
const prepare = (runId: number, counterId: number, kind: DeliveryRecord['kind'], header: string[], now: number) =>
  store.sealBatches(runId, counterId, kind, 'clientId', header, null, now)[0] ?? null;

const seen = (...ids: string[]): SeenCall[] => ids.map((id) => ({ id, callTime: T0, serviceType: 'callback' }));

/** Each delivery's state as people read it: `counter/call/kind` → state. */
function states(): Record<string, string> {
  const rows = reader.prepare(`SELECT counter_id, call_id, kind, state FROM delivery_view ORDER BY 1, 2, 3`).all() as {
    counter_id: number;
    call_id: string;
    kind: string;
    state: string;
  }[];
  return Object.fromEntries(rows.map((r) => [`${r.counter_id}/${r.call_id}/${r.kind}`, r.state]));
}

/** The deliveries of a batch: `counter/call/kind`. */
function batchMembers(batchId: number): string[] {
  return (
    reader.prepare(`SELECT counter_id, call_id, kind FROM deliveries WHERE batch_id = ? ORDER BY 1, 2, 3`).all(batchId) as {
      counter_id: number;
      call_id: string;
      kind: string;
    }[]
  ).map((r) => `${r.counter_id}/${r.call_id}/${r.kind}`);
}

function batches(): { id: number; counter_id: number; kind: string; run_id: number; status: string; rows: number }[] {
  return reader.prepare(`SELECT id, counter_id, kind, run_id, status, rows FROM batches ORDER BY id`).all() as ReturnType<typeof batches>;
}

/** Three counters decide the same calls a, b, c: counter 1 and 3 take them all, counter 2 skips b. */
function threeCounters(run: number, batching?: Batching): void {
  store.recordPage(
    run,
    seen('a', 'b', 'c'),
    [
      decision(1, 'a'),
      decision(1, 'b'),
      decision(1, 'c'),
      decision(2, 'a'),
      decision(2, 'b', 'skipped'),
      decision(2, 'c'),
      decision(3, 'a'),
      decision(3, 'b'),
      decision(3, 'c'),
    ],
    batching,
  );
}

describe('unsettledTimes: the calls any of the run’s counters has not settled, each second once, oldest first', () => {
  const END = Number.MAX_SAFE_INTEGER;
  it('is the union over the counters, whichever counter holds each and in whatever order they come', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, seen('a', 'b', 'c', 'd', 'e', 'f', 'g'), [
      decision(1, 'a', 'waiting', { callTime: 300 }), // the oldest, held by the first counter asked
      decision(1, 'b', 'pending', { callTime: 700 }),
      decision(2, 'c', 'waiting', { callTime: 500 }),
      decision(3, 'd', 'pending', { callTime: 400 }),
      decision(3, 'e', 'skipped', { callTime: 100 }), // settled: never re-checked
      decision(4, 'f', 'waiting', { callTime: 50 }), // a counter the run does not deliver
      decision(2, 'g', 'waiting', { callTime: 300 }), // the same second as a: told once
    ]);
    expect(store.unsettledTimes([1, 2, 3], 0, END)).toEqual([300, 400, 500, 700]);
    expect(store.unsettledTimes([3, 2, 1], 0, END)).toEqual([300, 400, 500, 700]);
    expect(store.unsettledTimes([1, 2], 0, END)).toEqual([300, 500, 700]);
    expect(store.unsettledTimes([2, 3], 0, END)).toEqual([300, 400, 500]);
    expect(store.unsettledTimes([3], 0, END)).toEqual([400]);
    expect(store.unsettledTimes([1, 2, 3], 301, END)).toEqual([400, 500, 700]);
    expect(store.unsettledTimes([1, 2, 3], 400, END)).toEqual([400, 500, 700]);
    expect(store.unsettledTimes([1, 2, 3], 0, 700)).toEqual([300, 400, 500]); // `before` is excluded
    expect(store.unsettledTimes([1, 2, 3], 701, END)).toEqual([]);
    expect(store.unsettledTimes([4, 1], 0, END)).toEqual([50, 300, 700]);
    expect(store.unsettledTimes([], 0, END)).toEqual([]);
  });

  it('forgets a call once it is batched or sent', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, seen('a', 'b'), [decision(1, 'a', 'pending', { callTime: 200 }), decision(2, 'b', 'pending', { callTime: 300 })]);
    expect(store.unsettledTimes([1, 2], 0, END)[0] ?? null).toBe(200);
    const batch = prepare(run, 1, 'call', HEADER, 0)!;
    expect(store.unsettledTimes([1, 2], 0, END)[0] ?? null).toBe(300);
    store.markSending(batch.id, 0);
    store.markSent(batch.id, { id: 9 }, 0);
    expect(store.unsettledTimes([1, 2], 0, END)[0] ?? null).toBe(300);
    expect(store.unsettledTimes([1], 0, END)[0] ?? null).toBeNull();
  });
});

describe('pendingCount', () => {
  it('counts one counter and kind', () => {
    const run = store.startRun(1, 0);
    threeCounters(run);
    store.recordPage(run, [], [decision(2, 'a', 'pending', { kind: 'conversion' })]);
    expect([1, 2, 3].map((c) => store.pendingCount(c, 'call'))).toEqual([3, 2, 3]);
    expect([1, 2, 3].map((c) => store.pendingCount(c, 'conversion'))).toEqual([0, 1, 0]);
    prepare(run, 1, 'call', HEADER, 0);
    expect([1, 2, 3].map((c) => store.pendingCount(c, 'call'))).toEqual([0, 2, 3]);
  });
});

describe('sealBatches', () => {
  it("seals one counter's pending rows of one kind, leaving the other counters' rows of the same calls alone", () => {
    const run = store.startRun(1, 0);
    threeCounters(run);
    store.recordPage(run, [], [decision(2, 'a', 'pending', { kind: 'conversion', row: ['2:a:conv'] })]);
    const two = prepare(run, 2, 'call', HEADER, 5_000)!;
    expect(two).toMatchObject({ runId: run, counterId: 2, kind: 'call', rows: 2, status: 'prepared', createdAt: 5, attempts: 0 });
    expect(batchMembers(two.id)).toEqual(['2/a/call', '2/c/call']);
    expect([...store.batchRows(two.id)].flat()).toEqual([
      ['2:a', String(T0)],
      ['2:c', String(T0)],
    ]);
    expect(states()).toEqual({
      '1/a/call': 'pending',
      '1/b/call': 'pending',
      '1/c/call': 'pending',
      '2/a/call': 'batched',
      '2/a/conversion': 'pending',
      '2/b/call': 'skipped',
      '2/c/call': 'batched',
      '3/a/call': 'pending',
      '3/b/call': 'pending',
      '3/c/call': 'pending',
    });
    const conversions = prepare(run, 2, 'conversion', ['ClientId'], 5_000)!;
    expect(conversions.id).not.toBe(two.id);
    expect(batchMembers(conversions.id)).toEqual(['2/a/conversion']);
    // asked again before sending: the same sealed batch, nothing added
    expect(prepare(run, 2, 'call', HEADER, 6_000)).toEqual(two);
    store.markSending(two.id, 6_000);
    expect(prepare(run, 2, 'call', HEADER, 7_000)).toBeNull(); // nothing left: no empty batch
    expect(batches().map((b) => [b.counter_id, b.kind, b.rows])).toEqual([
      [2, 'call', 2],
      [2, 'conversion', 1],
    ]);
  });

  it("with the run's batching, each counter's rows go into that counter's open batch, and sealBatches seals that one", () => {
    const batching: Batching = { headers: { '1/call/clientId': HEADER, '2/call/clientId': HEADER, '3/call/clientId': HEADER }, now: 3_000 };
    const run = store.startRun(1, 0);
    threeCounters(run, batching);
    const open = batches();
    expect(open.map((b) => [b.counter_id, b.status, b.run_id])).toEqual([
      [1, 'prepared', run],
      [2, 'prepared', run],
      [3, 'prepared', run],
    ]);
    // a second page: each counter's row joins its own batch
    store.recordPage(run, seen('d'), [decision(3, 'd'), decision(1, 'd'), decision(2, 'd')], batching);
    expect(batches()).toHaveLength(3);
    for (const b of open) {
      const sealed = prepare(run, b.counter_id, 'call', HEADER, 9_000)!;
      expect(sealed.id).toBe(b.id);
      expect(sealed.createdAt).toBe(3);
      expect(batchMembers(b.id).every((m) => m.startsWith(`${b.counter_id}/`))).toBe(true);
      expect([...store.batchRows(b.id)].flat().map((r) => r[0]!.split(':')[0])).toEqual(
        Array(sealed.rows).fill(String(b.counter_id)),
      );
    }
    expect(batches().map((b) => [b.counter_id, b.rows])).toEqual([
      [1, 4],
      [2, 3],
      [3, 4],
    ]);
  });

  it("another run's open batch is not this run's: its rows are batched again only once it is released", () => {
    const batching: Batching = { headers: { '1/call/clientId': HEADER }, now: 0 };
    const first = store.startRun(1, 0);
    store.recordPage(first, seen('a'), [decision(1, 'a')], batching);
    const second = store.startRun(2, 0);
    store.recordPage(second, seen('b'), [decision(1, 'b')]);
    const batch = prepare(second, 1, 'call', HEADER, 0)!;
    expect(batch.runId).toBe(second);
    expect(batchMembers(batch.id)).toEqual(['1/b/call']);
  });
});

describe('unfinishedBatches', () => {
  it("returns the prepared and sending batches of the run's counters only, oldest first", () => {
    const run = store.startRun(1, 0);
    threeCounters(run);
    const b1 = prepare(run, 1, 'call', HEADER, 0)!;
    const b2 = prepare(run, 2, 'call', HEADER, 0)!;
    const b3 = prepare(run, 3, 'call', HEADER, 0)!;
    store.markSending(b3.id, 0);
    expect(store.unfinishedBatches([1, 2, 3]).map((b) => [b.id, b.status])).toEqual([
      [b1.id, 'prepared'],
      [b2.id, 'prepared'],
      [b3.id, 'sending'],
    ]);
    expect(store.unfinishedBatches([3, 1]).map((b) => b.id)).toEqual([b1.id, b3.id]);
    expect(store.unfinishedBatches([2]).map((b) => b.counterId)).toEqual([2]);
    expect(store.unfinishedBatches([4])).toEqual([]);
    store.markSent(b1.id, { id: 1 }, 0);
    store.voidBatch(b2.id, 'never arrived');
    expect(store.unfinishedBatches([1, 2, 3]).map((b) => b.id)).toEqual([b3.id]);
    expect(store.unfinishedBatches([3])[0]).toMatchObject({ id: b3.id, counterId: 3, kind: 'call', attempts: 1, header: HEADER });
  });
});

describe('markSending and markSent', () => {
  it('send one batch: the other counters’ batches of the same calls stay as they were', () => {
    const run = store.startRun(1, 0);
    threeCounters(run);
    const b1 = prepare(run, 1, 'call', HEADER, 0)!;
    const b2 = prepare(run, 2, 'call', HEADER, 0)!;
    store.markSending(b2.id, 4_000);
    store.markSending(b2.id, 6_000); // a retry
    store.markSent(b2.id, { id: 55, status: 'UPLOADED' }, 7_000);
    expect(store.batch(b2.id)).toMatchObject({ status: 'sent', attempts: 2, attemptAt: 6, sentAt: 7, uploadingId: 55, metrikaStatus: 'UPLOADED' });
    expect(store.batch(b1.id)).toMatchObject({ status: 'prepared', attempts: 0, attemptAt: null, sentAt: null, uploadingId: null });
    expect(states()).toMatchObject({
      '1/a/call': 'batched',
      '1/b/call': 'batched',
      '1/c/call': 'batched',
      '2/a/call': 'sent',
      '2/c/call': 'sent',
      '3/a/call': 'pending',
    });
    // a batch already sent is not marked sending again
    store.markSending(b2.id, 8_000);
    expect(store.batch(b2.id)).toMatchObject({ status: 'sent', attempts: 2 });
  });
});

describe('voidBatch and rejectBatch', () => {
  it("give back or quarantine one batch's rows only", () => {
    const run = store.startRun(1, 0);
    threeCounters(run);
    const b1 = prepare(run, 1, 'call', HEADER, 0)!;
    const b2 = prepare(run, 2, 'call', HEADER, 0)!;
    const b3 = prepare(run, 3, 'call', HEADER, 0)!;
    store.voidBatch(b2.id, 'never arrived');
    store.rejectBatch(b3.id, 'invalid_uploading: bad');
    expect(states()).toEqual({
      '1/a/call': 'batched',
      '1/b/call': 'batched',
      '1/c/call': 'batched',
      '2/a/call': 'pending',
      '2/b/call': 'skipped',
      '2/c/call': 'pending',
      '3/a/call': 'failed',
      '3/b/call': 'failed',
      '3/c/call': 'failed',
    });
    expect(store.batch(b1.id)).toMatchObject({ status: 'prepared', error: null });
    expect(store.batch(b2.id)).toMatchObject({ status: 'void', error: 'never arrived' });
    expect(store.batch(b3.id)).toMatchObject({ status: 'rejected', error: 'invalid_uploading: bad' });
    expect(batchMembers(b2.id)).toEqual([]);
    expect(reader.prepare(`SELECT DISTINCT reason FROM deliveries WHERE counter_id = 3`).pluck().all()).toEqual(['rejected']);
    // the voided rows are batched again, into a new batch of their counter
    const again = prepare(run, 2, 'call', HEADER, 0)!;
    expect(again.id).not.toBe(b2.id);
    expect(batchMembers(again.id)).toEqual(['2/a/call', '2/c/call']);
  });

  it('voiding a rejected batch leaves its rows quarantined', () => {
    const run = store.startRun(1, 0);
    threeCounters(run);
    const b1 = prepare(run, 1, 'call', HEADER, 0)!;
    store.markSending(b1.id, 0);
    store.rejectBatch(b1.id, 'bad');
    store.voidBatch(b1.id, 'late');
    expect(states()).toMatchObject({ '1/a/call': 'failed', '1/b/call': 'failed', '1/c/call': 'failed' });
  });
});

describe('releaseBatches', () => {
  it("releases this run's batches with no attempt only; the counters' rows go back to pending", () => {
    const batching: Batching = { headers: { '1/call/clientId': HEADER, '2/call/clientId': HEADER, '3/call/clientId': HEADER }, now: 0 };
    const earlier = store.startRun(1, 0);
    store.recordPage(earlier, seen('z'), [decision(3, 'z')]);
    const left = prepare(earlier, 3, 'call', HEADER, 0)!; // an earlier run's batch, left prepared
    const run = store.startRun(2, 0);
    threeCounters(run, batching);
    const [b1, b2, b3] = [1, 2, 3].map((c) => prepare(run, c, 'call', HEADER, 0)!);
    store.markSending(b1!.id, 0); // an attempt was made: only reconciling can tell what happened to it
    store.releaseBatches(run);
    expect(batches().map((b) => [b.id, b.counter_id, b.status])).toEqual([
      [left.id, 3, 'prepared'],
      [b1!.id, 1, 'sending'],
    ]);
    expect(store.batch(b2!.id)).toBeNull();
    expect(store.batch(b3!.id)).toBeNull();
    expect(states()).toEqual({
      '1/a/call': 'batched',
      '1/b/call': 'batched',
      '1/c/call': 'batched',
      '2/a/call': 'pending',
      '2/b/call': 'skipped',
      '2/c/call': 'pending',
      '3/a/call': 'pending',
      '3/b/call': 'pending',
      '3/c/call': 'pending',
      '3/z/call': 'batched',
    });
    expect(reader.prepare(`SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND batch_id IS NOT NULL`).pluck().get()).toBe(0);
    store.releaseBatches(run); // nothing left to release: harmless
    expect(batches()).toHaveLength(2);
  });
});

describe('recordPage with several counters', () => {
  it("re-decides one counter's delivery of a call without touching another counter's batched or sent one", () => {
    const run = store.startRun(1, 0);
    threeCounters(run);
    const b1 = prepare(run, 1, 'call', HEADER, 0)!;
    store.markSending(b1.id, 0);
    store.markSent(b1.id, { id: 1 }, 0);
    prepare(run, 3, 'call', HEADER, 0);
    const next = store.startRun(1, 0);
    expect(store.recordPage(next, seen('a', 'b', 'c', 'd'), [
      decision(1, 'a', 'skipped'),
      decision(2, 'a', 'waiting'),
      decision(2, 'b'),
      decision(3, 'a', 'skipped'),
    ])).toBe(1);
    expect(states()).toMatchObject({
      '1/a/call': 'sent',
      '2/a/call': 'waiting',
      '2/b/call': 'pending',
      '3/a/call': 'batched',
    });
    expect(reader.prepare(`SELECT decided_run FROM deliveries WHERE counter_id = 2 AND call_id = 'a'`).pluck().get()).toBe(next);
    expect(reader.prepare(`SELECT decided_run FROM deliveries WHERE counter_id = 2 AND call_id = 'c'`).pluck().get()).toBe(run);
  });
});

describe('cursors', () => {
  it('are per counter and only move forward', () => {
    store.setCursors([1, 2], 1000);
    store.setCursors([2, 3], 2000);
    store.setCursors([1, 3], 1500);
    expect([1, 2, 3, 4].map((c) => store.cursor(c))).toEqual([1500, 2000, 2000, null]);
    store.setCursors([], 9000);
    expect([1, 2, 3].map((c) => store.cursor(c))).toEqual([1500, 2000, 2000]);
  });
});

describe('durability', () => {
  it('is FULL between writes: a page write lowers it for its own transaction only', () => {
    expect(store.durability()).toBe(2);
    const run = store.startRun(1, 0);
    threeCounters(run);
    expect(store.durability()).toBe(2);
    threeCounters(run, { headers: { '1/call/clientId': HEADER }, now: 0 });
    expect(store.durability()).toBe(2);
    // a page that fails (a kind the schema refuses) is rolled back whole, and leaves the connection durable too
    expect(() => store.recordPage(run, seen('x'), [decision(1, 'x', 'pending', { kind: 'neither' as 'call' })])).toThrow(/CHECK/);
    expect(store.durability()).toBe(2);
    expect(reader.prepare(`SELECT COUNT(*) FROM calls WHERE id = 'x'`).pluck().get()).toBe(0);
  });

  it('a page write keeps its statement journals in memory, and only it: the connection is back to its default after', () => {
    // What the connection's temp_store is while the page's rows are written, seen by a trigger of the test's own.
    const during: number[] = [];
    const db = connectionOf(store);
    db.function('seen_temp_store', (v: number) => {
      during.push(v);
      return v;
    });
    db.exec(`CREATE TRIGGER probe_temp_store AFTER INSERT ON calls BEGIN SELECT seen_temp_store(temp_store) FROM pragma_temp_store; END`);
    const tempStore = () => db.pragma('temp_store', { simple: true });
    expect(tempStore()).toBe(0);
    const run = store.startRun(1, 0);
    store.recordPage(run, seen('a', 'b'), [decision(1, 'a'), decision(1, 'b', 'skipped')]);
    expect(during).toEqual([2, 2]);
    expect(tempStore()).toBe(0);
    expect(store.durability()).toBe(2);
    // a page that fails leaves the default too
    expect(() => store.recordPage(run, seen('x'), [decision(1, 'x', 'pending', { kind: 'neither' as 'call' })])).toThrow(/CHECK/);
    expect(tempStore()).toBe(0);
  });
});
