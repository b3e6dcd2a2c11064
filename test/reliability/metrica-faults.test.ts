/**
 * Metrica misbehaving: quotas, 5xx bursts, resets, a slow server, a rejected file, a token revoked mid-run,
 * uploads before call linking is ready, a 200 without an uploading. Each against the loopback emulator,
 * most through the fault proxy so the fault lands on exactly one request. Nothing lost, nothing twice.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { expectedRows, sortRows, type OracleCounter } from '../support/oracle.js';
import { TOKEN, until } from '../support/harness.js';
import {
  FAST,
  checkExactlyOnce,
  counter,
  killAt,
  makeReliabilityWorld,
  seedsFor,
  uploadsTried,
  type ExactlyOnce,
  type ReliabilityWorld,
} from '../support/reliability.js';
import { scanSummary } from '../support/secrets.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const DAY = 86_400;
const CALLS = generateCalls({ count: 400, seed: 777, nowUnix: NOW_UNIX, days: 6 });
const counters: OracleCounter[] = [
  counter(11, { name: 'all calls, goal', goal: 'call' }),
  counter(22, { name: 'incoming', callType: 'incoming' }),
  counter(33, { name: 'callbacks, shop', callType: 'callback', goal: 'calltracking_call_order', sites: ['shop.example'] }),
];
const network = { ...FAST.network, timeoutSeconds: 5 };
const config = { ...FAST, network, counters };
const oracle = { nowUnix: NOW_UNIX, timeZone: 'Europe/Moscow', settleMinutes: 10, fromUnix: NOW_UNIX - 7 * DAY, toUnix: NOW_UNIX };
const BUSY = '{"errors":[{"error_type":"backend_error","message":"busy"}],"code":503,"message":"busy"}';

const tally = { checks: 0, rows: 0, duplicates: 0, missing: 0 };
let world: ReliabilityWorld;
/** The emulators' clock (Metrica refuses DateTime values in its future). */
let clockMs = NOW_UNIX * 1000;

async function fresh(extra: Record<string, unknown> = {}, seeds = seedsFor(counters)): Promise<void> {
  clockMs = NOW_UNIX * 1000;
  world = await makeReliabilityWorld({ calls: CALLS, counters: seeds, config: { ...config, ...extra }, nowIso: NOW, now: () => clockMs });
}
function exactlyOnce(only?: number[]): ExactlyOnce {
  const f = checkExactlyOnce(world, CALLS, counters, oracle, only);
  tally.checks++;
  tally.rows += f.rows;
  tally.duplicates += f.duplicates;
  tally.missing += f.missing;
  return f;
}
const uploadsOf = (counterId: number, kind: 'calls' | 'conversions') =>
  world.metrika.uploads.filter((u) => u.counterId === counterId && u.kind === kind).length;
const states = (counterId: number) =>
  world.query<{ state: string; n: number }>(
    `SELECT state, COUNT(*) AS n FROM delivery_view WHERE counter_id = ? AND kind = 'call' GROUP BY state ORDER BY state`,
    counterId,
  );

afterEach(async () => {
  await world?.close();
});
afterAll(() => {
  console.info(
    `reliability: Metrica faults — ${tally.checks} exactly-once checks, ${tally.rows} rows checked, ${tally.duplicates} duplicates, ${tally.missing} lost · ${scanSummary()}`,
  );
});

