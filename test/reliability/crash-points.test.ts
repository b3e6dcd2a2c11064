/**
 * kill -9 at each step of a sync, reached deterministically: a fault proxy blocks ckym at the exact request
 * that follows the step, the test checks the database shows the step was reached, then SIGKILL. A re-run must
 * leave Metrica with every selected row exactly once (the oracle decides which rows).
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import type { OracleCounter } from '../support/oracle.js';
import {
  FAST,
  checkExactlyOnce,
  counter,
  killAt,
  makeReliabilityWorld,
  seedsFor,
  uploadsTried,
  type ReliabilityWorld,
} from '../support/reliability.js';
import { scanSummary } from '../support/secrets.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const DAY = 86_400;
/** Three pages (1000, 1000, 600), all inside the 7-day first window. */
const PAGED = generateCalls({ count: 2600, seed: 4242, nowUnix: NOW_UNIX, days: 6 });
/** Exactly three full pages: the third is the first the writer thread records; paging ends on a fourth request. */
const THREE_FULL_PAGES = generateCalls({ count: 3000, seed: 4245, nowUnix: NOW_UNIX, days: 6 });
/** Batches something was sent with, or tried to be: none before the last page is recorded. */
const ATTEMPTED_BATCHES = `SELECT COUNT(*) FROM batches WHERE status <> 'prepared' OR attempts > 0`;
/** One page: enough for the upload steps. */
const SMALL = generateCalls({ count: 400, seed: 4244, nowUnix: NOW_UNIX, days: 6 });

const counters: OracleCounter[] = [
  counter(11, { name: 'all calls, goal', goal: 'call' }),
  counter(22, { name: 'incoming', callType: 'incoming', minDuration: 20 }),
  counter(33, { name: 'callbacks, shop, price', callType: 'callback', goal: 'calltracking_call_order', sites: ['shop.example'], price: 990 }),
];
const config = { ...FAST, network: { ...FAST.network, timeoutSeconds: 5 }, counters };
const oracle = { nowUnix: NOW_UNIX, timeZone: 'Europe/Moscow', settleMinutes: 10, fromUnix: NOW_UNIX - 7 * DAY, toUnix: NOW_UNIX };

const tally = { crashPoints: 0, kills: 0, rows: 0, duplicates: 0, missing: 0 };

/** One crash scenario: its own emulators, proxies and CKYM_HOME, so scenarios run side by side. */
interface Scenario {
  world: ReliabilityWorld;
  /** Kills ckym -9 once `reached` holds. */
  kill(reached: () => boolean): Promise<void>;
  /** Runs ckym to completion and checks every selected row is in Metrica exactly once; returns its stderr. */
  recover(): Promise<string>;
  /** The single value `sql` selects. */
  count(sql: string): number;
}

