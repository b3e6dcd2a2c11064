import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type DeliveryRecord } from '../../src/store/store.js';
import { SyncLock } from '../../src/store/lock.js';
import { MIGRATIONS } from '../../src/store/migrations.js';

let dir: string;
let store: Store;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-store-'));
  store = Store.open(path.join(dir, 'ckym.db'));
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const pending = (callId: string, counterId = 1, kind: 'call' | 'conversion' = 'call'): DeliveryRecord => ({
  counterId,
  callId,
  kind,
  state: 'pending',
  reason: null,
  row: [callId, '1714510800'],
  callTime: 1714510800,
});
const seen = (id: string) => ({ id, callTime: 1714510800, serviceType: 'callback' });

function states(): Record<string, string> {
  const rows = store.db.prepare(`SELECT counter_id, call_id, kind, state FROM deliveries ORDER BY 1, 2, 3`).all() as {
    counter_id: number;
    call_id: string;
    kind: string;
    state: string;
  }[];
  return Object.fromEntries(rows.map((r) => [`${r.counter_id}/${r.call_id}/${r.kind}`, r.state]));
}

describe('Store', () => {
  it('migrates a new database to the latest schema version, WAL mode', () => {
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('keeps one installation id', () => {
    const id = store.installationId();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(store.installationId()).toBe(id);
  });

  it('counts new calls and never re-opens a delivery that is batched or sent', () => {
    const run = store.startRun(1, 0);
    expect(store.recordPage(run, [seen('a'), seen('b')], [pending('a'), pending('b')])).toBe(2);
    const batch = store.prepareBatch(run, 1, 'call', ['ClientId', 'DateTime'], 0)!;
    expect(batch.rows).toBe(2);
    store.markSending(batch.id, 5000);
    store.markSent(batch.id, { id: 77, status: 'UPLOADED' }, 1000);
    // the same calls come again (look-back window) and are decided again: nothing changes
    expect(store.recordPage(run, [seen('a'), seen('b')], [pending('a'), { ...pending('b'), state: 'skipped', row: null, reason: 'status' }])).toBe(0);
    expect(states()).toEqual({ '1/a/call': 'sent', '1/b/call': 'sent' });
    expect(store.prepareBatch(run, 1, 'call', ['ClientId', 'DateTime'], 0)).toBeNull();
    expect(store.batch(batch.id)).toMatchObject({ status: 'sent', uploadingId: 77, metrikaStatus: 'UPLOADED', attempts: 1, attemptAt: 5 });
  });

  it('re-decides skipped and waiting deliveries (a call that changes between runs)', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a')], [{ ...pending('a'), state: 'waiting', reason: 'settling', row: null }]);
    expect(states()).toEqual({ '1/a/call': 'waiting' });
    store.recordPage(run, [seen('a')], [pending('a')]);
    expect(states()).toEqual({ '1/a/call': 'pending' });
  });

  it('batches only the pending deliveries of one counter and kind', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a'), seen('b')], [pending('a', 1), pending('b', 1, 'conversion'), pending('a', 2)]);
    const batch = store.prepareBatch(run, 1, 'call', ['ClientId', 'DateTime'], 0)!;
    expect(batch.rows).toBe(1);
    expect(batch.comment).toBe(`ckym batch ${store.installationId()}-${batch.id}`);
    expect([...store.batchRows(batch.id)].flat()).toEqual([['a', '1714510800']]);
    expect(states()).toEqual({ '1/a/call': 'batched', '1/b/conversion': 'pending', '2/a/call': 'pending' });
  });

  it('a void batch gives its rows back to pending; a rejected one quarantines them', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a'), seen('b')], [pending('a', 1), pending('b', 2)]);
    const b1 = store.prepareBatch(run, 1, 'call', ['x'], 0)!;
    const b2 = store.prepareBatch(run, 2, 'call', ['x'], 0)!;
    expect(store.unfinishedBatches([1, 2]).map((b) => b.id)).toEqual([b1.id, b2.id]);
    store.voidBatch(b1.id, 'never arrived');
    store.rejectBatch(b2.id, 'invalid_uploading: bad');
    expect(states()).toEqual({ '1/a/call': 'pending', '2/b/call': 'failed' });
    expect(store.batch(b2.id)).toMatchObject({ status: 'rejected', error: 'invalid_uploading: bad' });
    expect(store.unfinishedBatches([1, 2])).toEqual([]);
  });

  it('streams batch rows in chunks, in order', () => {
    const run = store.startRun(1, 0);
    const ids = Array.from({ length: 25 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    store.recordPage(run, ids.map(seen), ids.map((id) => pending(id)));
    const batch = store.prepareBatch(run, 1, 'call', ['x'], 0)!;
    const chunks = [...store.batchRows(batch.id, 10)];
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(chunks.flat().map((r) => r[0])).toEqual(ids);
  });

  it('cursors only move forward; the oldest waiting call pulls the window back', () => {
    store.setCursors([1, 2], 1000);
    store.setCursors([1], 500);
    expect(store.cursor(1)).toBe(1000);
    expect(store.cursor(3)).toBeNull();
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a')], [{ ...pending('a', 2), state: 'waiting', reason: 'scheduled', row: null, callTime: 400 }]);
    expect(store.oldestUnsettled([1], 0)).toBeNull();
    expect(store.oldestUnsettled([1, 2], 0)).toBe(400);
    expect(store.oldestUnsettled([1, 2], 401)).toBeNull();
  });

  it('marks a run left running by a dead process as interrupted when the next one starts', () => {
    const first = store.startRun(111, 0);
    expect(store.runningRun()?.id).toBe(first);
    store.startRun(222, 1);
    const [latest, previous] = store.recentRuns(2);
    expect(latest).toMatchObject({ pid: 222, outcome: 'running' });
    expect(previous).toMatchObject({ pid: 111, outcome: 'failed', error: expect.stringMatching(/interrupted/) });
  });

  it('turns a read-only database into one clear sentence', () => {
    store.close();
    const file = path.join(dir, 'ckym.db');
    const ro = Store.open(file, { readonly: true });
    expect(() => ro.startRun(1, 0)).toThrow(/database .*read-only/);
    ro.close();
    store = Store.open(file);
  });
});

describe('SyncLock', () => {
  it('lets one holder in at a time, and is free again after release', () => {
    const file = path.join(dir, 'sync.lock');
    const first = SyncLock.tryAcquire(file);
    expect(first).not.toBeNull();
    expect(SyncLock.tryAcquire(file)).toBeNull();
    first!.release();
    const again = SyncLock.tryAcquire(file);
    expect(again).not.toBeNull();
    again!.release();
  });

  it('is released by the operating system when the holder is killed', () => {
    const file = path.join(dir, 'sync.lock');
    const script = `
      const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
      const db = new D(${JSON.stringify(file)}, { timeout: 0 });
      db.exec('BEGIN EXCLUSIVE');
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['-e', script]);
    expect(child.signal).toBe('SIGKILL');
    const lock = SyncLock.tryAcquire(file);
    expect(lock).not.toBeNull();
    lock!.release();
  });
});