describe('Metrica faults', () => {
  it('429: a Retry-After longer than ckym may wait gives up at once (exit 4), losing nothing; a short one is honoured', async () => {
    await fresh();
    world.mk.rule({
      match: (r) => Boolean(r.info.upload),
      action: { type: 'respond', status: 429, body: '{"errors":[{"error_type":"quota_requests_by_uid","message":"quota"}]}', headers: { 'retry-after': '3600' } },
      times: Infinity,
    });
    const started = Date.now();
    const busy = await world.run(['sync']);
    expect(busy.code).toBe(4);
    expect(Date.now() - started).toBeLessThan(10_000); // did not sit out the hour
    expect(busy.stderr).toMatch(/Metrica unavailable for the calls for counter 11: HTTP 429 quota; the rows wait for the next run/);
    expect(world.metrika.uploads).toEqual([]);
    expect(world.query(`SELECT DISTINCT status FROM batches`)).toEqual([{ status: 'void' }]);

    world.mk.clearRules();
    world.mk.rule({ match: (r) => Boolean(r.info.upload), action: { type: 'respond', status: 429, body: '{}', headers: { 'retry-after': '1' } } });
    const from = world.mk.requests.length;
    expect((await world.run(['sync'])).code).toBe(0);
    const [refused, retried] = world.mk.requests.slice(from).filter((r) => r.info.upload);
    expect(refused!.status).toBe(429);
    expect(retried!.at - refused!.at).toBeGreaterThanOrEqual(1000);
    exactlyOnce();
  });

  it('answers lost after Metrica took the file (504, reset, a 200 without an uploading) are looked up, never resent; refusals before it did are retried', async () => {
    await fresh();
    const upload = (counterId: number, kind: 'calls' | 'conversions') => (r: { info: { upload?: boolean; counterId?: number; kind?: string } }) =>
      Boolean(r.info.upload) && r.info.counterId === counterId && r.info.kind === kind;
    world.mk.rule({ match: upload(11, 'calls'), action: { type: 'replace', status: 504, body: '{}' } }); // took it, answered 504
    world.mk.rule({ match: upload(11, 'conversions'), action: { type: 'replace', status: 200, body: '{"status":"ok"}' } }); // took it, no uploading
    world.mk.rule({ match: upload(33, 'conversions'), action: { type: 'reset-after' } }); // took it, connection reset
    world.mk.rule({ match: upload(22, 'calls'), action: { type: 'reset' } }); // reset before it reached Metrica
    world.metrika.inject({ on: 'upload', status: 504, times: 2, counterId: 33 }); // a 504 burst before it took 33's calls
    const result = await world.run(['sync']);
    expect(result.code, result.stderr).toBe(0);
    // one file each in Metrica
    expect([uploadsOf(11, 'calls'), uploadsOf(11, 'conversions'), uploadsOf(22, 'calls'), uploadsOf(33, 'calls'), uploadsOf(33, 'conversions')]).toEqual([1, 1, 1, 1, 1]);
    // the lost answers were looked up in the uploadings list, not sent again (each trail starts with the list read a
    // run makes first for a counter its database knows nothing of: issue 13.4)
    const trail = (counterId: number, kind: string) =>
      world.mk.requests.filter((r) => r.info.counterId === counterId && r.info.kind === kind).map((r) => (r.info.upload ? 'upload' : 'list'));
    expect(trail(11, 'calls')).toEqual(['list', 'upload', 'list']);
    expect(trail(11, 'conversions')).toEqual(['list', 'upload', 'list']);
    expect(trail(33, 'conversions')).toEqual(['list', 'upload', 'list']);
    expect(trail(22, 'calls')).toEqual(['list', 'upload', 'list', 'upload']); // not in the list: sent again
    expect(trail(33, 'calls')).toEqual(['list', 'upload', 'list', 'upload', 'list', 'upload']); // 504, 504, then through
    exactlyOnce();
  });

  it('a server slower than the timeout that never processes the upload: sent again, once', async () => {
    await fresh({ network: { ...network, timeoutSeconds: 1 } });
    world.metrika.inject({ on: 'upload', delayMs: 1500, times: 1 });
    const result = await world.run(['sync']);
    expect(result.code, result.stderr).toBe(0);
    expect(uploadsTried(world, 11)).toBe(3); // timed out, not in the list, sent again; then the conversions
    await new Promise((r) => setTimeout(r, 600)); // past the moment the slow request would have been processed
    exactlyOnce();
  });

  it('a server that processes an upload after ckym gave up: within sync.confirmGraceMinutes the batch waits and is confirmed, not duplicated', async () => {
    await fresh({ sync: { ...config.sync, confirmGraceMinutes: 10 }, network: { ...network, timeoutSeconds: 1 } });
    world.mk.rule({ match: (r) => Boolean(r.info.upload) && r.info.counterId === 11, action: { type: 'late', ms: 2000 } });
    const first = await world.run(['sync']);
    expect(first.code).toBe(5); // the other counters were delivered
    expect(first.stderr).toMatch(/counter 11 .*got no answer \(timed out\) and is not in Metrica's list yet; batch 1 is confirmed or sent again by a run after 10 min/);
    await until(() => uploadsOf(11, 'calls') === 1); // … and then Metrica took it after all
    const second = await world.run(['sync']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/batch 1 \(counter 11\) was interrupted but Metrica has it: recorded as sent/);
    exactlyOnce();
  });

  it('the same late upload with confirmGraceMinutes 0 is sent twice: the price of resending at once (why the default is 10)', async () => {
    await fresh({ network: { ...network, timeoutSeconds: 1 } });
    world.mk.rule({ match: (r) => Boolean(r.info.upload) && r.info.counterId === 11, action: { type: 'late', ms: 1500 } });
    expect((await world.run(['sync'])).code).toBe(0);
    await until(() => uploadsOf(11, 'calls') === 2);
    const rows = expectedRows(CALLS, counters, oracle).get(11)!.calls.length;
    expect(world.metrika.rows(11, 'calls')).toHaveLength(2 * rows); // documented trade-off, see docs/RELIABILITY.md
    expect(sortRows(world.metrika.rows(22, 'calls'))).toEqual(sortRows(expectedRows(CALLS, counters, oracle).get(22)!.calls));
  });

  it('400 refusing a counter\'s file as a whole: kept aside with its reason in stats, the others delivered (exit 5); later calls still go', async () => {
    await fresh();
    world.metrika.inject({ on: 'upload', status: 400, message: 'Отсутствует обязательная колонка Tag', times: 1, counterId: 22 });
    const first = await world.run(['sync']);
    expect(first.code).toBe(5);
    expect(first.stderr).toMatch(
      /counter 22 .*: \d+ calls kept aside: Metrica refused the calls for counter 22: invalid_uploading: Отсутствует обязательная колонка Tag — fix the cause, then "ckym sync --retry-failed"/,
    );
    exactlyOnce([11, 33]);
    const quarantined = expectedRows(CALLS, counters, oracle).get(22)!.calls.length;
    expect(states(22)).toEqual(expect.arrayContaining([{ state: 'failed', n: quarantined }]));

    const stats = await world.run(['stats', '--json']);
    expect(stats.code, stats.stderr).toBe(0);
    const doc = JSON.parse(stats.stdout) as {
      counters: { id: number; calls: { failed: number } }[];
      uploads: { counterId: number; status: string; problems: string[]; error: string | null }[];
    };
    expect(doc.counters.find((c) => c.id === 22)!.calls.failed).toBe(quarantined);
    expect(doc.uploads.find((u) => u.counterId === 22)).toMatchObject({
      status: 'rejected',
      problems: ['rejected'],
      error: expect.stringMatching(/Отсутствует обязательная колонка Tag/),
    });

    // an hour later: new calls for the counter go out; the quarantined rows are not sent again by themselves
    const later = NOW_UNIX + 3600;
    const fresh22 = [0, 1, 2].map((i) => ({
      universalId: `after-quarantine-${i}`,
      serviceType: 'calltracking',
      status: 'success',
      statusFirst: 200,
      statusSecond: 200,
      clientNumber: `7900000000${i}`,
      callTime: new Date((later - 1800 + 3 * 3600 + i) * 1000).toISOString().replace('T', ' ').slice(0, 19),
      duration: 30,
    }));
    world.callkeeper.setCalls([...CALLS, ...fresh22]);
    clockMs = later * 1000;
    const second = await world.run(['sync'], { CKYM_NOW: new Date(later * 1000).toISOString() });
    expect(second.code, second.stderr).toBe(0);
    const only22 = expectedRows(fresh22, counters, { ...oracle, nowUnix: later, fromUnix: NOW_UNIX, toUnix: later }).get(22)!.calls;
    expect(only22).toHaveLength(3);
    expect(sortRows(world.metrika.rows(22, 'calls'))).toEqual(sortRows(only22));
  });

  it('401 in the middle of a run: exit 3, what was delivered stays delivered, the rest goes out once on the next run', async () => {
    await fresh();
    world.mk.rule({
      match: (r) => Boolean(r.info.upload) && r.info.counterId === 22,
      action: { type: 'respond', status: 401, body: '{"errors":[{"error_type":"unauthorized","message":"Invalid oauth_token"}],"code":401}' },
    });
    const denied = await world.run(['sync']);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/Metrica refused the Yandex token \(HTTP 401 unauthorized: Invalid oauth_token\); run "ckym login"/);
    exactlyOnce([11]); // delivered before the 401
    expect(world.metrika.rows(22, 'calls')).toEqual([]);
    expect(states(22).find((s) => s.state === 'pending')?.n).toBeGreaterThan(0); // waiting, not lost, not quarantined
    const tried11 = uploadsTried(world, 11);
    expect((await world.run(['sync'])).code).toBe(0);
    expect(uploadsTried(world, 11)).toBe(tried11);
    exactlyOnce();
  });

  it('401 while reconciling an interrupted batch: exit 3, the batch stays unsettled (not resent, not dropped) until a run can ask', async () => {
    await fresh();
    world.mk.rule({ match: (r) => Boolean(r.info.upload), action: { type: 'hold-response' } });
    await killAt(world, () => world.mk.requests.some((r) => Boolean(r.info.upload) && r.upstreamStatus === 200));
    world.mk.rule({ match: (r) => Boolean(r.info.list), action: { type: 'respond', status: 401, body: '{"errors":[{"error_type":"unauthorized","message":"no"}]}' } });
    const denied = await world.run(['sync']);
    expect(denied.code).toBe(3);
    expect(world.query(`SELECT status FROM batches WHERE id = 1`)).toEqual([{ status: 'sending' }]);
    expect((await world.run(['sync'])).code).toBe(0);
    expect(uploadsOf(11, 'calls')).toBe(1);
    exactlyOnce();
  });

  it('uploads before the join threshold (call linking not on yet): the rows wait, not quarantined (exit 5); once it is on they go out once', async () => {
    const seeds = seedsFor(counters).map((s) => (s.id === 22 ? { ...s, callsLinking: false } : s));
    await fresh({}, seeds);
    const early = await world.run(['sync']);
    expect(early.code).toBe(5);
    expect(early.stderr).toMatch(
      /counter 22 .*Загрузить данные сейчас невозможно.*\(Metrica's call linking is off or still warming up: run "ckym counters edit 22 --yes" to turn it on; the rows wait for a later run\)/,
    );
    exactlyOnce([11, 33]);
    expect(states(22).map((s) => s.state)).not.toContain('failed');
    const on = await fetch(`${world.metrika.url}/management/v1/counter/22/offline_conversions/calls_extended_threshold`, {
      method: 'POST',
      headers: { authorization: `OAuth ${TOKEN}` },
    });
    expect(on.status).toBe(200);
    const later = await world.run(['sync']);
    expect(later.code, later.stderr).toBe(0);
    exactlyOnce();
  });

  it('a refusal naming no row, again and again, for one counter: bisected until only the bad row is kept aside; the rest delivered once', async () => {
    clockMs = NOW_UNIX * 1000;
    world = await makeReliabilityWorld({ calls: CALLS, counters: seedsFor(counters), config, nowIso: NOW, now: () => clockMs, capture: true });
    // a proxy rule: every calls upload of counter 22 holding the call with the most recent DateTime is refused,
    // naming no line — as if Metrica disliked that one row without saying which
    const rows22 = expectedRows(CALLS, counters, oracle).get(22)!.calls;
    const newest = String(Math.max(...rows22.map((r) => Number(r.DateTime))));
    world.mk.rule({
      match: (r) => Boolean(r.info.upload) && r.info.counterId === 22 && r.info.kind === 'calls' && (r.captured?.body ?? '').includes(`,${newest},`),
      action: { type: 'respond', status: 400, body: '{"errors":[{"error_type":"invalid_uploading","message":"Некорректное значение в колонке DateTime"}],"code":400,"message":"Некорректное значение в колонке DateTime"}' },
      times: Infinity,
    });
    const first = await world.run(['sync']);
    expect(first.code).toBe(5);
    expect(first.stderr).toMatch(/counter 22 .*: 1 call kept aside: Metrica refused the calls for counter 22: invalid_uploading: Некорректное значение в колонке DateTime/);
    expect(world.metrika.rows(22, 'calls')).toHaveLength(rows22.length - 1);
    expect(world.metrika.rows(22, 'calls').some((r) => r.DateTime === newest)).toBe(false);
    expect(states(22)).toEqual(expect.arrayContaining([{ state: 'failed', n: 1 }]));
    // halves, recursively: about log2(n) refused files, far fewer than one upload per row
    const refused = world.mk.requests.filter((r) => r.info.upload && r.info.counterId === 22 && r.status === 400).length;
    expect(refused).toBeLessThanOrEqual(Math.ceil(Math.log2(rows22.length)) + 1);
    exactlyOnce([11, 33]);
    // Metrica takes it once the cause is gone: --retry-failed sends the one row, once
    world.mk.clearRules();
    const retried = await world.run(['sync', '--retry-failed', '--counter', '22']);
    expect(retried.code, retried.stderr).toBe(0);
    exactlyOnce();
  });
});
