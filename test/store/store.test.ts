import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, connectionOf, hourOf, storeError, type DeliveryRecord } from '../../src/store/store.js';
import { ConfigError, LocalError } from '../../src/errors.js';
import { SyncLock } from '../../src/store/lock.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { countStats, countersWithData, deliveryCounts, rowStats, waitedOutCounts } from '../../src/store/stats.js';
import { expectCountsByKey as expectCountsKeyed, expectCountsExact } from '../support/counts.js';

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
/** A pending call delivery dated `callTime`, carrying `idType`; and the call as a page saw it. */
const at = (callId: string, callTime: number, idType: 'clientId' | 'yclid' = 'clientId', counterId = 1): DeliveryRecord => ({
  ...pending(callId, counterId),
  row: [callId, String(callTime)],
  callTime,
  idType,
});
const seenAt = (id: string, callTime: number) => ({ id, callTime, serviceType: 'callback' });

/** Each delivery's state as people read it (a delivery of a sent batch is sent). */
function states(): Record<string, string> {
  const rows = connectionOf(store).prepare(`SELECT counter_id, call_id, kind, state FROM delivery_view ORDER BY 1, 2, 3`).all() as {
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
    expect(connectionOf(store).pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('creates the database and its WAL files readable by the owner alone', () => {
    store.startRun(1, 0); // a write: the -wal and -shm files exist
    for (const suffix of ['', '-wal', '-shm']) {
      expect((fs.statSync(path.join(dir, `ckym.db${suffix}`)).mode & 0o777).toString(8)).toBe('600');
    }
  });

  it('keeps one installation id', () => {
    const id = store.installationId();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(store.installationId()).toBe(id);
  });

  it('counts new calls and never re-opens a delivery that is batched or sent', () => {
    const run = store.startRun(1, 0);
    expect(store.recordPage(run, [seen('a'), seen('b')], [pending('a'), pending('b')])).toBe(2);
    const batch = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 0)[0]!;
    expect(batch.rows).toBe(2);
    store.markSending(batch.id, 5000);
    store.markSent(batch.id, { id: 77, status: 'UPLOADED' }, 1000);
    // the same calls come again (look-back window) and are decided again: nothing changes
    expect(store.recordPage(run, [seen('a'), seen('b')], [pending('a'), { ...pending('b'), state: 'skipped', row: null, reason: 'status' }])).toBe(0);
    expect(states()).toEqual({ '1/a/call': 'sent', '1/b/call': 'sent' });
    expect(store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 0)).toEqual([]);
    expect(store.batch(batch.id)).toMatchObject({ status: 'sent', uploadingId: 77, metrikaStatus: 'UPLOADED', attempts: 1, attemptAt: 5 });
  });

  it("with the run's batching, pending rows go straight into the run's batch, and sending it changes one row", () => {
    const batching = { headers: { '1/call/clientId': ['ClientId', 'DateTime'] }, now: 7_000 };
    const run = store.startRun(1, 0);
    // counter 2 is not delivered by this run: its pending row stays pending, outside any batch
    store.recordPage(run, [seen('a'), seen('b')], [pending('a'), pending('b'), pending('a', 2)], batching);
    store.recordPage(run, [seen('c'), seen('d')], [pending('c'), { ...pending('d'), state: 'skipped', row: null, reason: 'status' }], batching);
    const open = connectionOf(store).prepare(`SELECT id, status, rows FROM batches`).all();
    expect(open).toEqual([{ id: expect.any(Number), status: 'prepared', rows: 0 }]);
    expect(states()).toEqual({ '1/a/call': 'batched', '1/b/call': 'batched', '1/c/call': 'batched', '1/d/call': 'skipped', '2/a/call': 'pending' });

    const batch = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 9_000)[0]!;
    expect(batch).toMatchObject({ id: (open[0] as { id: number }).id, rows: 3, status: 'prepared', createdAt: 7, header: ['ClientId', 'DateTime'] });
    expect([...store.batchRows(batch.id)].flat().map((r) => r[0])).toEqual(['a', 'b', 'c']);
    store.markSending(batch.id, 9_000);
    const before = connectionOf(store).prepare(`SELECT * FROM deliveries ORDER BY 1, 2, 3`).all();
    store.markSent(batch.id, { id: 5, status: 'UPLOADED' }, 10_000);
    expect(connectionOf(store).prepare(`SELECT * FROM deliveries ORDER BY 1, 2, 3`).all()).toEqual(before);
    expect(states()).toMatchObject({ '1/a/call': 'sent', '1/b/call': 'sent', '1/c/call': 'sent' });
    expect(connectionOf(store).prepare(`SELECT DISTINCT sent_at FROM delivery_view WHERE state = 'sent'`).pluck().all()).toEqual([10]);

    // the look-back window brings them again: nothing is re-opened, and no batch is created for nothing
    const next = store.startRun(1, 0);
    store.recordPage(next, [seen('a'), seen('b'), seen('c')], [pending('a'), pending('b'), pending('c')], batching);
    expect(connectionOf(store).prepare(`SELECT COUNT(*) FROM batches`).pluck().get()).toBe(1);
    expect(store.sealBatches(next, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 11_000)).toEqual([]);
  });

  it("releases the run's batches that were never sent: their rows wait, pending, for the next run", () => {
    const batching = { headers: { '1/call/clientId': ['ClientId', 'DateTime'], '2/call/clientId': ['ClientId', 'DateTime'] }, now: 0 };
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a'), seen('b')], [pending('a'), pending('b', 2)], batching);
    const sent = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 0)[0]!;
    store.markSending(sent.id, 0);
    store.markSent(sent.id, { id: 1 }, 0);
    store.releaseBatches(run); // counter 2 failed before its upload
    expect(connectionOf(store).prepare(`SELECT counter_id, status FROM batches`).all()).toEqual([{ counter_id: 1, status: 'sent' }]);
    expect(states()).toEqual({ '1/a/call': 'sent', '2/b/call': 'pending' });
    const later = store.startRun(1, 0);
    expect(store.sealBatches(later, 2, 'call', 'clientId', ['ClientId', 'DateTime'], null, 0)[0]).toMatchObject({ rows: 1, status: 'prepared' });
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
    const batch = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 0)[0]!;
    expect(batch.rows).toBe(1);
    // sealed: the comment names the installation, the batch and the newest DateTime of its rows
    expect(batch.comment).toBe(`ckym${store.installationId()}b${batch.id}t1714510800`);
    expect([...store.batchRows(batch.id)].flat()).toEqual([['a', '1714510800']]);
    expect(states()).toEqual({ '1/a/call': 'batched', '1/b/conversion': 'pending', '2/a/call': 'pending' });
  });

  it('a void batch gives its rows back to pending; a rejected one quarantines them', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a'), seen('b')], [pending('a', 1), pending('b', 2)]);
    const b1 = store.sealBatches(run, 1, 'call', 'clientId', ['x'], null, 0)[0]!;
    const b2 = store.sealBatches(run, 2, 'call', 'clientId', ['x'], null, 0)[0]!;
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
    const batch = store.sealBatches(run, 1, 'call', 'clientId', ['x'], null, 0)[0]!;
    const chunks = [...store.batchRows(batch.id, 10)];
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(chunks.flat().map((r) => r[0])).toEqual(ids);
  });

  it('cursors only move forward; the calls still waited on are found by time, with the known calls around them', () => {
    store.setCursors([1, 2], 1000);
    store.setCursors([1], 500);
    expect(store.cursor(1)).toBe(1000);
    expect(store.cursor(3)).toBeNull();
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a')], [{ ...pending('a', 2), state: 'waiting', reason: 'scheduled', row: null, callTime: 400 }]);
    store.recordPage(run, [seen('b'), seen('c'), seen('d')], [
      { ...pending('b', 2), state: 'waiting', reason: 'in-progress', row: null, callTime: 400 },
      { ...pending('c', 1), state: 'waiting', reason: 'scheduled', row: null, callTime: 700 },
      { ...pending('d', 1), callTime: 300 },
    ]);
    // waiting and pending (still to send) are both re-checked; each time once, oldest first
    expect(store.unsettledTimes([3], 0, 10_000)).toEqual([]);
    expect(store.unsettledTimes([1, 2], 0, 10_000)).toEqual([300, 400, 700]);
    expect(store.unsettledTimes([2], 0, 10_000)).toEqual([400]);
    expect(store.unsettledTimes([1, 2], 401, 10_000)).toEqual([700]);
    expect(store.unsettledTimes([1, 2], 0, 700)).toEqual([300, 400]);
  });

  it('counts the known calls at and between the waiting calls, through the calls_by_time index', () => {
    const run = store.startRun(1, 0);
    const at = (id: string, callTime: number) => ({ id, callTime, serviceType: 'callback' });
    store.recordPage(run, [at('a', 100), at('b', 100), at('c', 150), at('d', 200), at('e', 250), at('f', 300), at('g', 900)], []);
    expect(store.callsAround([100, 200], 300)).toEqual([
      { time: 100, at: 2, after: 1 },
      { time: 200, at: 1, after: 1 },
    ]);
    expect(store.callsBetween(100, 300)).toBe(6);
    expect(store.callsBetween(301, 899)).toBe(0);
    const plan = (sql: string) =>
      (connectionOf(store).prepare(`EXPLAIN QUERY PLAN ${sql}`).all(1, 2) as { detail: string }[]).map((r) => r.detail).join(' | ');
    expect(plan(`SELECT COUNT(*) FROM calls WHERE call_time > ? AND call_time < ?`)).toMatch(/USING COVERING INDEX calls_by_time/);
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

describe('Store: opening, closing, runs and batch errors', () => {
  it('refuses to open a missing database read-only and creates nothing', () => {
    // Every caller checks that the file exists first; the store itself must never create one when reading.
    const missing = path.join(dir, 'missing.db');
    expect(() => Store.open(missing, { readonly: true })).toThrow(/ENOENT/);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('refuses a database written by a newer ckym, naming both schema versions', () => {
    store.close();
    const file = path.join(dir, 'ckym.db');
    const db = new BetterSqlite3(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expect(() => Store.open(file)).toThrow(
      new LocalError(`${file} was written by a newer ckym (schema ${MIGRATIONS.length + 1}, this one knows ${MIGRATIONS.length}); upgrade ckym`),
    );
    store = Store.open(path.join(dir, 'other.db'));
  });

  it("puts a dry run's copy in the system's temporary folder, named for what it is", async () => {
    const copy = await Store.openCopy(path.join(dir, 'ckym.db'));
    try {
      expect(path.dirname(path.dirname(copy.file))).toBe(os.tmpdir());
      expect(path.basename(path.dirname(copy.file))).toMatch(/^ckym-dry-run-\w{6}$/);
    } finally {
      copy.close();
    }
  });

  it('is closed for good after close(), and closing twice is harmless', () => {
    store.close();
    expect(() => store.startRun(1, 0)).toThrow(/not open/);
    expect(() => store.close()).not.toThrow();
  });

  it('keeps the fetch window, the totals and the end of a run', () => {
    const run = store.startRun(42, 1_000);
    store.setRunWindow(run, 100, 200);
    expect(store.runningRun()).toMatchObject({ id: run, pid: 42, startedAt: 1_000, windowFrom: 100, windowTo: 200, finishedAt: null, exitCode: null });
    const end = {
      outcome: 'partial',
      exitCode: 5,
      error: 'counter 2: unavailable',
      finishedAt: 9_000,
      pages: 3,
      fetched: 250,
      sentCalls: 7,
      sentConversions: 2,
      skipped: 11,
      waiting: 4,
    } as const;
    store.finishRun(run, end);
    expect(store.runningRun()).toBeNull();
    expect(store.recentRuns(5)).toEqual([{ id: run, pid: 42, startedAt: 1_000, windowFrom: 100, windowTo: 200, ...end }]);
  });

  it("records a batch's last error and Metrica's later view of it", () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a')], [pending('a')]);
    const batch = store.sealBatches(run, 1, 'call', 'clientId', ['x'], null, 0)[0]!;
    store.recordBatchError(batch.id, 'timeout after 30 s');
    expect(store.batch(batch.id)).toMatchObject({ status: 'prepared', error: 'timeout after 30 s' });
    store.markSending(batch.id, 0);
    store.markSent(batch.id, { id: 8, status: 'UPLOADED' }, 0);
    expect(store.batch(batch.id)).toMatchObject({ status: 'sent', error: null, metrikaStatus: 'UPLOADED' });
    store.recordUploadingStatus(batch.id, { id: 8, status: 'PROCESSED' });
    expect(store.batch(batch.id)).toMatchObject({ status: 'sent', metrikaStatus: 'PROCESSED', uploadingId: 8 });
    expect(store.batch(batch.id + 1)).toBeNull();
  });

  it('streams every row of a batch whose size is a multiple of the chunk, and numeric call ids too', () => {
    const run = store.startRun(1, 0);
    const ids = Array.from({ length: 10 }, (_, i) => String(1000 + i)); // CallKeeper's ids are digits
    store.recordPage(run, ids.map(seen), ids.map((id) => pending(id)));
    const batch = store.sealBatches(run, 1, 'call', 'clientId', ['x'], null, 0)[0]!;
    expect([...store.batchRows(batch.id, 5)].map((c) => c.map((r) => r[0]))).toEqual([ids.slice(0, 5), ids.slice(5)]);
    expect([...store.batchRows(batch.id, 10)].flat().map((r) => r[0])).toEqual(ids);
    expect([...store.batchRows(batch.id + 1)]).toEqual([]);
  });
});

describe('storeError', () => {
  it.each([
    ['SQLITE_FULL', 'the disk is full; free some space and run again'],
    ['SQLITE_READONLY', 'the database is read-only; check the permissions of the file and its directory'],
    ['SQLITE_READONLY_DBMOVED', 'the database is read-only; check the permissions of the file and its directory'],
    ['SQLITE_CANTOPEN', 'the database cannot be opened; check that CKYM_HOME exists and is writable'],
    ['SQLITE_IOERR_SHORT_READ', 'a disk error occurred; check the disk and run again'],
    ['EACCES', 'permission denied; check the permissions of CKYM_HOME'],
    ['EROFS', 'the file system is read-only; point CKYM_HOME at a writable directory'],
    ['ENOSPC', 'the disk is full; free some space and run again'],
  ])('%s: one sentence with the fix, the code, and the original as its cause', (code, fix) => {
    const original = Object.assign(new Error('low-level'), { code });
    const error = storeError('/home/me/.ckym/ckym.db', original);
    expect(error).toBeInstanceOf(LocalError);
    expect(error.message).toBe(`database /home/me/.ckym/ckym.db: ${fix} (${code})`);
    expect(error.cause).toBe(original);
  });

  it.each([
    ['SQLITE_CORRUPT', 'is damaged (SQLITE_CORRUPT)'],
    ['SQLITE_CORRUPT_INDEX', 'is damaged (SQLITE_CORRUPT_INDEX)'],
    ['SQLITE_NOTADB', 'is not a database (SQLITE_NOTADB)'],
  ])('%s: a damaged database, exit 2, with the way on that sends nothing twice', (code, what) => {
    const file = '/home/me/.ckym/ckym.db';
    const error = storeError(file, Object.assign(new Error('low-level'), { code }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    expect(error.message).toBe(
      `database ${file} ${what}: ckym will not start a new one in its place, which would send again every call of the look-back window. ` +
        `Move it aside (mv ${file} ${file}.damaged), then run "ckym sync --since DATE" with the day after the last upload you know of, or "ckym sync --adopt" to go on after the uploads Metrica already has`,
    );
  });

  it('passes ckym\'s own errors through as they are', () => {
    const config = new ConfigError('already clear');
    expect(storeError('f', config)).toBe(config);
    const local = Object.assign(new LocalError('already clear'), { code: 'SQLITE_FULL' });
    expect(storeError('f', local)).toBe(local);
  });

  it('passes other errors through as they are', () => {
    const plain = new Error('SQLITE_FULL somewhere in the text, but no code');
    expect(storeError('f', plain)).toBe(plain);
    const other = Object.assign(new Error('busy'), { code: 'XSQLITE_BUSY' });
    expect(storeError('f', other)).toBe(other);
    const odd = storeError('f', 'a thrown string');
    expect(odd).toBeInstanceOf(Error);
    expect(odd.message).toBe('a thrown string');
  });
});

describe('schema 3', () => {
  it("turns a schema-2 database's sent deliveries into batched ones of their sent batch; delivery_view still says sent", () => {
    const file = path.join(dir, 'v2.db');
    const Database = connectionOf(store).constructor as unknown as new (file: string) => ReturnType<typeof connectionOf>;
    const db = new Database(file);
    db.exec(MIGRATIONS[0]!);
    db.exec(MIGRATIONS[1]!);
    db.pragma('user_version = 2');
    db.exec(`INSERT INTO runs (id, pid, started_at, outcome) VALUES (1, 1, 0, 'ok');
      INSERT INTO batches (id, run_id, counter_id, kind, comment, header, rows, status, created_at, sent_at)
        VALUES (1, 1, 9, 'call', 'ckym batch x-1', '[]', 1, 'sent', 100, 200);
      INSERT INTO deliveries (counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run, sent_at) VALUES
        (9, 'a', 'call', 'sent', NULL, '["a"]', 50, 1, 1, 200),
        (9, 'b', 'call', 'skipped', 'status', NULL, 60, NULL, 1, NULL),
        (9, 'c', 'call', 'pending', NULL, '["c"]', 70, NULL, 1, NULL);`);
    db.close();
    // ckym stats only reads: on a database no newer ckym has migrated yet, it reads the table as it is
    const readOnly = Store.open(file, { readonly: true });
    try {
      expect(deliveryCounts(readOnly).map((c) => [c.state, c.count])).toEqual([['pending', 1], ['sent', 1], ['skipped', 1]]);
    } finally {
      readOnly.close();
    }
    const migrated = Store.open(file);
    try {
      expect(migrated.schemaVersion).toBe(MIGRATIONS.length);
      expect(connectionOf(migrated).prepare(`SELECT call_id, state FROM deliveries ORDER BY 1`).all()).toEqual([
        { call_id: 'a', state: 'batched' },
        { call_id: 'c', state: 'pending' },
      ]);
      // schema 8: a skipped decision is kept on its call's row (made here: this database had none for it)
      expect(connectionOf(migrated).prepare(`SELECT id, call_time, skips FROM calls ORDER BY 1`).all()).toEqual([
        { id: 'b', call_time: 60, skips: '[[9,"call","status"]]' },
      ]);
      expect(deliveryCounts(migrated).map((c) => [c.state, c.count])).toEqual([['pending', 1], ['sent', 1], ['skipped', 1]]);
      expect(connectionOf(migrated).prepare(`SELECT call_id, state, sent_at FROM delivery_view ORDER BY 1`).all()).toEqual([
        { call_id: 'a', state: 'sent', sent_at: 200 },
        { call_id: 'b', state: 'skipped', sent_at: null },
        { call_id: 'c', state: 'pending', sent_at: null },
      ]);
    } finally {
      migrated.close();
    }
  });
});

describe('schema 4', () => {
  it('keeps a schema-3 database\'s deliveries and batches; rows carry the ClientId type, batches are fresh, old comments stay', () => {
    const file = path.join(dir, 'v3.db');
    const Database = connectionOf(store).constructor as unknown as new (file: string) => ReturnType<typeof connectionOf>;
    const db = new Database(file);
    for (const m of MIGRATIONS.slice(0, 3)) db.exec(m);
    db.pragma('user_version = 3');
    db.exec(`INSERT INTO runs (id, pid, started_at, outcome) VALUES (1, 1, 0, 'ok');
      INSERT INTO batches (id, run_id, counter_id, kind, comment, header, rows, status, created_at, sent_at)
        VALUES (1, 1, 9, 'call', 'ckym batch 0123456789ab-1', '[]', 1, 'sent', 100, 200),
               (2, 1, 9, 'call', 'ckym batch 0123456789ab-2', '[]', 1, 'rejected', 100, NULL);
      INSERT INTO deliveries (counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run) VALUES
        (9, 'a', 'call', 'batched', NULL, '["a"]', 50, 1, 1),
        (9, 'b', 'call', 'skipped', 'status', NULL, 60, NULL, 1),
        (9, 'c', 'call', 'failed', 'rejected', '["c"]', 70, 2, 1),
        (9, 'd', 'call', 'pending', NULL, '["d"]', 80, NULL, 1);`);
    db.close();
    const migrated = Store.open(file);
    try {
      expect(migrated.schemaVersion).toBe(MIGRATIONS.length);
      expect(connectionOf(migrated).prepare(`SELECT call_id, state, id_type, sent_at FROM delivery_view ORDER BY 1`).all()).toEqual([
        { call_id: 'a', state: 'sent', id_type: 'clientId', sent_at: 200 },
        { call_id: 'b', state: 'skipped', id_type: 'clientId', sent_at: null },
        { call_id: 'c', state: 'failed', id_type: 'clientId', sent_at: null },
        { call_id: 'd', state: 'pending', id_type: 'clientId', sent_at: null },
      ]);
      expect(migrated.batch(1)).toMatchObject({ comment: 'ckym batch 0123456789ab-1', idType: 'clientId', segment: 'fresh', splitFrom: null });
      // malformed is a state now
      const run = migrated.startRun(2, 0);
      migrated.recordPage(run, [seen('e')], [{ ...pending('e', 9), state: 'malformed', reason: 'datetime-before-2000', row: null }]);
      expect(connectionOf(migrated).prepare(`SELECT state, reason FROM deliveries WHERE call_id = 'e'`).get()).toEqual({ state: 'malformed', reason: 'datetime-before-2000' });
    } finally {
      migrated.close();
    }
  });
});

describe('schemas 5 and 6: calls by time, counts kept as written', () => {
  it('migrates a populated schema-4 database: stats read from the counts equal the rows before and after, and stay so as it changes', () => {
    const file = path.join(dir, 'v4.db');
    const Database = connectionOf(store).constructor as unknown as new (file: string) => ReturnType<typeof connectionOf>;
    const db = new Database(file);
    for (const m of MIGRATIONS.slice(0, 4)) db.exec(m);
    db.pragma('user_version = 4');
    const DAY = 86_400;
    const now = 1_716_200_000;
    db.exec(`INSERT INTO runs (id, pid, started_at, outcome) VALUES (1, 1, 0, 'ok');
      INSERT INTO batches (id, run_id, counter_id, kind, comment, header, rows, status, created_at, sent_at, id_type, segment) VALUES
        (1, 1, 9, 'call', 'ckym0123456789abb1t1', '[]', 3, 'sent', ${now}, ${now}, 'clientId', 'fresh'),
        (2, 1, 9, 'conversion', 'ckym0123456789abb2t1', '[]', 2, 'sent', ${now}, ${now}, 'clientId', 'fresh'),
        (3, 1, 9, 'call', 'ckym0123456789abb3t1', '[]', 1, 'rejected', ${now}, NULL, 'clientId', 'fresh'),
        (4, 1, 9, 'call', 'ckym0123456789abb4t1', '[]', 1, 'prepared', ${now}, NULL, 'yclid', 'fresh');`);
    const calls: [string, number][] = [];
    const deliveries: string[] = [];
    const add = (id: string, at: number, kind: string, state: string, reason: string | null, row: string | null, batch: number | null) => {
      if (!calls.some(([c]) => c === id)) calls.push([id, at]);
      deliveries.push(`(9, '${id}', '${kind}', '${state}', ${reason === null ? 'NULL' : `'${reason}'`}, ${row === null ? 'NULL' : `'${row}'`}, ${at}, ${batch ?? 'NULL'}, 1)`);
    };
    add('a', now - 30 * DAY, 'call', 'batched', null, '["1","x"]', 1); // sent, late (30 days)
    add('a', now - 30 * DAY, 'conversion', 'batched', null, '["1","goal_a","x"]', 2);
    add('b', now - 21 * DAY + 100, 'call', 'batched', null, '["2","x"]', 1); // sent, just in time
    add('b', now - 21 * DAY + 100, 'conversion', 'batched', null, '["2","goal_b","x"]', 2);
    add('c', now - 2 * DAY - 1234, 'call', 'batched', null, '["3","x"]', 1);
    add('d', now - 2 * DAY - 1000, 'call', 'skipped', 'status', null, null);
    add('d', now - 2 * DAY - 1000, 'conversion', 'skipped', 'status', null, null);
    add('e', now - 2 * DAY - 1500, 'call', 'failed', 'rejected', '["5","x"]', 3);
    add('f', now - 3600, 'call', 'waiting', 'scheduled', null, null);
    add('g', now - 7200, 'call', 'pending', null, '["7","x"]', null);
    add('h', now - 60, 'call', 'batched', null, '["8","x"]', 4);
    add('i', -5000, 'call', 'malformed', 'datetime-before-2000', null, null); // before 1970: its hour is floor()ed
    db.exec(`INSERT INTO calls (id, call_time, service_type, first_seen_run, last_seen_run) VALUES ${calls.map(([id, at]) => `('${id}', ${at}, 'callback', 1, 1)`).join(', ')};
      INSERT INTO deliveries (counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run) VALUES ${deliveries.join(', ')};`);
    db.close();

    // stats on the schema-4 database (read-only: not migrated) read the rows
    const readOnly = Store.open(file, { readonly: true });
    const before = rowStats(readOnly, {}, []);
    readOnly.close();
    const migrated = Store.open(file);
    try {
      expect(migrated.schemaVersion).toBe(MIGRATIONS.length);
      expect(expectCountsExact(migrated, now * 1000, [9])).toBeGreaterThan(0);
      const after = countStats(migrated, {}, []);
      expect(after.deliveries).toEqual(expect.arrayContaining(before.deliveries));
      expect(after.deliveries).toHaveLength(before.deliveries.length);
      // a (30 days before it was sent) is late, b (21 days less 100 s) is not
      expect(after.lateSent.sort((x, y) => x.kind.localeCompare(y.kind))).toEqual([
        { counterId: 9, kind: 'call', count: 1 },
        { counterId: 9, kind: 'conversion', count: 1 },
      ]);
      expect(after.goals.sort((x, y) => x.goal.localeCompare(y.goal))).toEqual([
        { counterId: 9, goal: 'goal_a', count: 1 },
        { counterId: 9, goal: 'goal_b', count: 1 },
      ]);
      // and as it changes: the prepared batch sent, the refused row retried, a new page
      migrated.markSent(4, { id: 77 }, now * 1000);
      expectCountsExact(migrated, now * 1000, [9]);
      migrated.requeueFailed([9]);
      expectCountsExact(migrated, now * 1000, [9]);
      const run = migrated.startRun(2, now * 1000);
      migrated.recordPage(run, [{ id: 'f', callTime: now - 3600, serviceType: 'callback' }], [
        { counterId: 9, callId: 'f', kind: 'call', state: 'skipped', reason: 'status', row: null, callTime: now - 3600, waited: 'scheduled' },
      ]);
      expectCountsExact(migrated, now * 1000, [9]);
      expect(waitedOutCounts(migrated)).toEqual([{ counterId: 9, kind: 'call', waited: 'scheduled', count: 1 }]);
      const sealed = migrated.sealBatches(run, 9, 'call', 'clientId', ['x'], null, now * 1000);
      expect(sealed.map((b) => b.rows)).toEqual([2]); // g and the requeued e
      expectCountsExact(migrated, now * 1000, [9]);
      migrated.voidBatch(sealed[0]!.id, 'lost');
      expectCountsExact(migrated, now * 1000, [9]);
    } finally {
      migrated.close();
    }
  });
});

describe('batches of (counter, kind, identifier type, segment)', () => {

  it('seals one batch per identifier type; rows dated before the threshold go in an old batch of their own; each comment names its newest row', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, ['a', 'b', 'c', 'y'].map((id, i) => seenAt(id, 1000 + i)), [at('a', 1000), at('b', 1001), at('c', 1002), at('y', 1003, 'yclid')]);
    expect(store.toSend(run, 1, 'call')).toEqual(['clientId', 'yclid']);
    const [fresh, old, ...none] = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], 1002, 5000);
    expect(none).toEqual([]);
    expect(fresh).toMatchObject({ idType: 'clientId', segment: 'fresh', rows: 1, comment: `ckym${store.installationId()}b${fresh!.id}t1002` });
    expect(old).toMatchObject({ idType: 'clientId', segment: 'old', rows: 2, comment: `ckym${store.installationId()}b${old!.id}t1001` });
    expect([...store.batchRows(old!.id)].flat().map((r) => r[0])).toEqual(['a', 'b']);
    const [yclid] = store.sealBatches(run, 1, 'call', 'yclid', ['Yclid', 'DateTime'], 1002, 5000);
    expect(yclid).toMatchObject({ idType: 'yclid', segment: 'fresh', rows: 1, header: ['Yclid', 'DateTime'] });
    expect(store.pendingCount(1, 'call')).toBe(0);
  });

  it('splitBatch: the refused batch is void, its rows in new batches by position, each sealed with its own comment', () => {
    const run = store.startRun(1, 0);
    const ids = ['a', 'b', 'c', 'd', 'e'];
    store.recordPage(run, ids.map((id, i) => seenAt(id, 1000 + i)), ids.map((id, i) => at(id, 1000 + i)));
    const [batch] = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 5000);
    store.markSending(batch!.id, 6000);
    const parts = store.splitBatch(batch!.id, [[0, 2], [2, 3], [3, 5]], run, 'refused: line 4', 7000);
    expect(parts.map((b) => [b.rows, b.status, b.splitFrom, b.comment])).toEqual([
      [2, 'prepared', batch!.id, `ckym${store.installationId()}b${parts[0]!.id}t1001`],
      [1, 'prepared', batch!.id, `ckym${store.installationId()}b${parts[1]!.id}t1002`],
      [2, 'prepared', batch!.id, `ckym${store.installationId()}b${parts[2]!.id}t1004`],
    ]);
    expect(parts.map((b) => [...store.batchRows(b.id)].flat().map((r) => r[0]))).toEqual([['a', 'b'], ['c'], ['d', 'e']]);
    expect(store.batch(batch!.id)).toMatchObject({ status: 'void', error: 'refused: line 4' });
    expect(connectionOf(store).prepare(`SELECT COUNT(*) FROM deliveries WHERE batch_id = ?`).pluck().get(batch!.id)).toBe(0);
  });

  it('requeueFailed: refused rows of the named counters go back to pending, out of their batch; holdBatches gives up the run\'s open batches', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seenAt('a', 1000), seenAt('b', 1001)], [at('a', 1000), at('b', 1001, 'clientId', 2)]);
    const [one] = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 5000);
    const [two] = store.sealBatches(run, 2, 'call', 'clientId', ['ClientId', 'DateTime'], null, 5000);
    store.rejectBatch(one!.id, 'refused');
    store.rejectBatch(two!.id, 'refused');
    expect([...store.requeueFailed([1])]).toEqual([[1, 1]]);
    expect(states()).toEqual({ '1/a/call': 'pending', '2/b/call': 'failed' });
    expect(connectionOf(store).prepare(`SELECT batch_id, reason FROM deliveries WHERE call_id = 'a'`).get()).toEqual({ batch_id: null, reason: null });

    const batching = { headers: { '1/conversion/clientId': ['ClientId', 'Target', 'DateTime'] }, now: 7_000 };
    const next = store.startRun(1, 0);
    store.recordPage(next, [seenAt('c', 1002)], [{ ...at('c', 1002), kind: 'conversion' }], batching);
    expect(store.toSend(next, 1, 'conversion')).toEqual(['clientId']);
    expect(store.holdBatches(next, 1, 'conversion')).toBe(1);
    expect(connectionOf(store).prepare(`SELECT COUNT(*) FROM batches WHERE run_id = ?`).pluck().get(next)).toBe(0);
    expect(states()['1/c/conversion']).toBe('pending');
  });
});

