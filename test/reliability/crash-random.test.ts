/**
 * Seeded random crash points: each iteration picks a step (a CallKeeper page, the k-th upload before or after
 * Metrica took it, an uploadings lookup) and kills ckym -9 exactly there, with random faults on the side
 * (503, 429, 504 after Metrica accepted, connection resets) while the call history moves on: time advances,
 * new calls arrive, unfinished callbacks finish. At the end Metrica must hold every selected row exactly once.
 *
 * Replay a failure with CKYM_RELIABILITY_SEED=<seed>; go longer with CKYM_RELIABILITY_ITERATIONS=<n>.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCalls, mulberry32 } from '../../src/sandbox/generate.js';
import type { OracleCounter } from '../support/oracle.js';
import type { ProxiedRequest, ProxyRule } from '../support/proxy.js';
import { FAST, checkExactlyOnce, counter, makeReliabilityWorld, seedsFor, type ReliabilityWorld } from '../support/reliability.js';
import { scanSummary } from '../support/secrets.js';
import { until } from '../support/harness.js';

const SEED = Number(process.env.CKYM_RELIABILITY_SEED ?? 20240520);
const ITERATIONS = Number(process.env.CKYM_RELIABILITY_ITERATIONS ?? 14);
const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const STEP_S = 180; // each run is three minutes after the previous one
const DAY = 86_400;

const counters: OracleCounter[] = [
  counter(11, { name: 'all, goal', goal: 'call' }),
  counter(22, { name: 'incoming, unique', callType: 'incoming', uniqueness: 'unique' }),
  counter(33, { name: 'callbacks, shop', callType: 'callback', goal: 'calltracking_call_order', sites: ['shop.example'] }),
];

/** "Y-m-d H:i:s" in Moscow (UTC+3 all year). */
const moscow = (unix: number): string => new Date((unix + 3 * 3600) * 1000).toISOString().replace('T', ' ').slice(0, 19);

let world: ReliabilityWorld;
/** The emulators' clock follows the runs' CKYM_NOW (Metrica refuses DateTime values in its future). */
let clockMs = NOW_UNIX * 1000;
const calls = generateCalls({ count: 2200, seed: SEED, nowUnix: NOW_UNIX, days: 6 }); // three pages at first
beforeAll(async () => {
  world = await makeReliabilityWorld({
    calls,
    counters: seedsFor(counters),
    nowIso: NOW,
    now: () => clockMs,
    config: { ...FAST, network: { ...FAST.network, retries: 1, timeoutSeconds: 5 }, counters },
  });
});
let summary = '';
afterAll(async () => {
  await world.close(); // checks the secrets too
  if (summary) console.info(`${summary} · ${scanSummary()}`);
});

type Step = { what: string; rule: ProxyRule; on: 'ck' | 'mk'; reached: (r: ProxiedRequest) => boolean };

