import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store, connectionOf, pageDecision, type Batching, type DeliveryRecord, type SeenCall } from '../../src/store/store.js';
import { PageWriter, defaultWorkerFile, packPage, unpackPage } from '../../src/store/page-writer.js';

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

/**
 * A page with every field a decision or call carries: two counters, calls and conversions (goals), ClientId and Yclid
 * rows, waits and waited-out decisions, malformed ones, fingerprints, skips as text and as records.
 */
function fullPage(n: number, size = 30): { calls: SeenCall[]; deliveries: DeliveryRecord[] } {
  const calls: SeenCall[] = [];
  const deliveries: DeliveryRecord[] = [];
  for (let i = 0; i < size; i++) {
    const id = `f${n}-${String(i).padStart(3, '0')}`;
    const callTime = 1714510800 + n * 7200 + i * 500;
    calls.push({
      id,
      callTime,
      serviceType: i % 2 ? 'callback' : 'incoming',
      ...(i % 4 === 0 ? {} : { fingerprint: i % 4 === 1 ? null : `fp${i}` }),
      ...(i % 5 === 0 ? { skips: `[[2,"call","status"],[2,"conversion","status","in-progress"]]` } : {}),
    });
    const waited = i % 7 === 0 ? 'scheduled' : null;
    const yclid = i % 3 === 0;
    deliveries.push(
      { counterId: 1, callId: id, kind: 'call', state: 'pending', reason: null, row: [id, String(callTime)], idType: yclid ? 'yclid' : 'clientId', callTime, waited },
      i % 6 === 0
        ? { counterId: 1, callId: id, kind: 'conversion', state: 'malformed', reason: 'client-id-malformed', row: null, callTime }
        : i % 6 === 1
          ? { counterId: 1, callId: id, kind: 'conversion', state: 'waiting', reason: 'in-progress', row: null, callTime }
          : { counterId: 1, callId: id, kind: 'conversion', state: 'pending', reason: null, row: [id, `goal-${i % 3}`, String(callTime)], callTime, ...(waited ? { waited } : {}) },
    );
    if (i % 5 !== 0) deliveries.push({ counterId: 2, callId: id, kind: 'call', state: 'skipped', reason: 'min-duration', row: null, callTime, waited: i % 2 ? null : 'settling' });
  }
  return { calls, deliveries };
}

const BATCHING: Batching = {
  headers: {
    '1/call/clientId': ['ClientId', 'DateTime'],
    '1/call/yclid': ['Yclid', 'DateTime'],
    '1/conversion/clientId': ['ClientId', 'Target', 'DateTime'],
  },
  now: 1714600000000,
};

/** Every table a page write changes, in a stable order. */
function tables(store: Store): Record<string, unknown[]> {
  const db = connectionOf(store);
  return {
    calls: db.prepare(`SELECT * FROM calls ORDER BY id`).all(),
    deliveries: db.prepare(`SELECT * FROM deliveries ORDER BY counter_id, kind, call_id`).all(),
    counts: db.prepare(`SELECT * FROM delivery_counts WHERE count != 0 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`).all(),
    totals: db.prepare(`SELECT * FROM delivery_totals WHERE count != 0 ORDER BY 1, 2, 3, 4, 5, 6, 7`).all(),
    batches: db.prepare(`SELECT id, run_id, counter_id, kind, id_type, segment, rows, status FROM batches ORDER BY id`).all(),
    batchCounts: db.prepare(`SELECT * FROM batch_counts WHERE count != 0 ORDER BY 1, 2, 3, 4`).all(),
  };
}

describe('the page handed to the worker', () => {
  it('carries every field of every call and decision: unpacked, it is the page as the store would take it inline', () => {
    const p = fullPage(0);
    const unpacked = unpackPage(structuredClone(packPage(p.calls, p.deliveries)));
    expect(unpacked.decisions).toEqual(p.deliveries.map((d) => ({ ...pageDecision(d), idType: d.idType, waited: d.waited ?? null })));
    expect(unpacked.decisions.map((d) => d.goal)).toContain('goal-2');
    expect(unpacked.decisions.filter((d) => d.row !== null).every((d) => typeof d.row === 'string')).toBe(true);
    expect(unpacked.calls).toEqual(p.calls.map((c) => ({ ...c, fingerprint: c.fingerprint ?? null, skips: c.skips ?? null })));
  });

  it('is recorded by the worker exactly as inline: calls, deliveries, batches and every count', async () => {
    expect(fs.existsSync(WORKER)).toBe(true);
    const results: Record<string, unknown[]>[] = [];
    for (const [name, workerFile] of [['w.db', WORKER], ['i.db', null]] as const) {
      const store = Store.open(path.join(dir, name));
      try {
        const writer = new PageWriter(store, store.startRun(1, 0), BATCHING, workerFile);
        for (let n = 0; n < 5; n++) {
          const p = fullPage(n);
          await writer.write(p.calls, p.deliveries, n < 4);
        }
        expect(await writer.finish()).toBe(150);
        // the same pages again: nothing new, the pending rows already batched
        const again = new PageWriter(store, store.startRun(1, 1), BATCHING, workerFile);
        for (let n = 0; n < 4; n++) {
          const p = fullPage(n);
          await again.write(p.calls, p.deliveries, n < 3);
        }
        expect(await again.finish()).toBe(0);
        results.push(tables(store));
      } finally {
        store.close();
      }
    }
    const [viaWorker, inline] = results;
    expect(viaWorker!.deliveries).toHaveLength(5 * 30 * 2);
    expect(viaWorker!.counts!.length).toBeGreaterThan(20);
    expect(viaWorker!.batchCounts!.length).toBeGreaterThan(10);
    expect(viaWorker).toEqual(inline);
  });
});

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