async function scenario(calls: Record<string, unknown>[], extra: Record<string, unknown>, body: (s: Scenario) => Promise<void>): Promise<void> {
  const world = await makeReliabilityWorld({ calls, counters: seedsFor(counters), config: { ...config, ...extra }, nowIso: NOW });
  const s: Scenario = {
    world,
    async kill(reached) {
      await killAt(world, reached);
      tally.kills++;
    },
    async recover() {
      const r = await world.run(['sync']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const f = checkExactlyOnce(world, calls, counters, oracle);
      tally.crashPoints++;
      tally.rows += f.rows;
      tally.duplicates += f.duplicates;
      tally.missing += f.missing;
      // the killed run is on record as interrupted, and nothing is left half-done
      expect(world.query<{ outcome: string; error: string | null }>(`SELECT outcome, error FROM runs ORDER BY id LIMIT 1`)[0]).toMatchObject({
        outcome: 'failed',
        error: expect.stringMatching(/interrupted/),
      });
      expect(world.query(`SELECT id FROM batches WHERE status IN ('prepared', 'sending')`)).toEqual([]);
      expect(world.query(`SELECT call_id FROM delivery_view WHERE state IN ('pending', 'batched')`)).toEqual([]);
      return r.stderr;
    },
    count: (sql) => Object.values(world.query(sql)[0] ?? { n: 0 })[0] as number,
  };
  try {
    await body(s);
  } finally {
    await world.close();
  }
}

afterAll(() => {
  console.info(
    `reliability: crash points — ${tally.crashPoints} deterministic crash points survived (${tally.kills} kill -9), ` +
      `${tally.rows} rows checked, ${tally.duplicates} duplicates, ${tally.missing} lost · ${scanSummary()}`,
  );
});

// Each scenario has its own world: they run side by side (the time goes into spawned processes).
describe.concurrent('kill -9 at each step of a sync, then a re-run: every row exactly once', { timeout: 90_000 }, () => {
  it('after fetching page 0, before page 1', () =>
    scenario(PAGED, {}, async ({ world, kill, recover, count }) => {
      world.ck.rule({ match: (r) => r.info.page === 1, action: { type: 'hold' } });
      await kill(() => world.ck.held().length > 0);
      expect(count(`SELECT COUNT(*) FROM calls`)).toBe(1000); // page 0 was recorded with its decisions
      // its pending rows went into the run's open batch, which nothing was sent with
      expect(count(`SELECT COUNT(*) FROM deliveries WHERE state = 'batched'`)).toBeGreaterThan(0);
      expect(count(ATTEMPTED_BATCHES)).toBe(0);
      expect(count(`SELECT COUNT(*) FROM cursors`)).toBe(0); // the cursor moves only after the last page
      expect(world.metrika.uploads).toEqual([]);
      await recover();
    }));

  it('while the database writer thread still holds the last page', () =>
    scenario(THREE_FULL_PAGES, {}, async ({ world, kill, recover, count }) => {
      // Page 2 goes to the writer thread and page 3 is asked for at once: killed there, page 2 may or may not
      // be recorded. Either way nothing was sent, and the re-run decides it again.
      world.ck.rule({ match: (r) => r.info.page === 3, action: { type: 'hold' } });
      await kill(() => world.ck.held().length > 0);
      expect([2000, 3000]).toContain(count(`SELECT COUNT(*) FROM calls`));
      expect(count(ATTEMPTED_BATCHES)).toBe(0);
      expect(count(`SELECT COUNT(*) FROM cursors`)).toBe(0);
      expect(world.metrika.uploads).toEqual([]);
      await recover();
    }));

  it('after deciding every page, before anything is batched', () =>
    scenario(THREE_FULL_PAGES, {}, async ({ world, kill, recover, count }) => {
      world.ck.rule({ match: (r) => r.info.page === 3, action: { type: 'hold' } }); // the request that ends paging
      // …and once the writer thread has recorded page 2 (it does while the request is held).
      await kill(() => world.ck.held().length > 0 && count(`SELECT COUNT(*) FROM calls`) === 3000);
      expect(count(`SELECT COUNT(*) FROM calls`)).toBe(3000);
      expect(count(`SELECT COUNT(*) FROM deliveries WHERE state = 'batched'`)).toBeGreaterThan(1500);
      expect(count(ATTEMPTED_BATCHES)).toBe(0);
      expect(world.metrika.uploads).toEqual([]);
      await recover();
    }));

  it('after a batch is prepared, before its upload left (the crash between the two transactions)', () =>
    scenario(SMALL, {}, async ({ world, kill, recover, count }) => {
      world.mk.rule({ match: (r) => Boolean(r.info.upload), action: { type: 'hold' } });
      await kill(() => world.mk.held().length > 0);
      const [batch] = world.query<{ id: number; status: string; rows: number }>(`SELECT id, status, rows FROM batches`);
      expect(batch).toMatchObject({ id: 1, status: 'sending' });
      expect(count(`SELECT COUNT(*) FROM deliveries WHERE batch_id = 1 AND state = 'batched'`)).toBe(batch!.rows);
      // What a kill a moment earlier leaves: sealBatches committed, markSending not.
      const db = new Database(world.database);
      db.prepare(`UPDATE batches SET status = 'prepared', attempts = 0, attempt_at = NULL WHERE id = 1`).run();
      db.close();
      expect(world.metrika.uploads).toEqual([]);
      const stderr = await recover();
      expect(stderr).toMatch(/batch 1 \(counter 11\) was interrupted before Metrica got it: its \d+ rows go out again/);
    }));

  it('while the upload is in flight and Metrica has not taken it: the re-run asks Metrica before sending again', () =>
    scenario(SMALL, {}, async ({ world, kill, recover, count }) => {
      world.mk.rule({ match: (r) => Boolean(r.info.upload), action: { type: 'hold' } });
      await kill(() => world.mk.held().length > 0);
      expect(world.metrika.uploads).toEqual([]);
      const from = world.mk.requests.length;
      await recover();
      const first = world.mk.requests.slice(from).find((r) => r.info.counterId === 11)!;
      expect(first.info.list).toBe(true); // looked up in the uploadings list first
    }));

  it('after Metrica accepted the conversions upload, before ckym recorded it', () =>
    scenario(SMALL, {}, async ({ world, kill, recover, count }) => {
      world.mk.rule({
        match: (r) => Boolean(r.info.upload) && r.info.kind === 'conversions' && r.info.counterId === 11,
        action: { type: 'hold-response' },
      });
      await kill(() => world.mk.requests.some((r) => r.info.upload && r.upstreamStatus === 200 && r.info.kind === 'conversions'));
      expect(world.metrika.uploads.filter((u) => u.counterId === 11).map((u) => u.kind)).toEqual(['calls', 'conversions']);
      expect(world.query(`SELECT kind, status FROM batches WHERE counter_id = 11 ORDER BY id`)).toEqual([
        { kind: 'call', status: 'sent' },
        { kind: 'conversion', status: 'sending' },
      ]);
      const stderr = await recover();
      expect(stderr).toMatch(/batch 2 \(counter 11\) was interrupted but Metrica has it: recorded as sent/);
      expect(world.metrika.uploads.filter((u) => u.counterId === 11 && u.kind === 'conversions')).toHaveLength(1);
    }));

  it('mid-way through several counters: the first delivered, the second in flight', () =>
    scenario(SMALL, {}, async ({ world, kill, recover, count }) => {
      world.mk.rule({ match: (r) => Boolean(r.info.upload) && r.info.counterId === 22, action: { type: 'hold' } });
      await kill(() => world.mk.held().length > 0);
      expect(world.query(`SELECT counter_id, kind, status FROM batches ORDER BY id`)).toEqual([
        { counter_id: 11, kind: 'call', status: 'sent' },
        { counter_id: 11, kind: 'conversion', status: 'sent' },
        { counter_id: 22, kind: 'call', status: 'sending' },
        // filled while the pages were recorded, never attempted: the re-run voids them and batches their rows again
        { counter_id: 33, kind: 'call', status: 'prepared' },
        { counter_id: 33, kind: 'conversion', status: 'prepared' },
      ]);
      const tried11 = uploadsTried(world, 11);
      await recover();
      expect(uploadsTried(world, 11)).toBe(tried11); // the delivered counter is not sent again
      expect(world.metrika.uploads.filter((u) => u.counterId === 22)).toHaveLength(1);
    }));

  it('during the recovery itself: killed again while asking Metrica about the interrupted batch', () =>
    scenario(SMALL, {}, async ({ world, kill, recover, count }) => {
      world.mk.rule({ match: (r) => Boolean(r.info.upload), action: { type: 'hold-response' } });
      await kill(() => world.mk.requests.some((r) => Boolean(r.info.upload) && r.upstreamStatus === 200));
      // (the lists a first run reads before anything, for counters its database knows nothing of, go through)
      world.mk.rule({ match: (r) => Boolean(r.info.list) && world.mk.requests.some((x) => x.info.upload), action: { type: 'hold' } });
      await kill(() => world.mk.held().some((r) => r.info.list));
      expect(world.query(`SELECT status FROM batches WHERE id = 1`)).toEqual([{ status: 'sending' }]);
      await recover();
      expect(world.metrika.uploads.filter((u) => u.counterId === 11 && u.kind === 'calls')).toHaveLength(1);
    }));

  it('while waiting to retry after a 503', () =>
    scenario(SMALL, { network: { ...config.network, backoffSeconds: 60 } }, async ({ world, kill, recover, count }) => {
      world.mk.rule({
        match: (r) => Boolean(r.info.upload),
        action: { type: 'respond', status: 503, body: '{"errors":[{"error_type":"backend_error","message":"busy"}],"code":503}' },
      });
      await kill(() => world.query<{ error: string | null }>(`SELECT error FROM batches WHERE id = 1`)[0]?.error != null);
      world.writeConfig(config);
      await recover();
    }));

  it('while looking up an upload whose answer was lost (connection reset after Metrica took it)', () =>
    scenario(SMALL, {}, async ({ world, kill, recover, count }) => {
      world.mk.rule({ match: (r) => Boolean(r.info.upload), action: { type: 'reset-after' } });
      // (the lists a first run reads before anything, for counters its database knows nothing of, go through)
      world.mk.rule({ match: (r) => Boolean(r.info.list) && world.mk.requests.some((x) => x.info.upload), action: { type: 'hold' } });
      await kill(() => world.mk.held().some((r) => r.info.list));
      expect(world.metrika.uploads).toHaveLength(1);
      await recover();
      expect(world.metrika.uploads.filter((u) => u.counterId === 11 && u.kind === 'calls')).toHaveLength(1);
    }));
});