describe('batches at their edges (mutation testing)', () => {
  const header = ['ClientId', 'DateTime'];

  it('pendingCount without an identifier type counts every type; with one, that type alone', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, ['a', 'b', 'c'].map((id, i) => seenAt(id, 1000 + i)), [at('a', 1000), at('b', 1001), at('c', 1002, 'yclid')]);
    expect(store.pendingCount(1, 'call')).toBe(3);
    expect(store.pendingCount(1, 'call', 'clientId')).toBe(2);
    expect(store.pendingCount(1, 'call', 'yclid')).toBe(1);
    expect(store.pendingCount(2, 'call')).toBe(0);
  });

  it('splitBatch: a range past the rows or an empty one makes no batch (and uses no id); rows no range took go back to pending', () => {
    const run = store.startRun(1, 0);
    const ids = ['a', 'b', 'c', 'd'];
    store.recordPage(run, ids.map((id, i) => seenAt(id, 1000 + i)), ids.map((id, i) => at(id, 1000 + i)));
    const [batch] = store.sealBatches(run, 1, 'call', 'clientId', header, null, 5000);
    const parts = store.splitBatch(batch!.id, [[5, 9], [1, 1], [0, 2], [2, 3]], run, 'refused', 7000);
    expect(parts.map((b) => [b.id, b.rows, b.status])).toEqual([
      [batch!.id + 1, 2, 'prepared'],
      [batch!.id + 2, 1, 'prepared'],
    ]);
    expect(parts.map((b) => [...store.batchRows(b.id)].flat().map((r) => r[0]))).toEqual([['a', 'b'], ['c']]);
    expect(connectionOf(store).prepare(`SELECT id FROM batches ORDER BY id`).pluck().all()).toEqual([batch!.id, batch!.id + 1, batch!.id + 2]);
    // 'd' no range took: pending again, in no batch
    expect(states()).toEqual({ '1/a/call': 'batched', '1/b/call': 'batched', '1/c/call': 'batched', '1/d/call': 'pending' });
    expect(connectionOf(store).prepare(`SELECT batch_id FROM deliveries WHERE call_id = 'd'`).pluck().get()).toBeNull();
    expect(store.splitBatch(9999, [[0, 1]], run, 'refused', 7000)).toEqual([]);
  });

  it('splitBatch: a range whose rows another range took gives no batch back', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seenAt('a', 1000), seenAt('b', 1001)], [at('a', 1000), at('b', 1001)]);
    const [batch] = store.sealBatches(run, 1, 'call', 'clientId', header, null, 5000);
    const parts = store.splitBatch(batch!.id, [[0, 2], [0, 2]], run, 'refused', 7000);
    expect(parts.map((b) => [b.rows, [...store.batchRows(b.id)].flat().map((r) => r[0])])).toEqual([[2, ['a', 'b']]]);
    expect(connectionOf(store).prepare(`SELECT COUNT(*) FROM batches WHERE split_from = ?`).pluck().get(batch!.id)).toBe(1);
  });

  it('sealBatches with a threshold no row is older than: one fresh batch, no old one (and no id used)', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seenAt('a', 1000), seenAt('b', 1001)], [at('a', 1000), at('b', 1001)]);
    const sealed = store.sealBatches(run, 1, 'call', 'clientId', header, 900, 5000);
    expect(sealed.map((b) => [b.segment, b.rows])).toEqual([['fresh', 2]]);
    expect(connectionOf(store).prepare(`SELECT COUNT(*) FROM batches`).pluck().get()).toBe(1);
  });

  it('requeueFailed names only the counters that had refused rows', () => {
    const run = store.startRun(1, 0);
    store.recordPage(run, [seenAt('a', 1000), seenAt('b', 1001)], [at('a', 1000), at('b', 1001)]);
    const [one] = store.sealBatches(run, 1, 'call', 'clientId', header, null, 5000);
    store.rejectBatch(one!.id, 'refused');
    expect([...store.requeueFailed([2, 1, 3])]).toEqual([[1, 2]]);
    expect(store.requeueFailed([1]).size).toBe(0);
  });
});

