/**
 * The upload protocol when Metrica's answer is lost (engine/upload.ts): an upload whose outcome is unknown is looked
 * up in Metrica's list before anything is sent again, and `sync.confirmGraceMinutes` decides whether it may be.
 * In process, against the Metrica emulator.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { SETTINGS, TOKEN, counter, engineWorld, type EngineWorld } from './world.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const DAY = 86_400;
const CALLS = generateCalls({ count: 120, seed: 2207, nowUnix: NOW_UNIX, days: 5 });
const COUNTERS = [counter(11)];

let world: EngineWorld;
afterEach(async () => {
  await world?.close();
});
const fresh = async () => (world = await engineWorld({ calls: CALLS, counters: COUNTERS, nowIso: NOW }));
const posts = () => world.metrika.requests.filter((r) => r.method === 'POST' && /offline_conversions\/upload/.test(r.path)).length;
/** Lookups in Metrica's uploadings list after the first upload left (a first run reads the list before anything, too:
 * a database that knows nothing of the counter checks it holds no uploads by ckym — issue 13.4). */
const listed = () => {
  const first = world.metrika.requests.findIndex((r) => r.method === 'POST' && /offline_conversions\/upload/.test(r.path));
  return world.metrika.requests.slice(first < 0 ? 0 : first).filter((r) => r.method === 'GET' && /uploadings$/.test(r.path)).length;
};

describe('an upload whose answer is lost', () => {
  it('Metrica took it and the connection broke: found in its list at once, recorded as sent — never sent twice', async () => {
    await fresh();
    world.metrika.inject({ on: 'upload', resetAfterAccept: true });
    const { report, trail } = await world.run();
    expect(report!.exitCode).toBe(0);
    expect(posts()).toBe(1);
    expect(listed()).toBe(1);
    expect(trail).toEqual(['batch 1: prepared', 'batch 1: sending (upload)', 'batch 1: sent']);
    const c11 = report!.counters[0]!;
    expect(c11.calls.sent).toBe(world.metrika.rows(11, 'calls').length);
    expect(c11.calls.uploadingId).toBe(world.metrika.uploads[0]!.uploadingId);
    world.expectExactlyOnce();
  });

  it('a 504, not in the list, with a grace period: the batch waits as sending, and the message says until when', async () => {
    await fresh();
    world.metrika.inject({ on: 'upload', status: 504 });
    const { report } = await world.run({ grace: 10 });
    expect(report!.exitCode).toBe(4);
    expect(report!.counters[0]!.error!.message).toMatch(
      /^the upload of the calls for counter 11 got no answer \(HTTP 504 .+\) and is not in Metrica's list yet; batch 1 is confirmed or sent again by a run after 10 min$/,
    );
    expect(posts()).toBe(1);
    expect(listed()).toBe(1);
    expect(world.batches()[0]).toMatch(/^1 11\/call sending \d+$/);
    expect(world.metrika.rows(11, 'calls')).toEqual([]);
    // the pause before asking is the retry's, on the fake clock
    expect(world.timer.sleeps.length).toBe(1);
  });

  it('a 504, not in the list, with no grace period: sent again at once, once', async () => {
    await fresh();
    world.metrika.inject({ on: 'upload', status: 504 });
    const { report, trail } = await world.run({ grace: 0 });
    expect(report!.exitCode).toBe(0);
    expect(posts()).toBe(2);
    expect(listed()).toBe(1);
    expect(trail).toEqual(['batch 1: prepared', 'batch 1: sending (upload)', 'batch 1: sending (upload)', 'batch 1: sent']);
    world.expectExactlyOnce();
  });

  it('a 504 on every attempt, with no grace period: after the retries the batch is void and its rows wait (exit 4)', async () => {
    await fresh();
    world.metrika.inject({ on: 'upload', status: 504, times: 4 });
    const { report } = await world.run({ grace: 0 });
    expect(report!.exitCode).toBe(4);
    expect(posts()).toBe(4); // the attempt and 3 retries
    expect(listed()).toBe(4); // each unknown outcome was looked up
    expect(report!.counters[0]!.error!.message).toMatch(/^Metrica unavailable for the calls for counter 11: HTTP 504 .+; the rows wait for the next run/);
    expect(world.batches()).toEqual([expect.stringMatching(/^1 11\/call void \d+$/)]);
    expect(world.states(11).pending).toBeGreaterThan(0);

    expect((await world.run({ grace: 0 })).report!.exitCode).toBe(0);
    world.expectExactlyOnce();
  });

  it('a batch left sending is resent exactly when the grace period has passed, not a second before', async () => {
    await fresh();
    await world.run({ freeze: { upload: 'before-it-left' } });
    world.setNow(NOW_UNIX + 10 * 60 - 1);
    const early = await world.run({ grace: 10 });
    expect(early.report!.counters[0]!.error!.message).toMatch(/it is sent again if it is still missing in 1 min \(sync\.confirmGraceMinutes\)$/);
    expect(world.batches()[0]).toMatch(/^1 11\/call sending/);

    world.setNow(NOW_UNIX + 10 * 60);
    const due = await world.run({ grace: 10 });
    expect(due.report!.reconciled.map((r) => [r.batchId, r.result])).toEqual([[1, 'resend']]);
    expect(due.report!.exitCode).toBe(0);
    world.expectExactlyOnce({ from: NOW_UNIX - SETTINGS.initialDays * DAY, to: NOW_UNIX + 10 * 60 });
  });
});

describe('held conversions', () => {
  it('one conversion held is told in the singular, once, and waits pending', async () => {
    const calls = CALLS.filter((c) => c['yaClid']).slice(0, 1);
    world = await engineWorld({ calls, counters: [counter(11, { goal: 'call' })], nowIso: NOW, seed: () => ({ conversionsLinking: false }) });
    const { report, told } = await world.run();
    expect(report!.exitCode).toBe(0);
    expect(report!.counters[0]!.conversions.held).toEqual({
      rows: 1,
      message: `1 conversion for counter 11 held: Metrica's conversion linking is off; run "ckym counters edit 11 --yes" to turn it on — they are sent once it is`,
    });
    expect(told).toEqual([{ event: 'held', detail: { counterId: 11, kind: 'conversion', rows: 1, message: report!.counters[0]!.conversions.held!.message } }]);
    expect(world.states(11, 'conversion')).toEqual({ pending: 1 });

    // the switch turned on, and the conversion's upload gets no answer: the message names the conversions
    const on = await fetch(`${world.metrika.url}/management/v1/counter/11/offline_conversions/extended_threshold`, {
      method: 'POST',
      headers: { authorization: `OAuth ${TOKEN}` },
    });
    expect(on.status).toBe(200);
    world.metrika.inject({ on: 'upload', status: 504 });
    const next = await world.run();
    expect(next.report!.counters[0]!.error!.message).toMatch(/^the upload of the conversions for counter 11 got no answer \(HTTP 504 /);
  });
});

