import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, connectionOf, type DeliveryRecord, type SeenCall } from '../../src/store/store.js';
import { PageWriter, defaultWorkerFile } from '../../src/store/page-writer.js';

// The worker runs compiled JavaScript: tsc's output, built by `npm test` before vitest runs.
const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/store/page-writer-worker.js');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-pages-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function page(n: number, size = 50, kind: string = 'call'): { calls: SeenCall[]; deliveries: DeliveryRecord[] } {
  const calls: SeenCall[] = [];
  const deliveries: DeliveryRecord[] = [];
  for (let i = 0; i < size; i++) {
    const id = `p${n}-${String(i).padStart(3, '0')}`;
    calls.push({ id, callTime: 1714510800 + i, serviceType: 'callback' });
    deliveries.push({
      counterId: 1,
      callId: id,
      kind: kind as DeliveryRecord['kind'],
      state: i % 3 ? 'skipped' : 'pending',
      reason: i % 3 ? 'status' : null,
      row: i % 3 ? null : [id, String(1714510800 + i)],
      callTime: 1714510800 + i,
    });
  }
  return { calls, deliveries };
}

function dump(store: Store): unknown[] {
  return connectionOf(store).prepare(`SELECT counter_id, call_id, kind, state, reason, row, call_time, decided_run FROM delivery_view ORDER BY call_id, counter_id, kind`).all();
}

async function writeAll(file: string, workerFile: string | null, pages: number): Promise<{ fresh: number; rows: unknown[] }> {
  const store = Store.open(file);
  try {
    const run = store.startRun(1, 0);
    const writer = new PageWriter(store, run, undefined, workerFile);
    for (let n = 0; n < pages; n++) {
      const p = page(n);
      await writer.write(p.calls, p.deliveries, n < pages - 1);
    }
    const fresh = await writer.finish();
    return { fresh, rows: dump(store) };
  } finally {
    store.close();
  }
}

describe('PageWriter', () => {
  it('records through the worker thread exactly what it records inline', async () => {
    expect(fs.existsSync(WORKER)).toBe(true);
    const viaWorker = await writeAll(path.join(dir, 'a.db'), WORKER, 7);
    const inline = await writeAll(path.join(dir, 'b.db'), null, 7);
    expect(viaWorker.fresh).toBe(350);
    expect(inline.fresh).toBe(350);
    expect(viaWorker.rows).toHaveLength(350);
    expect(viaWorker.rows).toEqual(inline.rows);
  });

  it('counts only calls new to the database when pages come again', async () => {
    const file = path.join(dir, 'c.db');
    await writeAll(file, WORKER, 3);
    const again = await writeAll(file, WORKER, 4);
    expect(again.fresh).toBe(50);
  });

  it("a failure in the worker stops the run with SQLite's error; the pages before it stay recorded", async () => {
    const store = Store.open(path.join(dir, 'd.db'));
    try {
      const run = store.startRun(1, 0);
      const writer = new PageWriter(store, run, undefined, WORKER);
      for (const n of [0, 1, 2]) {
        const p = page(n); // 0 and 1 inline (the thread starts after 1), 2 through the thread
        await writer.write(p.calls, p.deliveries, true);
      }
      const bad = page(3, 50, 'neither'); // violates the kind CHECK
      await writer.write(bad.calls, bad.deliveries, false);
      await expect(writer.finish()).rejects.toThrow(/CHECK constraint failed/);
      await writer.close(); // again: harmless
      const ids = (dump(store) as { call_id: string }[]).map((r) => r.call_id.split('-')[0]);
      expect(new Set(ids)).toEqual(new Set(['p0', 'p1', 'p2']));
      expect(connectionOf(store).prepare(`SELECT COUNT(*) AS n FROM calls`).get()).toEqual({ n: 150 }); // page 3's transaction rolled back whole
    } finally {
      store.close();
    }
  });

  it('starts no thread for a run of one or two pages', async () => {
    const store = Store.open(path.join(dir, 'e.db'));
    try {
      const writer = new PageWriter(store, store.startRun(1, 0), undefined, WORKER);
      const p0 = page(0);
      const p1 = page(1);
      await writer.write(p0.calls, p0.deliveries, true);
      await writer.write(p1.calls, p1.deliveries, false);
      expect((writer as unknown as { worker: unknown }).worker).toBeNull();
      expect(await writer.finish()).toBe(100);
    } finally {
      store.close();
    }
  });

  it('runs inline when there is no compiled worker beside it (the sources under test)', () => {
    expect(defaultWorkerFile()).toBeNull();
  });
});
