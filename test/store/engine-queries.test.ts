/**
 * What the engine asks of the store beyond the exactly-once transitions: a dry run's private copy, the calls of a
 * batch too old to link, and the rows of a batch a crash left prepared.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, type DeliveryRecord } from '../../src/store/store.js';
import { pendingCall } from '../support/deliveries.js';

const DAY = 86_400;
const NOW = 1_716_195_600;
let dir: string;
let file: string;
let store: Store;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-store-engine-'));
  file = path.join(dir, 'ckym.db');
  store = Store.open(file);
});
afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const pending = pendingCall;
const seen = (id: string, callTime: number) => ({ id, callTime, serviceType: 'calltracking' });
const header = ['ClientId', 'DateTime'];

describe('Store.openCopy: a dry run\'s private copy', () => {
  it('holds what the database holds; what is written to it stays in it; closing it removes it', async () => {
    const run = store.startRun(1, NOW * 1000);
    store.recordPage(run, [seen('a', NOW - 100)], [pending('a', NOW - 100)]);
    store.finishRun(run, { pages: 1, fetched: 1, sentCalls: 0, sentConversions: 0, skipped: 0, waiting: 0, outcome: 'ok', exitCode: 0, error: null, finishedAt: NOW * 1000 });

    const copy = await Store.openCopy(file);
    expect(copy.file).not.toBe(file);
    expect(copy.pendingCount(1, 'call')).toBe(1);
    const batch = copy.sealBatches(copy.startRun(2, NOW * 1000), 1, 'call', 'clientId', header, null, NOW * 1000)[0]!;
    copy.markSent(batch.id, { id: 9 }, NOW * 1000);
    expect(copy.pendingCount(1, 'call')).toBe(0);
    const copyDir = path.dirname(copy.file);
    copy.close();
    expect(fs.existsSync(copyDir)).toBe(false);

    expect(store.pendingCount(1, 'call')).toBe(1);
    expect(store.recentRuns(10)).toHaveLength(1);
  });

  it('a database that does not exist yet: an empty new one, and none created where it was looked for', async () => {
    const missing = path.join(dir, 'nothing-here', 'ckym.db');
    const copy = await Store.openCopy(missing);
    expect(copy.recentRuns(1)).toEqual([]);
    copy.close();
    expect(fs.existsSync(path.dirname(missing))).toBe(false);
  });
});

describe('batchCallsBefore: the calls of a batch made before a moment', () => {
  it('counts only that batch\'s calls older than the cutoff', () => {
    const run = store.startRun(1, NOW * 1000);
    store.recordPage(
      run,
      ['old', 'edge', 'new', 'other'].map((id) => seen(id, NOW)),
      [pending('old', NOW - 30 * DAY), pending('edge', NOW - 21 * DAY), pending('new', NOW - DAY), pending('other', NOW - 40 * DAY, 2)],
    );
    const batch = store.sealBatches(run, 1, 'call', 'clientId', header, null, NOW * 1000)[0]!;
    expect(store.batchCallsBefore(batch.id, NOW - 21 * DAY)).toBe(1);
    expect(store.batchCallsBefore(batch.id, NOW - 21 * DAY + 1)).toBe(2);
    expect(store.batchCallsBefore(batch.id, NOW)).toBe(3);
  });
});

describe('unfinishedBatches: a batch left prepared by a crash', () => {
  it('tells its rows (an open batch is sealed with its count only when delivered)', () => {
    const run = store.startRun(1, NOW * 1000);
    store.recordPage(run, ['a', 'b', 'c'].map((id) => seen(id, NOW - 100)), ['a', 'b', 'c'].map((id) => pending(id, NOW - 100)), {
      headers: { '1/call/clientId': header },
      now: NOW * 1000,
    });
    const [open] = store.unfinishedBatches([1]);
    expect(open).toMatchObject({ status: 'prepared', rows: 3 });
    expect(store.batch(open!.id)!.rows).toBe(0); // as recorded: the count is told, not written
  });
});
