/**
 * kill -9 at random instants of a sync (seeded, so a failure can be replayed), then runs to completion:
 * Metrica must hold every selected row exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCalls, mulberry32 } from '../../src/sandbox/generate.js';
import { expectedRows, sortRows, type OracleCounter } from '../support/oracle.js';
import { makeWorld, type World } from '../support/harness.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const SEED = Number(process.env.CKYM_CRASH_SEED ?? 7);
const ITERATIONS = Number(process.env.CKYM_CRASH_ITERATIONS ?? 12);
const CALLS = generateCalls({ count: 2500, seed: 99, nowUnix: NOW_UNIX, days: 8 });

const base = {
  minDuration: 0,
  status: 'all' as const,
  uniqueness: 'all' as const,
  tags: { source: 'call' as const, include: [], callback: '', incoming: '' },
  callGoalName: '',
  price: null,
  currency: 'RUB',
};
const counters: OracleCounter[] = [
  { ...base, id: 11, name: 'all', callType: 'all', goal: 'calltracking_call_order', sites: [] },
  { ...base, id: 22, name: 'callbacks', callType: 'callback', goal: 'call', sites: ['shop.example'] },
  { ...base, id: 33, name: 'incoming', callType: 'incoming', goal: '', sites: ['blog.example'], minDuration: 20 },
];

let world: World;
beforeAll(async () => {
  world = await makeWorld({
    calls: CALLS,
    nowIso: NOW,
    counters: counters.map((c) => ({
      id: c.id,
      name: String(c.name),
      site: 'shop.example',
      goals: c.goal ? [{ id: c.id * 10, name: c.goal, type: 'action', conditions: [{ type: 'exact', url: c.goal }] }] : [],
    })),
    config: {
      sync: { initialDays: 7, lookbackHours: 24, settleMinutes: 10, confirmGraceMinutes: 0 },
      network: { retries: 3, backoffSeconds: 0.01, timeoutSeconds: 5 },
      counters,
    },
  });
});
afterAll(() => world.close());

describe(`kill -9 at random instants (seed ${SEED}, ${ITERATIONS} crashes)`, () => {
  it('every selected row reaches Metrica exactly once', async () => {
    const random = mulberry32(SEED);
    let killedMidRun = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      // slow the services down so a crash can land in any phase: fetching, deciding, uploading, recording
      world.callkeeper.inject({ type: 'delay', ms: Math.floor(random() * 80), times: 3 });
      world.metrika.inject({ on: 'upload', delayMs: Math.floor(random() * 300), times: 2 });
      if (random() < 0.3) world.metrika.inject({ on: 'upload', resetAfterAccept: true, times: 1 });
      const { child, done } = world.start(['sync', '--quiet']);
      const after = Math.floor(random() * 900);
      const timer = setTimeout(() => child.kill('SIGKILL'), after);
      const result = await done;
      clearTimeout(timer);
      if (result.signal === 'SIGKILL') killedMidRun++;
      else expect([0, 4, 5]).toContain(result.code);
    }
    // then let it finish
    let final = await world.run(['sync']);
    if (final.code !== 0) final = await world.run(['sync']);
    expect(final.code).toBe(0);

    const expected = expectedRows(CALLS, counters, {
      nowUnix: NOW_UNIX,
      timeZone: 'Europe/Moscow',
      settleMinutes: 10,
      fromUnix: NOW_UNIX - 7 * 86_400,
      toUnix: NOW_UNIX,
    });
    let rows = 0;
    for (const c of counters) {
      const want = expected.get(c.id)!;
      expect(sortRows(world.metrika.rows(c.id, 'calls'))).toEqual(sortRows(want.calls));
      expect(sortRows(world.metrika.rows(c.id, 'conversions'))).toEqual(sortRows(want.conversions));
      rows += want.calls.length + want.conversions.length;
    }
    expect(killedMidRun).toBeGreaterThan(ITERATIONS / 3);
    console.info(`crash test: seed ${SEED}, ${killedMidRun}/${ITERATIONS} runs killed mid-way, ${rows} rows checked, 0 duplicates, 0 lost`);
  }, 180_000);
});
