/**
 * The engine in process, against the emulators over real loopback sockets, with a temporary store: the
 * exactly-once transitions, the reconcile paths, the window, the dry run and the retry budget — without spawning.
 * (The spawned e2e and crash suites prove the same through the binary; these show each step.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { UPLOAD_TOO_EARLY_MESSAGE } from '../../src/sandbox/metrika.js';
import { connectionOf } from '../../src/store/store.js';
import { countStats } from '../../src/store/stats.js';
import { freePort } from '../support/harness.js';
import { SETTINGS, counter, engineWorld, type EngineWorld } from './world.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const DAY = 86_400;
const CALLS = generateCalls({ count: 300, seed: 1105, nowUnix: NOW_UNIX, days: 6 });
const COUNTERS = [counter(11, { goal: 'call', callGoalName: 'Звонок' }), counter(22, { callType: 'incoming', price: 250, currency: 'RUB' })];

let world: EngineWorld;
afterEach(async () => {
  await world?.close();
});
const fresh = async (calls = CALLS, counters = COUNTERS) => (world = await engineWorld({ calls, counters, nowIso: NOW }));
const uploads = () => world.metrika.requests.filter((r) => r.method === 'POST' && /offline_conversions\/upload/.test(r.path)).length;
const lists = (counterId: number) => world.metrika.requests.filter((r) => r.path.includes(`/counter/${counterId}/`) && /uploadings$/.test(r.path)).length;

describe('exactly-once transitions of a batch', () => {
  it('prepared → sending → sent: one upload per counter and kind; a second run sends nothing and makes no upload', async () => {
    await fresh();
    const { report, trail } = await world.run();
    expect(report!.exitCode).toBe(0);
    // four batches: 11's calls and conversions, 22's calls (no goal: no conversions)
    expect(trail).toEqual([
      'batch 1: prepared',
      'batch 1: sending (upload)',
      'batch 1: sent',
      'batch 2: prepared',
      'batch 2: sending (upload)',
      'batch 2: sent',
      'batch 3: prepared',
      'batch 3: sending (upload)',
      'batch 3: sent',
    ]);
    expect(world.batches().map((b) => b.replace(/ \d+$/, ''))).toEqual(['1 11/call sent', '2 11/conversion sent', '3 22/call sent']);
    world.expectExactlyOnce();
    const c11 = report!.counters[0]!;
    expect(world.states(11).sent).toBe(c11.calls.sent);
    expect(world.states(11, 'conversion').sent).toBe(c11.conversions.sent);
    expect(Object.keys(world.states(11))).not.toContain('pending');
    expect(c11.calls.sent).toBeGreaterThan(20);
    expect(c11.conversions.sent).toBeGreaterThan(5);
    // the comment: digits and letters, naming the installation, the batch and its newest DateTime
    const first = world.metrika.uploads[0]!;
    expect(first).toMatchObject({ counterId: 11, kind: 'calls', newGoalName: 'Звонок', clientIdType: 'CLIENT_ID', ignoreThreshold: false });
    expect(first.comment).toBe(`ckym${world.store.installationId()}b1t${Math.max(...first.rows.map((r) => Number(r.DateTime)))}`);
    // each counter's linking switch was read once, only for what it had to send (22 has no goal: no conversions' switch)
    const reads = world.metrika.requests.filter((r) => /visit_join_threshold$/.test(r.path)).map((r) => r.path.replace(/^.*counter\//, ''));
    expect(reads).toEqual(['11/offline_conversions/calls_visit_join_threshold', '11/offline_conversions/visit_join_threshold', '22/offline_conversions/calls_visit_join_threshold']);

    const requests = world.metrika.requests.length;
    const again = await world.run();
    expect(again.report!.exitCode).toBe(0);
    expect(again.trail).toEqual([]);
    expect(uploads()).toBe(3);
    // a run with nothing new asks Metrica nothing at all
    expect(world.metrika.requests.length).toBe(requests);
    expect(again.report!.counters.map((c) => c.calls.sent + c.conversions.sent)).toEqual([0, 0]);
    world.expectExactlyOnce();
  });

  it('void: Metrica refuses every attempt (its quota) — the batch is void, its rows pending again (exit 4); the next run sends them once', async () => {
    await fresh();
    // 1 attempt + 3 retries for each counter (the budget is not spent by the first): 8 refusals
    world.metrika.inject({ on: 'upload', status: 429, times: 8 });
    const down = await world.run();
    expect(uploads()).toBe(8);
    expect(down.report!.exitCode).toBe(4);
    expect(down.report!.outcome).toBe('failed');
    expect(down.report!.counters[0]!.error!.message).toMatch(/^Metrica unavailable for the calls for counter 11: HTTP 429 .*; the rows wait for the next run/);
    expect(down.retries.filter((n) => n.what === 'upload of calls for counter 11')).toHaveLength(3);
    expect(down.retries.filter((n) => n.what === 'upload of calls for counter 22')).toHaveLength(3);
    expect(world.timer.sleeps.length).toBeGreaterThan(0); // backed off on the fake clock, not in real time
    expect(world.batches().map((b) => b.split(' ').slice(1, 3).join(' '))).toEqual(['11/call void', '22/call void']);
    expect(world.states(11)).toMatchObject({ pending: expect.any(Number) });
    expect(world.states(11).sent).toBeUndefined();
    expect(world.metrika.uploads).toEqual([]);

    const up = await world.run();
    expect(up.report!.exitCode).toBe(0);
    world.expectExactlyOnce();
  });

  it('refused: Metrica names a bad row — the rest is sent, the row alone is refused again and kept aside (failed, with the reason); exit 5; never resent by itself', async () => {
    // a phone number of three digits: ckym sends it as it is, Metrica refuses the line
    const badPhone = {
      universalId: 'bad-phone',
      serviceType: 'calltracking',
      status: 'success',
      statusFirst: 200,
      statusSecond: 200,
      clientNumber: '123',
      callTime: '2024-05-19 10:00:00',
      duration: 30,
      yaClid: '1716000000123',
    };
    await fresh([...CALLS.slice(0, 60), badPhone]);
    const rows22 = () => world.metrika.rows(22, 'calls').length;
    const { report } = await world.run();
    expect(report!.exitCode).toBe(5);
    expect(report!.outcome).toBe('partial');
    const c22 = report!.counters[1]!;
    expect(c22.error).toBeNull();
    expect(c22.calls.failed).toBe(1);
    expect(c22.calls.refusal).toMatch(/^Metrica refused the calls for counter 22: invalid_uploading: Неверный формат данных, ошибка в строке номер 2: PhoneNumber "\+123"/);
    expect(world.states(22).failed).toBe(1);
    expect(c22.calls.sent).toBe(rows22());
    expect(world.states(22).sent).toBe(rows22());
    // the bad row is the file's last (call id order): the first refusal names it, it goes alone and is refused again
    expect(world.batches().filter((b) => b.includes(' 22/')).map((b) => b.split(' ').slice(2).join(' '))).toEqual([
      `void ${rows22() + 1}`,
      `sent ${rows22()}`,
      'rejected 1',
    ]);
    expect(world.metrika.rows(22, 'calls').some((r) => r.PhoneNumber === '+123')).toBe(false);
    // counter 11 took the call too: its calls file was split the same way; its conversion (no phone in it) went out
    expect(report!.counters[0]!.calls.failed).toBe(1);
    expect(world.metrika.rows(11, 'conversions').some((r) => r.ClientId === '1716000000123')).toBe(true);
    const second = await world.run();
    expect(second.report!.exitCode).toBe(0);
    expect(rows22()).toBe(c22.calls.sent); // the refused row is not sent again by itself

    // the cause fixed (CallKeeper corrects the number), `--retry-failed` puts the row back in line: sent once
    world.callkeeper.updateCall('bad-phone', { clientNumber: '79990001122' });
    badPhone.clientNumber = '79990001122'; // what the oracle reads
    const retried = await world.run({ retryFailed: true });
    expect(retried.report!.exitCode).toBe(0);
    expect(retried.report!.counters.map((c) => c.requeued)).toEqual([1, 1]);
    expect(world.metrika.rows(22, 'calls').filter((r) => r.PhoneNumber === '+79990001122')).toHaveLength(1);
    expect(world.states(22).failed).toBeUndefined();
    world.expectExactlyOnce();
  });

  it('too early (call linking warming up) and clock behind: void, not quarantined — the rows wait for a later run', async () => {
    await fresh();
    world.metrika.inject({ on: 'upload', status: 400, message: UPLOAD_TOO_EARLY_MESSAGE, times: 1, counterId: 22 });
    const early = await world.run();
    expect(early.report!.exitCode).toBe(5);
    expect(early.report!.counters[1]!.error!.message).toMatch(
      /Загрузить данные сейчас невозможно.*\(Metrica's call linking is off or still warming up: run "ckym counters edit 22 --yes" to turn it on; the rows wait for a later run\)$/,
    );
    expect(world.batches()[2]).toMatch(/^3 22\/call void/);
    expect(world.states(22).failed).toBeUndefined();

    world.metrika.inject({ on: 'upload', status: 400, message: 'line 2: DateTime 1716196000 is in the future; only past events can be uploaded', times: 1, counterId: 22 });
    const ahead = await world.run();
    expect(ahead.report!.counters[1]!.error!.message).toMatch(/this machine's clock is probably ahead — check it with "ckym doctor"; the rows wait for a later run\)$/);
    expect(world.batches()[3]).toMatch(/^4 22\/call void/);

    expect((await world.run()).report!.exitCode).toBe(0);
    world.expectExactlyOnce();
  });

  it('released: a counter that fails before its upload leaves no batch behind — its rows wait as pending; the others go', async () => {
    await fresh();
    // a run killed while counter 22's upload was in flight, Metrica never got it
    await world.run({ freeze: { upload: 'before-it-left' } });
    expect(world.batches().map((b) => b.split(' ').slice(1, 3).join(' '))).toEqual(['11/call sending', '11/conversion prepared', '22/call prepared']);
    // five minutes later (calls that were settling are final now), within the grace period: 11's batch cannot be settled
    world.setNow(NOW_UNIX + 5 * 60);
    const { report } = await world.run({ grace: 10 });
    expect(report!.counters[0]!.error!.message).toBe(
      "batch 1 was being uploaded when a run ended and is not in Metrica's list yet; it is sent again if it is still missing in 5 min (sync.confirmGraceMinutes)",
    );
    expect(report!.exitCode).toBe(5); // 22 was delivered
    expect(world.metrika.rows(22, 'calls').length).toBeGreaterThan(0);
    // 11: its sending batch waits; the prepared one was voided; what this run batched for 11 was released (no batch
    // left behind), its rows pending for the next run
    const batches11 = world.batches().filter((b) => b.includes(' 11/'));
    expect(batches11.map((b) => b.split(' ').slice(1, 3).join(' '))).toEqual(['11/call sending', '11/conversion void']);
    expect(world.states(11, 'conversion')).toMatchObject({ pending: expect.any(Number) });
    expect(world.states(11, 'conversion').batched).toBeUndefined();
    expect(world.metrika.rows(11, 'calls')).toEqual([]);
    expect(world.metrika.rows(11, 'conversions')).toEqual([]);
  });
});

describe('reconcile: batches a previous run left unfinished', () => {
  it('prepared (the run died before anything was sent): voided without asking Metrica, the rows sent once', async () => {
    await fresh();
    await world.run({ freeze: { afterPages: 1 } });
    expect(world.batches().map((b) => b.split(' ').slice(1, 3).join(' ')).sort()).toEqual(['11/call prepared', '11/conversion prepared', '22/call prepared']);
    // (the first run read the lists once: a database that knew nothing of the counters — engine/adopt.test.ts)
    const listed = lists(11) + lists(22);
    const { report } = await world.run();
    expect(report!.reconciled.map((r) => [r.batchId, r.result])).toEqual([
      [1, 'resend'],
      [2, 'resend'],
      [3, 'resend'],
    ]);
    expect(lists(11) + lists(22)).toBe(listed);
    expect(world.batches().slice(0, 3).map((b) => b.split(' ')[2])).toEqual(['void', 'void', 'void']);
    world.expectExactlyOnce();
  });

  it('sending, and Metrica has it (the answer was lost): found in its list by the comment, recorded as sent, not resent', async () => {
    await fresh();
    await world.run({ freeze: { upload: 'after-metrica-took-it' } });
    expect(world.metrika.uploads).toHaveLength(1);
    expect(world.batches()[0]).toMatch(/^1 11\/call sending/);
    const { report } = await world.run();
    // batch 1 found; the other two were still prepared (never left): voided, their rows sent again
    expect(report!.reconciled).toEqual([
      { batchId: 1, counterId: 11, kind: 'call', rows: world.metrika.rows(11, 'calls').length, result: 'sent' },
      { batchId: 2, counterId: 11, kind: 'conversion', rows: world.metrika.rows(11, 'conversions').length, result: 'resend' },
      { batchId: 3, counterId: 22, kind: 'call', rows: world.metrika.rows(22, 'calls').length, result: 'resend' },
    ]);
    expect(report!.counters[0]!.calls.sent).toBe(report!.reconciled[0]!.rows);
    expect(world.metrika.uploads.filter((u) => u.counterId === 11 && u.kind === 'calls')).toHaveLength(1);
    expect(world.batches()[0]).toMatch(/^1 11\/call sent/);
    world.expectExactlyOnce();
  });

  it('sending, and not in the list: within sync.confirmGraceMinutes it waits; after it, the rows are sent again, once', async () => {
    await fresh();
    await world.run({ freeze: { upload: 'before-it-left' } });
    world.setNow(NOW_UNIX + 9 * 60);
    const soon = await world.run({ grace: 10 });
    expect(soon.report!.counters[0]!.error!.message).toMatch(/it is sent again if it is still missing in 1 min \(sync\.confirmGraceMinutes\)$/);
    expect(world.batches()[0]).toMatch(/^1 11\/call sending/);
    expect(world.metrika.rows(11, 'calls')).toEqual([]);

    world.setNow(NOW_UNIX + 11 * 60);
    const later = await world.run({ grace: 10 });
    expect(later.report!.reconciled.map((r) => [r.batchId, r.result])).toEqual([[1, 'resend']]);
    expect(later.report!.exitCode).toBe(0);
    expect(world.batches()[0]).toMatch(/^1 11\/call void/);
    world.expectExactlyOnce({ from: NOW_UNIX - SETTINGS.initialDays * DAY, to: NOW_UNIX + 11 * 60 });
  });
});

describe('a no-op proportional to what changed', () => {
  it('a call fetched again as it was is not decided again; one CallKeeper changed is; one waiting always is', async () => {
    await fresh();
    const first = await world.run();
    const db = connectionOf(world.store);
    const decidedIn = (run: number) => db.prepare(`SELECT COUNT(DISTINCT call_id) FROM deliveries WHERE decided_run = ?`).pluck().get(run) as number;
    // the calls later runs fetch again (the last 72 h: the longest wait, longer than the look-back) whose decisions
    // hold no wait and no malformed row keep a fingerprint; older ones are not digested at all
    const from = NOW_UNIX - 72 * 3600;
    const settled = db.prepare(`SELECT COUNT(*) FROM calls WHERE fingerprint IS NOT NULL`).pluck().get() as number;
    const unsettled = db
      .prepare(`SELECT COUNT(DISTINCT call_id) FROM deliveries WHERE state IN ('waiting', 'malformed') AND call_time >= ?`)
      .pluck()
      .get(from) as number;
    const recent = db.prepare(`SELECT COUNT(*) FROM calls WHERE call_time >= ?`).pluck().get(from) as number;
    expect(settled).toBeGreaterThan(0);
    expect(settled + unsettled).toBe(recent);
    expect(db.prepare(`SELECT COUNT(*) FROM calls WHERE fingerprint IS NOT NULL AND call_time < ?`).pluck().get(from)).toBe(0);
    expect(db.prepare(`SELECT COUNT(*) FROM calls WHERE call_time < ?`).pluck().get(from)).toBeGreaterThan(0);

    world.setNow(NOW_UNIX + 60);
    const second = await world.run();
    const inWindow = second.report!.fetched - second.report!.malformed;
    const waitingInWindow = db
      .prepare(`SELECT COUNT(DISTINCT call_id) FROM deliveries WHERE state IN ('waiting', 'malformed') AND call_time >= ?`)
      .pluck()
      .get(second.report!.window.from) as number;
    expect(second.report!.unchanged).toBeGreaterThan(0);
    expect(second.report!.unchanged + waitingInWindow).toBe(inWindow);
    // only the calls still waited on were decided again (none of them changed: nothing was rewritten either)
    expect(decidedIn(second.report!.runId)).toBe(0);
    expect(uploads()).toBe(3);

    // CallKeeper changes one settled call: it alone is decided again
    const changed = db
      .prepare(`SELECT id FROM calls WHERE fingerprint IS NOT NULL AND call_time >= ? ORDER BY id LIMIT 1`)
      .pluck()
      .get(second.report!.window.from) as string;
    world.callkeeper.updateCall(changed, { tags: 'изменено' });
    world.setNow(NOW_UNIX + 120);
    const third = await world.run();
    expect(third.report!.unchanged).toBe(second.report!.unchanged - 1);
    world.expectExactlyOnce();

    // the whole week fetched again: the older calls, without fingerprints, are decided again — and nothing is sent twice
    world.setNow(NOW_UNIX + 180);
    const kept = db.prepare(`SELECT COUNT(*) FROM calls WHERE fingerprint IS NOT NULL`).pluck().get() as number;
    const again = await world.run({ since: NOW_UNIX - SETTINGS.initialDays * DAY });
    expect(again.report!.unchanged).toBe(kept);
    expect(again.report!.fetched - again.report!.malformed - again.report!.unchanged).toBeGreaterThan(recent - settled);
    expect(again.report!.exitCode).toBe(0);
    expect(uploads()).toBe(3);
    world.expectExactlyOnce();
  });
});

describe('the window', () => {
  const requested = () => world.callkeeper.requests.filter((r) => r.page === 0).map((r) => [r.from, r.to]);

  it('first run initialDays back; then the cursor minus the look-back; a call waited on pulls it back; --since replaces it', async () => {
    // one callback that stays scheduled (2/0) for days: it is waited on, not sent
    const scheduled = {
      universalId: 'scheduled-1',
      serviceType: 'callback',
      status: 'fail',
      statusFirst: 2,
      statusSecond: 0,
      clientNumber: '79990000001',
      callTime: '2024-05-18 12:00:00', // Moscow: 09:00 UTC
      duration: 0,
    };
    const final = (id: string, callTime: string) => ({
      universalId: id,
      serviceType: 'calltracking',
      status: 'success',
      statusFirst: 200,
      statusSecond: 200,
      clientNumber: `7999${id.length}000000`,
      callTime,
      duration: 30,
      yaClid: '1716000000123',
    });
    await fresh([final('a', '2024-05-15 10:00:00'), final('bb', '2024-05-19 10:00:00'), final('ccc', '2024-05-20 11:00:00'), scheduled]);
    const first = await world.run();
    expect(first.report!.window).toEqual({ from: NOW_UNIX - 7 * DAY, to: NOW_UNIX });
    expect(first.report!.counters[0]!.waiting.scheduled).toBe(1);

    world.setNow(NOW_UNIX + 3600);
    const second = await world.run();
    // the cursor minus the 24 h look-back would start at 05-19 09:00; the call still waited on is older
    expect(second.report!.window).toEqual({ from: Date.parse('2024-05-18T09:00:00Z') / 1000, to: NOW_UNIX + 3600 });

    world.callkeeper.updateCall('scheduled-1', { statusFirst: 200, statusSecond: 200, status: 'success', duration: 40 });
    world.setNow(NOW_UNIX + 7200);
    const third = await world.run();
    expect(third.report!.window).toEqual({ from: Date.parse('2024-05-18T09:00:00Z') / 1000, to: NOW_UNIX + 7200 });
    expect(world.metrika.rows(11, 'calls').filter((r) => r.PhoneNumber === '+79990000001')).toHaveLength(1);

    world.setNow(NOW_UNIX + 3 * 3600);
    const fourth = await world.run();
    expect(fourth.report!.window).toEqual({ from: NOW_UNIX + 7200 - 24 * 3600, to: NOW_UNIX + 3 * 3600 });

    const since = NOW_UNIX - 30 * DAY;
    const backfill = await world.run({ since });
    expect(backfill.report!.window).toEqual({ from: since, to: NOW_UNIX + 3 * 3600 });
    expect(requested()).toEqual([
      [NOW_UNIX - 7 * DAY, NOW_UNIX],
      [Date.parse('2024-05-18T09:00:00Z') / 1000, NOW_UNIX + 3600],
      [Date.parse('2024-05-18T09:00:00Z') / 1000, NOW_UNIX + 7200],
      [NOW_UNIX + 7200 - 24 * 3600, NOW_UNIX + 3 * 3600],
      [since, NOW_UNIX + 3 * 3600],
    ]);
    // the window is recorded with the run
    const runs = connectionOf(world.store).prepare(`SELECT window_from, window_to FROM runs ORDER BY id`).all();
    expect(runs).toEqual(requested().map(([from, to]) => ({ window_from: from, window_to: to })));
  });

  it('a callback stuck for days is re-checked through a narrow window of its own, not by re-fetching every call since it; after maxWaitHours it is decided as it stands', async () => {
    const moscow = (unix: number) => new Date((unix + 3 * 3600) * 1000).toISOString().slice(0, 19).replace('T', ' ');
    const stuckAt = NOW_UNIX - 2 * DAY; // 05-18 09:00 UTC: older than the look-back, younger than maxWaitHours (72 h)
    const stuck = {
      universalId: 'stuck-1',
      serviceType: 'callback',
      status: 'fail',
      statusFirst: 1, // in progress, for ever
      statusSecond: 0,
      clientNumber: '79550000001',
      callTime: moscow(stuckAt),
      duration: 0,
      yaClid: '1716000000777',
    };
    // 2 500 final calls between it and the look-back's start (3 pages), a few inside the look-back
    const call = (i: number, at: number) => ({
      universalId: `f${String(i).padStart(5, '0')}`,
      serviceType: 'calltracking',
      status: 'success',
      statusFirst: 200,
      statusSecond: 200,
      clientNumber: `7999${String(i).padStart(7, '0')}`,
      callTime: moscow(at),
      duration: 30,
      yaClid: `17160${String(i).padStart(8, '0')}`,
    });
    const between = Array.from({ length: 2500 }, (_, i) => call(i, stuckAt + 3600 + i * 28));
    const recent = Array.from({ length: 5 }, (_, i) => call(9000 + i, NOW_UNIX - 3600 * (i + 2)));
    await fresh([...between, ...recent, stuck]);
    const first = await world.run();
    expect(first.report!.counters[0]!.waiting['in-progress']).toBe(1);
    expect(first.report!.pages).toBe(3);

    world.callkeeper.requests.length = 0;
    world.setNow(NOW_UNIX + 3600);
    const second = await world.run();
    // before: one window from the stuck call (2 506 calls, 3 pages); now: the stuck call's second, then the look-back
    expect(requested()).toEqual([
      [stuckAt, stuckAt],
      [NOW_UNIX - DAY, NOW_UNIX + 3600],
    ]);
    expect(world.callkeeper.requests).toHaveLength(2);
    expect(second.report!.rechecked).toEqual([{ from: stuckAt, to: stuckAt }]);
    expect(second.report!.window).toEqual({ from: NOW_UNIX - DAY, to: NOW_UNIX + 3600 });
    expect(second.report!.fetched).toBe(1 + 5);
    expect(second.report!.counters[0]!.waiting['in-progress']).toBe(1);
    const sentBefore = world.metrika.rows(11, 'calls').length;
    expect(second.report!.counters.every((c) => c.calls.sent === 0 && c.conversions.sent === 0)).toBe(true);

    // 72 h after it was made, it is decided as it stands: a missed callback, sent once
    world.callkeeper.requests.length = 0;
    world.setNow(stuckAt + 72 * 3600 + 60);
    const third = await world.run();
    expect(third.report!.rechecked).toEqual([{ from: stuckAt, to: stuckAt }]);
    expect(third.report!.counters[0]!.waiting['in-progress'] ?? 0).toBe(0);
    expect(world.metrika.rows(11, 'calls').filter((r) => r.PhoneNumber === '+79550000001')).toEqual([
      expect.objectContaining({ CallMissed: '1', ClientId: '1716000000777' }),
    ]);
    expect(world.metrika.rows(11, 'calls').length).toBe(sentBefore + 1);
    // the reason is recorded with the decisions, and stats count it (counter 22 takes tracked calls only: skipped)
    expect(countStats(world.store, {}, []).waitedOut).toEqual([
      { counterId: 11, kind: 'call', waited: 'in-progress', count: 1 },
      { counterId: 11, kind: 'conversion', waited: 'in-progress', count: 1 },
      { counterId: 22, kind: 'call', waited: 'in-progress', count: 1 },
    ]);
    // and then nothing is re-checked any more
    world.callkeeper.requests.length = 0;
    world.setNow(stuckAt + 73 * 3600);
    const fourth = await world.run();
    expect(fourth.report!.rechecked).toEqual([]);
    expect(world.callkeeper.requests).toHaveLength(1);
  });
});

describe('a dry run', () => {
  it('collects each batch as it would be uploaded (price cells included); nothing leaves, nothing is recorded as sent', async () => {
    await fresh();
    const { report, dry } = await world.run({ dryRun: true });
    expect(report!.exitCode).toBe(0);
    // nothing leaves: Metrica is only asked for its uploadings lists (a database that knows nothing of the counters)
    expect(world.metrika.requests.map((r) => `${r.method} ${r.path.replace(/^.*counter\//, '')}`)).toEqual([
      'GET 11/offline_conversions/calls_uploadings',
      'GET 11/offline_conversions/uploadings',
      'GET 22/offline_conversions/calls_uploadings',
    ]);
    expect(dry!.batches.map((b) => [b.counterId, b.kind, b.rows.length])).toEqual([
      [11, 'call', report!.counters[0]!.calls.sent],
      [11, 'conversion', report!.counters[0]!.conversions.sent],
      [22, 'call', report!.counters[1]!.calls.sent],
    ]);
    const priced = dry!.batches[2]!;
    expect(priced.header.slice(-2)).toEqual(['Price', 'Currency']);
    expect(new Set(priced.rows.map((r) => r.slice(-2).join(',')))).toEqual(new Set(['250,RUB']));
    expect(Object.keys(world.states(11))).not.toContain('sent');
  });
});

describe('the retry budget', () => {
  it('Metrica unreachable: the whole run gives up within one 30 s budget (fake clock), not per counter; exit 4, nothing lost', async () => {
    await fresh();
    // a database that knows the counters (one earlier run, a day ago): its run asks Metrica nothing before the uploads
    world.setNow(NOW_UNIX - DAY);
    expect((await world.run()).report!.exitCode).toBe(0);
    world.setNow(NOW_UNIX);
    const port = await freePort();
    const start = world.timer.now();
    const { report, retries } = await world.run({ metrikaUrl: `http://127.0.0.1:${port}`, policy: { retries: 5, backoffMs: 2000, giveUpMs: 30_000 } });
    expect(world.timer.now() - start).toBeLessThanOrEqual(30_000);
    expect(report!.exitCode).toBe(4);
    const [first, second] = report!.counters;
    // the first request of a counter with rows to send reads its linking switch
    expect(first!.error!.message).toMatch(
      new RegExp(`^Metrica unavailable while reading the call linking threshold of counter 11: network error ECONNREFUSED at 127\\.0\\.0\\.1:${port} \\(after \\d+ attempts\\)`),
    );
    expect(second!.error!.message).toMatch(/\(this run has spent its 30 s of retries: network\.giveUpSeconds\)$/);
    expect(retries.every((n) => n.what === 'the call linking threshold of counter 11')).toBe(true);
    // nothing was sealed, nothing left behind: the rows wait, pending
    expect(world.batches().filter((b) => !/ sent /.test(b))).toEqual([]);
    expect(world.states(11).pending).toBeGreaterThan(0);
    // the next run, with Metrica back, delivers everything once
    const back = await world.run();
    expect(back.report!.exitCode).toBe(0);
    world.expectExactlyOnce();
  });
});