describe(`kill -9 at seeded random steps (seed ${SEED}, ${ITERATIONS} runs) while the calls change`, () => {
  it('every selected row reaches Metrica exactly once', async () => {
    const random = mulberry32(SEED);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    let now = NOW_UNIX;
    let killed = 0;
    const stepsHit = new Set<string>();
    let extra = 0;
    const trail: string[] = [];

    for (let i = 0; i < ITERATIONS; i++) {
      now += STEP_S;
      clockMs = now * 1000;
      // the history moves on: a few new calls, some unfinished callbacks finish
      for (let n = 2 + Math.floor(random() * 4); n > 0; n--) {
        const at = now - 900 - Math.floor(random() * 3600); // already settled: every run has something to upload
        calls.push({
          universalId: `late-${i}-${n}`,
          serviceType: random() < 0.5 ? 'callback' : 'calltracking',
          clientNumber: `7999${String(1_000_000 + i * 10 + n)}`,
          status: random() < 0.7 ? 'success' : 'fail',
          statusFirst: 200,
          statusSecond: 200,
          callTime: moscow(at),
          duration: Math.floor(random() * 300),
          site: 'shop.example',
          unique: random() < 0.5,
          yaClid: random() < 0.7 ? `17${i}${n}0000000${n}` : '',
          tags: [],
        });
      }
      for (const c of calls) {
        if (c.serviceType === 'callback' && Number(c.statusSecond) === 0 && [1, 2].includes(Number(c.statusFirst)) && random() < 0.3) {
          Object.assign(c, { statusFirst: 200, statusSecond: 200, status: 'success', duration: 40 + Math.floor(random() * 100) });
        }
      }
      world.callkeeper.setCalls(calls);

      // side faults
      world.ck.clearRules();
      world.mk.clearRules();
      const r = random();
      if (r < 0.15) world.mk.rule({ match: (q) => Boolean(q.info.upload), action: { type: 'respond', status: 503, body: '{"errors":[{"error_type":"backend_error","message":"busy"}]}' } });
      else if (r < 0.3) world.mk.rule({ match: (q) => Boolean(q.info.upload), action: { type: 'respond', status: 429, body: '{}', headers: { 'retry-after': '0' } } });
      else if (r < 0.45) world.mk.rule({ match: (q) => Boolean(q.info.upload), action: { type: 'replace', status: 504, body: '{}' } });
      else if (r < 0.55) world.mk.rule({ match: (q) => Boolean(q.info.upload), action: { type: 'reset-after' } });
      else if (r < 0.65) world.ck.rule({ match: () => true, action: { type: 'reset' } });

      // the crash point
      const start = { ck: world.ck.requests.length, mk: world.mk.requests.length };
      const nth = (q: ProxiedRequest, k: number, test: (x: ProxiedRequest) => boolean) =>
        test(q) && world.mk.requests.slice(start.mk).filter(test).indexOf(q) === k;
      const k = Math.floor(random() * 2);
      const page = random() < 0.75 ? 0 : 1;
      const steps: Step[] = [
        { what: 'before a CallKeeper page', on: 'ck', rule: { match: (q) => q.info.page === page, action: { type: 'hold' } }, reached: (q) => q.state === 'held' },
        { what: 'upload in flight', on: 'mk', rule: { match: (q) => nth(q, k, (x) => Boolean(x.info.upload)), action: { type: 'hold' } }, reached: (q) => q.state === 'held' },
        { what: 'upload accepted, not recorded', on: 'mk', rule: { match: (q) => nth(q, k, (x) => Boolean(x.info.upload)), action: { type: 'hold-response' } }, reached: (q) => q.upstreamStatus !== null },
        { what: 'uploadings lookup', on: 'mk', rule: { match: (q) => nth(q, k % 2, (x) => Boolean(x.info.list)), action: { type: 'hold' } }, reached: (q) => q.state === 'held' },
        { what: 'none (the run completes)', on: 'mk', rule: { match: () => false, action: { type: 'hold' } }, reached: () => false },
      ];
      const step = random() < 0.1 ? steps[4]! : pick(steps.slice(0, 4));
      (step.on === 'ck' ? world.ck : world.mk).rule(step.rule);

      const { child, done } = world.start(['sync', '--quiet'], { CKYM_NOW: new Date(now * 1000).toISOString() });
      let exited = false;
      void done.then(() => (exited = true));
      const proxy = step.on === 'ck' ? world.ck : world.mk;
      await until(() => exited || proxy.requests.slice(step.on === 'ck' ? start.ck : start.mk).some(step.reached), 20_000);
      if (!exited) {
        child.kill('SIGKILL');
        killed++;
        stepsHit.add(step.what);
      }
      trail.push(`${step.what}${exited ? '' : ' ✝'}`);
      const result = await done;
      if (result.signal !== 'SIGKILL') expect([0, 4, 5], result.stderr).toContain(result.code);
      extra += [...world.ck.requests.slice(start.ck), ...world.mk.requests.slice(start.mk)].filter((q) => q.action !== 'pass').length;
    }

    // then let it finish, with nothing in the way
    world.ck.clearRules();
    world.mk.clearRules();
    now += STEP_S;
    clockMs = now * 1000;
    const finalNow = new Date(now * 1000).toISOString();
    let final = await world.run(['sync'], { CKYM_NOW: finalNow });
    if (final.code !== 0) final = await world.run(['sync'], { CKYM_NOW: finalNow });
    expect(final.code, final.stderr).toBe(0);

    const f = checkExactlyOnce(world, calls, counters, {
      nowUnix: now,
      timeZone: 'Europe/Moscow',
      settleMinutes: 10,
      fromUnix: NOW_UNIX - 7 * DAY,
      toUnix: now,
    });
    expect(f).toMatchObject({ duplicates: 0, missing: 0, unexpected: 0 });
    expect(killed, trail.join('\n')).toBeGreaterThan(ITERATIONS / 2);
    summary =
      `reliability: random crash points — seed ${SEED}, ${ITERATIONS} runs, ${killed} killed -9 at ${stepsHit.size} kinds of step ` +
      `(${[...stepsHit].join('; ')}), ${extra} requests faulted or held, ${calls.length} calls, ${f.rows} rows checked, ` +
      `${f.duplicates} duplicates, ${f.missing} lost`;
  }, 120_000);
});