describe('fingerprints of the calls (issue 14.2, mutation testing)', () => {
  it('kept as a page records them, replaced or cleared when the call is seen again; unknown calls and calls without one are absent', () => {
    const run = store.startRun(1, 0);
    expect(store.recordPage(run, [{ ...seen('a'), fingerprint: 'fa' }, { ...seen('b'), fingerprint: null }, seen('c')], [])).toBe(3);
    expect(store.fingerprints(['a', 'b', 'c', 'x'])).toEqual(new Map([['a', { fingerprint: 'fa', callTime: 1714510800 }]]));
    const next = store.startRun(1, 0);
    expect(store.recordPage(next, [{ ...seen('a'), fingerprint: 'fa2' }, { ...seen('b'), fingerprint: 'fb', callTime: 1714510860 }], [])).toBe(0);
    expect(store.fingerprints(['a', 'b'])).toEqual(
      new Map([
        ['a', { fingerprint: 'fa2', callTime: 1714510800 }],
        ['b', { fingerprint: 'fb', callTime: 1714510860 }],
      ]),
    );
    store.recordPage(next, [{ ...seen('a'), callTime: 1714510900 }], []);
    expect(store.fingerprints(['a', 'b'])).toEqual(new Map([['b', { fingerprint: 'fb', callTime: 1714510860 }]]));
    expect(connectionOf(store).prepare(`SELECT call_time, first_seen_run, last_seen_run FROM calls WHERE id = 'a'`).get()).toEqual({
      call_time: 1714510900,
      first_seen_run: run,
      last_seen_run: next,
    });
    expect(store.fingerprints([])).toEqual(new Map());
  });
});

describe('delivery counts follow a re-decided delivery (schema 6, mutation testing)', () => {
  /** Asserts delivery_counts (and batch_counts) hold, key for key, what the deliveries themselves say; returns the recount. */
  const expectCountsByKey = (): unknown[] => expectCountsKeyed(store);

  it('its old key loses it whatever changed — the reason, the goal, the hour — and a call before 1970 counts in its own hour', () => {
    const t = 1_714_510_800;
    const conversion = (callId: string, row: string[] | null, callTime = t): DeliveryRecord => ({ ...pending(callId), kind: 'conversion', row, callTime });
    const first = store.startRun(1, 0);
    store.recordPage(first, ['a', 'b', 'c', 'e'].map((id) => seenAt(id, t)).concat([seenAt('d', -1)]), [
      at('a', t),
      conversion('b', ['1', 'g1', 'x']),
      { ...at('c', t), state: 'waiting', reason: 'settling', row: null },
      at('d', -1),
      conversion('e', ['1']), // a row without a goal cell counts under no goal, as the recount reads it
    ]);
    const second = store.startRun(1, 0);
    store.recordPage(second, [seenAt('a', t), seenAt('b', t), seenAt('c', t + 7200)], [
      { ...at('a', t), state: 'skipped', reason: 'min-duration', row: null },
      conversion('b', ['1', 'g2', 'x']),
      { ...at('c', t + 7200), state: 'waiting', reason: 'settling', row: null },
    ]);
    expect(states()).toEqual({ '1/a/call': 'skipped', '1/b/conversion': 'pending', '1/c/call': 'waiting', '1/d/call': 'pending', '1/e/conversion': 'pending' });
    expect(expectCountsExact(store, (t + 86_400) * 1000)).toBeGreaterThan(0);
    expect(expectCountsExact(store, (t + 86_400) * 1000, [1])).toBeGreaterThan(0);
    // … and key for key (stats read a goal only when sent, a day not an hour: the table itself must be exact)
    const recount = expectCountsByKey();
    expect(recount).toContainEqual({ hour: -1, counter_id: 1, kind: 'call', state: 'pending', reason: '', goal: '', late: 0, waited: '', count: 1 });
    expect(recount).toContainEqual({ hour: hourOf(t), counter_id: 1, kind: 'conversion', state: 'pending', reason: '', goal: 'g2', late: 0, waited: '', count: 1 });
  });

  it('a pending row a page writes straight into the run\'s batch counts as batched; a waited-out one by its wait', () => {
    const t = 1_714_510_800;
    const run = store.startRun(1, 0);
    const batching = { headers: { '1/call/clientId': ['ClientId', 'DateTime'] }, now: 5000 };
    store.recordPage(run, [seenAt('a', t), seenAt('b', t)], [at('a', t), { ...at('b', t), waited: 'in-progress' }], batching);
    // fetched again: a batched delivery is never touched, nor counted again
    store.recordPage(run, [seenAt('a', t), seenAt('b', t)], [at('a', t), { ...at('b', t), waited: 'in-progress' }], batching);
    store.recordPage(run, [seenAt('a', t)], [at('a', t)]);
    expect(states()).toEqual({ '1/a/call': 'batched', '1/b/call': 'batched' });
    expect(expectCountsByKey()).toEqual([
      { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'batched', reason: '', goal: '', late: 0, waited: '', count: 1 },
      { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'batched', reason: '', goal: '', late: 0, waited: 'in-progress', count: 1 },
    ]);
  });

  it('deliveries of one key in one page are summed: three calls skipped for the same reason in the same hour count 3', () => {
    const t = 1_714_510_800;
    const run = store.startRun(1, 0);
    const skipped = (id: string, at_: number): DeliveryRecord => ({ ...at(id, at_), state: 'skipped', reason: 'min-duration', row: null });
    store.recordPage(run, ['a', 'b', 'c', 'd'].map((id) => seenAt(id, id === 'd' ? t + 3600 : t + 60)), [
      skipped('a', t + 60),
      skipped('b', t + 60),
      skipped('c', t + 60),
      skipped('d', t + 3600),
    ]);
    const row = (hour: number, count: number) => ({ hour, counter_id: 1, kind: 'call', state: 'skipped', reason: 'min-duration', goal: '', late: 0, waited: '', count });
    expect(expectCountsByKey()).toEqual([row(hourOf(t), 3), row(hourOf(t) + 1, 1)]);
  });

  it('a batch sent more than 21 days after a call counts it late; a rejected one counts its rows failed as rejected', () => {
    const t = 1_714_510_800;
    const run = store.startRun(1, 0);
    store.recordPage(run, [seenAt('a', t), seenAt('b', t + 3600), seenAt('c', t)], [at('a', t), at('b', t + 3600), at('c', t, 'clientId', 2)]);
    const [one] = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 5000);
    const [two] = store.sealBatches(run, 2, 'call', 'clientId', ['ClientId', 'DateTime'], null, 5000);
    store.markSending(one!.id, 6000);
    store.markSent(one!.id, { id: 9 }, (t + 21 * 86_400 + 1800) * 1000); // 'a' 21 days and half an hour before, 'b' less than 21 days
    store.rejectBatch(two!.id, 'Metrica refused the file');
    const row = (hour: number, counter: number, state: string, reason: string, late: number) => ({ hour, counter_id: counter, kind: 'call', state, reason, goal: '', late, waited: '', count: 1 });
    expect(expectCountsByKey()).toEqual([row(hourOf(t), 1, 'sent', '', 1), row(hourOf(t), 2, 'failed', 'rejected', 0), row(hourOf(t) + 1, 1, 'sent', '', 0)]);
  });

  describe("schema 8: a skipped decision is kept on its call's row, not as a delivery", () => {
    const t = 1_714_510_800;
    const skip = (callId: string, reason: string, counterId = 1, kind: 'call' | 'conversion' = 'call', callTime = t): DeliveryRecord => ({
      counterId,
      callId,
      kind,
      state: 'skipped',
      reason: reason as DeliveryRecord['reason'],
      row: null,
      callTime,
    });
    const wait = (callId: string, counterId = 1): DeliveryRecord => ({ ...at(callId, t, 'clientId', counterId), state: 'waiting', reason: 'settling', row: null });
    const conv = (callId: string): DeliveryRecord => ({ ...pending(callId, 1, 'conversion'), row: ['cid', 'goal', String(t)], callTime: t });
    const db = () => connectionOf(store);
    const skipsOf = (id: string): unknown[] | null => {
      const raw = db().prepare(`SELECT skips FROM calls WHERE id = ?`).pluck().get(id) as string | null;
      return raw === null ? null : (JSON.parse(raw) as unknown[][]).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y)));
    };
    const rows = () => db().prepare(`SELECT counter_id, call_id, kind, state FROM deliveries ORDER BY 1, 2, 3`).all();

    it("a new call's skips are written with it; only the other decisions are rows", () => {
      const run = store.startRun(1, 0);
      store.recordPage(run, [seenAt('a', t), seenAt('b', t)], [
        skip('a', 'status'),
        skip('a', 'status', 1, 'conversion'),
        { ...skip('a', 'min-duration', 2), waited: 'in-progress' },
        at('b', t),
        skip('b', 'no-client-id', 1, 'conversion'),
      ]);
      expect(rows()).toEqual([{ counter_id: 1, call_id: 'b', kind: 'call', state: 'pending' }]);
      expect(skipsOf('a')).toEqual([[1, 'call', 'status'], [1, 'conversion', 'status'], [2, 'call', 'min-duration', 'in-progress']]);
      expect(skipsOf('b')).toEqual([[1, 'conversion', 'no-client-id']]);
      expect(states()).toEqual({ '1/a/call': 'skipped', '1/a/conversion': 'skipped', '1/b/call': 'pending', '1/b/conversion': 'skipped', '2/a/call': 'skipped' });
      expect(db().prepare(`SELECT waited, decided_run FROM delivery_view WHERE counter_id = 2`).get()).toEqual({ waited: 'in-progress', decided_run: run });
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'pending', reason: '', goal: '', late: 0, waited: '', count: 1 },
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 },
        { hour: hourOf(t), counter_id: 1, kind: 'conversion', state: 'skipped', reason: 'no-client-id', goal: '', late: 0, waited: '', count: 1 },
        { hour: hourOf(t), counter_id: 1, kind: 'conversion', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 },
        { hour: hourOf(t), counter_id: 2, kind: 'call', state: 'skipped', reason: 'min-duration', goal: '', late: 0, waited: 'in-progress', count: 1 },
      ]);
    });

    it('a re-decision moves between the call row and the deliveries both ways, and an unchanged one writes nothing', () => {
      const first = store.startRun(1, 0);
      store.recordPage(first, [seenAt('a', t)], [skip('a', 'status'), wait('a', 2), conv('a')]);
      expect(rows()).toEqual([
        { counter_id: 1, call_id: 'a', kind: 'conversion', state: 'pending' },
        { counter_id: 2, call_id: 'a', kind: 'call', state: 'waiting' },
      ]);
      expect(skipsOf('a')).toEqual([[1, 'call', 'status']]);
      expectCountsByKey();
      // skipped → pending (a row again); waiting → skipped; pending → skipped
      const second = store.startRun(1, 0);
      store.recordPage(second, [seenAt('a', t)], [at('a', t), skip('a', 'min-duration', 2), skip('a', 'no-client-id', 1, 'conversion')]);
      expect(rows()).toEqual([{ counter_id: 1, call_id: 'a', kind: 'call', state: 'pending' }]);
      expect(skipsOf('a')).toEqual([[1, 'conversion', 'no-client-id'], [2, 'call', 'min-duration']]);
      expect(states()).toEqual({ '1/a/call': 'pending', '1/a/conversion': 'skipped', '2/a/call': 'skipped' });
      const counted = expectCountsByKey();
      expect(counted).toHaveLength(3);
      // the same decisions again: the call row's skips and the counts are as they were
      const kept = db().prepare(`SELECT skips FROM calls WHERE id = 'a'`).pluck().get();
      const third = store.startRun(1, 0);
      store.recordPage(third, [seenAt('a', t)], [at('a', t), skip('a', 'min-duration', 2), skip('a', 'no-client-id', 1, 'conversion')]);
      expect(db().prepare(`SELECT skips FROM calls WHERE id = 'a'`).pluck().get()).toBe(kept);
      expect(expectCountsByKey()).toEqual(counted);
      // another reason: its count moves
      store.recordPage(third, [seenAt('a', t)], [skip('a', 'status', 2)]);
      expect(skipsOf('a')).toEqual([[1, 'conversion', 'no-client-id'], [2, 'call', 'status']]);
      expect(expectCountsByKey()).toContainEqual({ hour: hourOf(t), counter_id: 2, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 });
      expect(expectCountsExact(store, (t + 86_400) * 1000)).toBeGreaterThan(0);
    });

    it('a skipped decision never touches a batched, sent or failed delivery', () => {
      const run = store.startRun(1, 0);
      store.recordPage(run, [seenAt('a', t), seenAt('b', t), seenAt('c', t)], [at('a', t), at('b', t), at('c', t, 'clientId', 2)], {
        headers: { '1/call/clientId': ['ClientId', 'DateTime'] },
        now: 5000,
      });
      const [sent] = store.sealBatches(run, 1, 'call', 'clientId', ['ClientId', 'DateTime'], null, 5000);
      store.markSending(sent!.id, 6000);
      store.markSent(sent!.id, { id: 1 }, 7000);
      const [refused] = store.sealBatches(run, 2, 'call', 'clientId', ['ClientId', 'DateTime'], null, 5000);
      store.rejectBatch(refused!.id, 'refused');
      const next = store.startRun(1, 0);
      store.recordPage(next, [seenAt('a', t), seenAt('b', t), seenAt('c', t)], [skip('a', 'status'), skip('b', 'status'), skip('c', 'status', 2)]);
      expect(states()).toEqual({ '1/a/call': 'sent', '1/b/call': 'sent', '2/c/call': 'failed' });
      expect(['a', 'b', 'c'].map(skipsOf)).toEqual([null, null, null]);
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'sent', reason: '', goal: '', late: 0, waited: '', count: 2 },
        { hour: hourOf(t), counter_id: 2, kind: 'call', state: 'failed', reason: 'rejected', goal: '', late: 0, waited: '', count: 1 },
      ]);
    });

    it("a call that moves in time takes all its skips' counts with it, those of a counter not decided again too", () => {
      const run = store.startRun(1, 0);
      store.recordPage(run, [seenAt('a', t)], [skip('a', 'status'), skip('a', 'status', 2)]);
      // a run of counter 1 alone (--counter 1) sees the call two hours later
      store.recordPage(run, [seenAt('a', t + 7200)], [skip('a', 'status', 1, 'call', t + 7200)]);
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t) + 2, counter_id: 1, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 },
        { hour: hourOf(t) + 2, counter_id: 2, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 },
      ]);
      // and when its skip changes too
      store.recordPage(run, [seenAt('a', t + 3600)], [skip('a', 'site', 1, 'call', t + 3600)]);
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t) + 1, counter_id: 1, kind: 'call', state: 'skipped', reason: 'site', goal: '', late: 0, waited: '', count: 1 },
        { hour: hourOf(t) + 1, counter_id: 2, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 },
      ]);
    });

    it('a call twice on one page: its last decisions stand, counted once', () => {
      const run = store.startRun(1, 0);
      expect(store.recordPage(run, [seenAt('a', t), seenAt('b', t), seenAt('a', t)], [skip('a', 'status'), at('b', t), at('a', t)])).toBe(2);
      expect(states()).toEqual({ '1/a/call': 'pending', '1/b/call': 'pending' });
      expect(skipsOf('a')).toBeNull();
      store.recordPage(run, [seenAt('c', t), seenAt('c', t)], [at('c', t), skip('c', 'status')]);
      expect(states()).toMatchObject({ '1/c/call': 'skipped' });
      expect(rows()).toHaveLength(2);
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'pending', reason: '', goal: '', late: 0, waited: '', count: 2 },
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 },
      ]);
    });

    it('a call twice on one page skipped alike both times is counted once; skips differing only by their wait are two keys (mutation testing)', () => {
      const run = store.startRun(1, 0);
      store.recordPage(run, [seenAt('a', t), seenAt('b', t), seenAt('a', t)], [
        skip('a', 'status'),
        { ...skip('b', 'status'), waited: 'scheduled' },
        skip('a', 'status'),
      ]);
      expect(skipsOf('a')).toEqual([[1, 'call', 'status']]);
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 },
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: 'scheduled', count: 1 },
      ]);
    });

    it('a skip handed over as text keeps its wait when fetched again; a new wait with the same reason moves its count (mutation testing)', () => {
      const run = store.startRun(1, 0);
      const page = (waited: string) => store.recordPage(run, [{ ...seenAt('a', t), skips: `[[1,"call","status","${waited}"]]` }], []);
      page('scheduled');
      const text = db().prepare(`SELECT skips FROM calls WHERE id = 'a'`).pluck().get();
      page('scheduled');
      expect(db().prepare(`SELECT skips FROM calls WHERE id = 'a'`).pluck().get()).toBe(text);
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: 'scheduled', count: 1 },
      ]);
      page('in-progress');
      expect(skipsOf('a')).toEqual([[1, 'call', 'status', 'in-progress']]);
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: 'in-progress', count: 1 },
      ]);
    });

    it('a malformed row is decided again — skipped, or pending — like a waiting one (mutation testing)', () => {
      const run = store.startRun(1, 0);
      const malformed = (id: string): DeliveryRecord => ({ ...at(id, t), state: 'malformed', reason: 'datetime-before-2000', row: null });
      store.recordPage(run, [seenAt('a', t), seenAt('b', t)], [malformed('a'), malformed('b')]);
      store.recordPage(run, [seenAt('a', t), seenAt('b', t)], [skip('a', 'status'), at('b', t)]);
      expect(states()).toEqual({ '1/a/call': 'skipped', '1/b/call': 'pending' });
      expect(rows()).toEqual([{ counter_id: 1, call_id: 'b', kind: 'call', state: 'pending' }]);
      expect(expectCountsByKey()).toEqual([
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'pending', reason: '', goal: '', late: 0, waited: '', count: 1 },
        { hour: hourOf(t), counter_id: 1, kind: 'call', state: 'skipped', reason: 'status', goal: '', late: 0, waited: '', count: 1 },
      ]);
    });

    it("with the run's batching, only pending rows join its batch, and a pending row unchanged opens none (mutation testing)", () => {
      const batching = { headers: { '1/call/clientId': ['ClientId', 'DateTime'] }, now: 5000 };
      const first = store.startRun(1, 0);
      // an earlier run left 'a' pending, outside any batch
      store.recordPage(first, [seenAt('a', t)], [at('a', t)]);
      const run = store.startRun(1, 0);
      store.recordPage(run, [seenAt('a', t)], [at('a', t)], batching);
      expect(db().prepare(`SELECT COUNT(*) FROM batches`).pluck().get()).toBe(0);
      store.recordPage(run, [seenAt('b', t), seenAt('c', t)], [at('b', t), wait('c')], batching);
      expect(states()).toEqual({ '1/a/call': 'pending', '1/b/call': 'batched', '1/c/call': 'waiting' });
      expect(db().prepare(`SELECT COUNT(*) FROM batches`).pluck().get()).toBe(1);
      expectCountsByKey();
    });

    it('a decision of a call the page does not carry: kept on the known call; refused, naming it, for an unknown one', () => {
      const run = store.startRun(1, 0);
      store.recordPage(run, [seenAt('a', t)], [at('a', t)]);
      store.recordPage(run, [], [skip('a', 'status', 2)]);
      expect(skipsOf('a')).toEqual([[2, 'call', 'status']]);
      expect(() => store.recordPage(run, [], [skip('zz', 'status')])).toThrow(/skipped decision of call zz, which is neither on the page nor in the database/);
      expect(states()).toEqual({ '1/a/call': 'pending', '2/a/call': 'skipped' });
      expectCountsByKey();
    });

    it("skips handed over as the call's text (as the sync thread gives them) are recorded as the same decisions as records", () => {
      const asText = (calls: { id: string; callTime: number }[], decisions: DeliveryRecord[]) => {
        const text = (id: string) => {
          const mine = decisions.filter((d) => d.callId === id && d.state === 'skipped');
          return mine.length ? JSON.stringify(mine.map((d) => (d.waited ? [d.counterId, d.kind, d.reason, d.waited] : [d.counterId, d.kind, d.reason]))) : null;
        };
        return [calls.map((c) => ({ ...c, serviceType: 'callback', skips: text(c.id) })), decisions.filter((d) => d.state !== 'skipped')] as const;
      };
      const pages: [{ id: string; callTime: number }[], DeliveryRecord[]][] = [
        [[seenAt('a', t), seenAt('b', t)], [skip('a', 'status'), { ...skip('a', 'site', 2), waited: 'scheduled' }, at('b', t), skip('b', 'status', 2)]],
        // a known call: one skip kept, one changed, one taken back by a row, a row replaced by a skip
        [[seenAt('a', t + 60), seenAt('b', t)], [skip('a', 'status', 1, 'call', t + 60), at('a', t + 60, 'clientId', 2), skip('b', 'min-duration'), skip('b', 'uniqueness', 2)]],
      ];
      const view = (s_: Store) =>
        connectionOf(s_).prepare(`SELECT counter_id, call_id, kind, state, reason, row, call_time, waited FROM delivery_view ORDER BY 1, 2, 3`).all();
      const counted = (s_: Store) => connectionOf(s_).prepare(`SELECT * FROM delivery_counts WHERE count != 0 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`).all();
      const other = Store.open(path.join(dir, 'text.db'));
      try {
        const run = store.startRun(1, 0);
        const run2 = other.startRun(1, 0);
        for (const [calls, decisions] of pages) {
          store.recordPage(run, calls.map((c) => ({ ...c, serviceType: 'callback' })), decisions);
          other.recordPage(run2, ...asText(calls, decisions));
          expect(view(other)).toEqual(view(store));
          expect(counted(other)).toEqual(counted(store));
        }
        expect(states()).toEqual({ '1/a/call': 'skipped', '1/b/call': 'skipped', '2/a/call': 'pending', '2/b/call': 'skipped' });
        expectCountsByKey();
      } finally {
        other.close();
      }
    });

    it('a counter known only by its skips has history and is listed by stats', () => {
      const run = store.startRun(1, 0);
      store.recordPage(run, [seenAt('a', t)], [skip('a', 'status', 5)]);
      expect(rows()).toEqual([]);
      expect([5, 6].map((id) => store.hasHistory(id))).toEqual([true, false]);
      expect(countersWithData(store)).toEqual([5]);
    });

    it("migrates a schema-7 database: its skipped rows go to their calls' rows, what delivery_view and the counts say unchanged", () => {
      const file = path.join(dir, 'v7.db');
      const old = new BetterSqlite3(file);
      for (const m of MIGRATIONS.slice(0, 5)) old.exec(m);
      old.exec(`INSERT INTO runs (id, pid, started_at, outcome) VALUES (1, 1, 0, 'ok'), (2, 1, 0, 'ok');
        INSERT INTO batches (id, run_id, counter_id, kind, comment, header, rows, status, created_at, sent_at) VALUES
          (1, 1, 9, 'call', 'ckym0123456789abb1t1', '[]', 1, 'sent', ${t}, ${t + 60});
        INSERT INTO calls (id, call_time, service_type, first_seen_run, last_seen_run) VALUES
          ('a', ${t}, 'callback', 1, 2), ('b', ${t + 3600}, 'callback', 1, 1);
        INSERT INTO deliveries (counter_id, call_id, kind, state, reason, row, call_time, batch_id, decided_run) VALUES
          (9, 'a', 'call', 'batched', NULL, '["a"]', ${t}, 1, 1),
          (9, 'a', 'conversion', 'skipped', 'no-client-id', NULL, ${t}, NULL, 2),
          (8, 'a', 'call', 'skipped', 'status', NULL, ${t}, NULL, 2),
          (9, 'b', 'call', 'skipped', 'min-duration', NULL, ${t + 3600}, NULL, 1),
          (9, 'b', 'conversion', 'pending', NULL, '["b","g","x"]', ${t + 3600}, NULL, 1);`);
      // schemas 6 and 7 as a real upgrade ran them (6 counts the rows), then one skip decided out of a wait
      old.exec(MIGRATIONS[5]!);
      old.exec(MIGRATIONS[6]!);
      old.pragma('user_version = 7');
      old.exec(`UPDATE calls SET fingerprint = 'fa' WHERE id = 'a';
        UPDATE deliveries SET waited = 'in-progress' WHERE counter_id = 8;
        UPDATE delivery_counts SET waited = 'in-progress' WHERE counter_id = 8;
        UPDATE delivery_totals SET waited = 'in-progress' WHERE counter_id = 8;`);
      old.close();
      // the counts as migration 6 made them, and the view, before
      const v7 = Store.open(file, { readonly: true });
      const view = `SELECT counter_id, call_id, kind, state, reason, id_type, row, call_time, batch_id, decided_run, sent_at, waited FROM delivery_view ORDER BY 1, 2, 3`;
      const viewBefore = connectionOf(v7).prepare(view).all();
      const statsBefore = rowStats(v7, {}, []);
      v7.close();
      const migrated = Store.open(file);
      try {
        expect(connectionOf(migrated).prepare(view).all()).toEqual(viewBefore);
        expect(connectionOf(migrated).prepare(`SELECT state, COUNT(*) AS n FROM deliveries GROUP BY 1 ORDER BY 1`).all()).toEqual([
          { state: 'batched', n: 1 },
          { state: 'pending', n: 1 },
        ]);
        const skipsAt = (id: string) =>
          (JSON.parse(connectionOf(migrated).prepare(`SELECT skips FROM calls WHERE id = ?`).pluck().get(id) as string) as unknown[][]).sort((x, y) =>
            JSON.stringify(x).localeCompare(JSON.stringify(y)),
          );
        expect(skipsAt('a')).toEqual([[8, 'call', 'status', 'in-progress'], [9, 'conversion', 'no-client-id']]);
        expect(skipsAt('b')).toEqual([[9, 'call', 'min-duration']]);
        expect(countStats(migrated, {}, []).deliveries).toEqual(expect.arrayContaining(statsBefore.deliveries));
        expect(expectCountsExact(migrated, (t + 86_400) * 1000)).toBeGreaterThan(0);
        // and it goes on from there: b's skip taken back when it is decided otherwise
        const run = migrated.startRun(3, 0);
        migrated.recordPage(run, [seenAt('b', t + 3600)], [at('b', t + 3600, 'clientId', 9)]);
        expect(connectionOf(migrated).prepare(`SELECT skips FROM calls WHERE id = 'b'`).pluck().get()).toBeNull();
        expect(expectCountsExact(migrated, (t + 86_400) * 1000)).toBeGreaterThan(0);
      } finally {
        migrated.close();
      }
    });
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

describe('a new or lost database (sync --adopt)', () => {
  it('a counter has history once it has a cursor, a decision or a batch — never before', () => {
    expect([1, 2, 3].map((id) => store.hasHistory(id))).toEqual([false, false, false]);
    store.setCursors([1], 1714510800);
    const run = store.startRun(1, 0);
    store.recordPage(run, [seen('a')], [pending('a', 2)]);
    expect([1, 2, 3].map((id) => store.hasHistory(id))).toEqual([true, true, false]);
  });

  it('adopt: the points of each kind and the cursor in one write; a point never moves back; kept across opens', () => {
    store.adopt(7, { call: 1000, conversion: 900 }, 1000);
    store.adopt(7, { call: 800 }, 800);
    store.adopt(8, { call: 50 }, 50);
    expect(store.cursor(7)).toBe(1000);
    expect(store.hasHistory(7)).toBe(true);
    expect(store.adoptedFloors([7, 9])).toEqual(new Map([[7, { call: 1000, conversion: 900 }]]));
    store.close();
    store = Store.open(path.join(dir, 'ckym.db'));
    expect(store.adoptedFloors([7, 8])).toEqual(new Map([[7, { call: 1000, conversion: 900 }], [8, { call: 50 }]]));
    // the installation id (kept in the same table) is untouched
    expect(store.installationId()).toMatch(/^[0-9a-f]{12}$/);
  });

  it('adoptedFloors reads only the points of a kind it knows (mutation testing)', () => {
    store.adopt(7, { call: 1000 }, 1000);
    connectionOf(store).prepare(`INSERT INTO meta (key, value) VALUES ('adopted:7:visit', '5000'), ('adopted:8', '5000')`).run();
    expect(store.adoptedFloors([7, 8])).toEqual(new Map([[7, { call: 1000 }]]));
  });
});
