/**
 * What a run tells: its report, the run's record in the database, and the events as they happen — checked number by
 * number (mutation testing showed the sync tests checked the batches, not what the run says about them).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectionOf } from '../../src/store/store.js';
import type { SyncEvents } from '../../src/engine/types.js';
import { counter, engineWorld, type EngineWorld } from './world.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const DAY = 86_400;

let world: EngineWorld;
afterEach(async () => {
  await world?.close();
});

/** A final call tracked to a visit; Moscow wall time. */
const final = (id: string, callTime: string, duration = 90) => ({
  universalId: id,
  serviceType: 'calltracking',
  status: 'success',
  statusFirst: 200,
  statusSecond: 200,
  clientNumber: '79990000001',
  callTime,
  duration,
  yaClid: '1716000000123',
});
/** Unix seconds as CallKeeper's Moscow wall time. */
const moscow = (unix: number) => new Date((unix + 3 * 3600) * 1000).toISOString().slice(0, 19).replace('T', ' ');
const CALLS = [
  final('old', '2024-04-25 12:00:00'), // 25 days before NOW: too old for Metrica to link to a visit
  final('short', '2024-05-19 10:00:00', 30),
  final('long', '2024-05-19 11:00:00'),
  // a callback still scheduled: waited on by both counters
  { ...final('later', '2024-05-19 12:00:00', 0), serviceType: 'callback', status: 'fail', statusFirst: 2, statusSecond: 0 },
  { ...final('broken', '2024-05-19 13:00:00'), duration: 1e308 },
];
const COUNTERS = [counter(11, { goal: 'call' }), counter(22, { minDuration: 60 })];

/** Every event the run told, in order, as `name payload`. */
function listen(): { told: string[]; events: SyncEvents } {
  const told: string[] = [];
  const note = (name: string) => (payload: unknown) => told.push(`${name} ${JSON.stringify(payload)}`);
  return {
    told,
    events: { onWindow: note('window'), onPage: note('page'), onMalformed: note('malformed'), onReconciled: note('reconciled') },
  };
}

const runRecord = () =>
  connectionOf(world.store)
    .prepare(`SELECT outcome, exit_code, error, pages, fetched, sent_calls, sent_conversions, skipped, waiting FROM runs ORDER BY id DESC LIMIT 1`)
    .get();

describe('what a run tells', () => {
  it('the report and the run record count the pages, calls, malformed ones, skips, waits, rows sent and late rows', async () => {
    world = await engineWorld({ calls: CALLS, counters: COUNTERS, nowIso: NOW });
    const since = NOW_UNIX - 30 * DAY;
    const { told, events } = listen();
    const { report } = await world.run({ since, events });

    expect(report).toMatchObject({ pages: 1, fetched: 5, newCalls: 4, malformed: 1, outcome: 'ok', exitCode: 0, reconciled: [] });
    const [c11, c22] = report!.counters;
    // each kind's fresh rows in one batch, the row too old to link to a visit in one of its own: the report names the last
    expect(world.batches()).toEqual(['1 11/call sent 2', '2 11/conversion sent 2', '3 22/call sent 1', '4 11/call sent 1', '5 11/conversion sent 1', '6 22/call sent 1']);
    expect(c11).toMatchObject({
      id: 11,
      name: 'counter 11',
      calls: { sent: 3, late: 1, batchId: 4 },
      conversions: { sent: 3, late: 1, batchId: 5 },
      skipped: {},
      waiting: { scheduled: 1 },
      error: null,
    });
    expect(c22).toMatchObject({
      id: 22,
      calls: { sent: 2, late: 1, batchId: 6 },
      conversions: { sent: 0, late: 0, batchId: null, uploadingId: null },
      skipped: { 'min-duration': 1 },
      waiting: { scheduled: 1 },
      error: null,
    });
    expect(c11!.calls.uploadingId).toEqual(expect.any(Number));
    expect(new Set([c11!.calls.uploadingId, c11!.conversions.uploadingId, c22!.calls.uploadingId]).size).toBe(3);
    expect(runRecord()).toEqual({
      outcome: 'ok',
      exit_code: 0,
      error: null,
      pages: 1,
      fetched: 5,
      sent_calls: 5,
      sent_conversions: 3,
      skipped: 1,
      waiting: 2,
    });

    // `reached`: the latest time of a call that could be read (12:00 Moscow is 09:00 UTC), not the malformed one's
    const reached = Date.parse('2024-05-19T09:00:00Z') / 1000;
    expect(told).toEqual([
      `window ${JSON.stringify({ from: since, to: NOW_UNIX })}`,
      'malformed "call broken has a duration that is not a talk time in seconds: \\"1e+308\\""',
      `page ${JSON.stringify({ page: 0, calls: 5, fetched: 5, reached })}`,
    ]);

    // The next run: the same calls again, none of them new; nothing more to send
    const again = await world.run({ since });
    // (a call fetched again as it was is not decided again — issue 14.2's fingerprint: the two decided ones of the
    // last 72 h; the one too old to link is not digested — later runs do not fetch it again — and is decided again,
    // changing nothing; the waiting one is decided again, as time alone may end its wait)
    expect(again.report).toMatchObject({ pages: 1, fetched: 5, newCalls: 0, unchanged: 2, malformed: 1, exitCode: 0 });
    expect(again.report!.counters.map((c) => [c.calls.sent, c.conversions.sent, c.calls.batchId])).toEqual([
      [0, 0, null],
      [0, 0, null],
    ]);
    expect(runRecord()).toMatchObject({ sent_calls: 0, sent_conversions: 0, skipped: 0, waiting: 2 });
  });

  it('`reached` is the latest call time read, wherever in the page it comes (a stray old call last included)', async () => {
    world = await engineWorld({ calls: CALLS, counters: COUNTERS, nowIso: NOW });
    const { told, events } = listen();
    const { report } = await world.run({ events, strayCalls: [final('stray', '2024-01-01 00:00:00')] });
    expect(report).toMatchObject({ fetched: 5, malformed: 1, exitCode: 0 });
    expect(told.filter((t) => t.startsWith('page '))).toEqual([
      `page ${JSON.stringify({ page: 0, calls: 5, fetched: 5, reached: Date.parse('2024-05-19T09:00:00Z') / 1000 })}`,
    ]);
    // the stray call is outside the window asked for: kept aside, never sent
    expect(report!.counters[0]!.malformed).toEqual({ 'datetime-outside-window': 1 });
    // counter 22 (no goal: no conversions) counts its malformed call too — calls are counted, not conversions
    expect(report!.counters[1]!.malformed).toEqual({ 'datetime-outside-window': 1 });
  });

  it('`reached` over several pages: the latest call so far, raised by a later page, never lowered by one', async () => {
    const first = NOW_UNIX - 2 * DAY;
    // 1 200 calls a minute apart: two pages of CallKeeper's export (1 000 a page), oldest first
    const calls = Array.from({ length: 1200 }, (_, i) => final(`c${String(i).padStart(4, '0')}`, moscow(first + i * 60)));
    world = await engineWorld({ calls, counters: [counter(22)], nowIso: NOW });
    const since = NOW_UNIX - 3 * DAY;
    const pages = (told: string[]) => told.filter((t) => t.startsWith('page ')).map((t) => JSON.parse(t.slice('page '.length)).reached);
    const one = listen();
    expect((await world.run({ since, events: one.events })).report).toMatchObject({ pages: 2, fetched: 1200, exitCode: 0 });
    expect(pages(one.told)).toEqual([first + 999 * 60, first + 1199 * 60]);

    // again, with a newer call CallKeeper slips into the first page: the second page's older calls do not lower it
    const two = listen();
    const stray = NOW_UNIX - 60;
    expect((await world.run({ since, events: two.events, strayCalls: [final('newest', moscow(stray))] })).report).toMatchObject({ pages: 2, exitCode: 0 });
    expect(pages(two.told)).toEqual([stray, stray]);
  });

  it('a call exactly at the start of the fingerprints\' reach (72 h before the window\'s end) keeps one; a second earlier, none', async () => {
    const reach = NOW_UNIX - 72 * 3600;
    world = await engineWorld({ calls: [final('at', moscow(reach)), final('before', moscow(reach - 1))], counters: [counter(22)], nowIso: NOW });
    expect((await world.run()).report).toMatchObject({ newCalls: 2, exitCode: 0 });
    const fingerprinted = connectionOf(world.store).prepare(`SELECT id, fingerprint IS NOT NULL AS kept FROM calls ORDER BY id`).all();
    expect(fingerprinted).toEqual([
      { id: 'at', kept: 1 },
      { id: 'before', kept: 0 },
    ]);
  });

  it('`reached` counts the calls fetched again unchanged (recognised by their fingerprint, not read again): their kept times', async () => {
    world = await engineWorld({ calls: [final('a', '2024-05-19 10:00:00'), final('b', '2024-05-19 11:00:00')], counters: COUNTERS, nowIso: NOW });
    const since = NOW_UNIX - 2 * DAY;
    expect((await world.run({ since })).report).toMatchObject({ fetched: 2, newCalls: 2, exitCode: 0 });
    const { told, events } = listen();
    const { report } = await world.run({ since, events });
    expect(report).toMatchObject({ fetched: 2, newCalls: 0, unchanged: 2, malformed: 0, exitCode: 0 });
    // 11:00 Moscow is 08:00 UTC: the later call's time as the database keeps it
    expect(told.filter((t) => t.startsWith('page '))).toEqual([
      `page ${JSON.stringify({ page: 0, calls: 2, fetched: 2, reached: Date.parse('2024-05-19T08:00:00Z') / 1000 })}`,
    ]);
  });

  it('an empty window: no page, no call; the cursor still moves (CallKeeper said "No rows found")', async () => {
    world = await engineWorld({ calls: [], counters: COUNTERS, nowIso: NOW });
    const { told, events } = listen();
    const { report } = await world.run({ events });
    expect(report).toMatchObject({ pages: 0, fetched: 0, newCalls: 0, malformed: 0, exitCode: 0 });
    expect(told).toEqual([`window ${JSON.stringify({ from: NOW_UNIX - 7 * DAY, to: NOW_UNIX })}`]);
    expect(runRecord()).toMatchObject({ outcome: 'ok', pages: 0, fetched: 0, sent_calls: 0, skipped: 0, waiting: 0 });
    expect(world.store.cursor(11)).toBe(NOW_UNIX);
    expect(world.store.cursor(22)).toBe(NOW_UNIX);
  });

  it('an empty window told by an empty array (not "No rows found"): trusted for this run, but no cursor moves', async () => {
    world = await engineWorld({ calls: [], counters: COUNTERS, nowIso: NOW });
    world.callkeeper.inject({ type: 'empty-array', times: 2 });
    const { told, events } = listen();
    const { report } = await world.run({ events });
    expect(report).toMatchObject({ pages: 1, fetched: 0, newCalls: 0, exitCode: 0 });
    expect(told[1]).toBe(`page ${JSON.stringify({ page: 0, calls: 0, fetched: 0, reached: null })}`);
    expect(world.store.cursor(11)).toBeNull();
    expect(world.store.cursor(22)).toBeNull();
  });

  it('a batch settled at the start is told as it is settled, and counted as sent by its counter', async () => {
    world = await engineWorld({ calls: CALLS, counters: COUNTERS, nowIso: NOW });
    await world.run({ freeze: { upload: 'after-metrica-took-it' } });
    const { told, events } = listen();
    const { report } = await world.run({ events });
    const reconciled = told.filter((t) => t.startsWith('reconciled '));
    expect(reconciled.map((t) => JSON.parse(t.slice('reconciled '.length)))).toEqual(report!.reconciled);
    expect(report!.reconciled.map((r) => [r.batchId, r.counterId, r.kind, r.result])).toEqual([
      [1, 11, 'call', 'sent'],
      [2, 11, 'conversion', 'resend'],
      [3, 22, 'call', 'resend'],
    ]);
    // 11's calls went in the batch that was found; its conversions and 22's calls are sent by this run
    expect(report!.counters.map((c) => [c.calls.sent, c.conversions.sent])).toEqual([
      [2, 2],
      [1, 0],
    ]);
    expect(told[0]).toMatch(/^reconciled /); // settled before the window is even worked out
    // the batches voided at the start say why
    expect([2, 3].map((id) => world.store.batch(id)!.error)).toEqual(['interrupted before sending', 'interrupted before sending']);
  });

  it("a batch left sending and missing from Metrica's list past the grace period is voided with the reason", async () => {
    world = await engineWorld({ calls: CALLS, counters: COUNTERS, nowIso: NOW });
    await world.run({ freeze: { upload: 'before-it-left' } });
    world.setNow(NOW_UNIX + 11 * 60);
    const { report } = await world.run({ grace: 10 });
    expect(report!.reconciled.map((r) => [r.batchId, r.result])).toEqual([
      [1, 'resend'],
      [2, 'resend'],
      [3, 'resend'],
    ]);
    expect(world.store.batch(1)).toMatchObject({ status: 'void', error: "interrupted; not in Metrica's upload list" });
  });

  it('skips and waits are told for calls only: a conversion the call cannot have is not a skipped call', async () => {
    const noClientId = { ...final('static', '2024-05-19 10:00:00'), yaClid: '' };
    const scheduled = { ...final('later', '2024-05-19 12:00:00', 0), serviceType: 'callback', status: 'fail', statusFirst: 2, statusSecond: 0 };
    world = await engineWorld({ calls: [noClientId, scheduled], counters: [counter(11, { goal: 'call' })], nowIso: NOW });
    const { report } = await world.run();
    expect(report!.counters[0]).toMatchObject({ skipped: {}, waiting: { scheduled: 1 }, calls: { sent: 1 }, conversions: { sent: 0 } });
    // the conversions were decided all the same: one skipped, one waiting
    expect(world.states(11, 'conversion')).toEqual({ skipped: 1, waiting: 1 });
    expect(runRecord()).toMatchObject({ sent_calls: 1, sent_conversions: 0, skipped: 0, waiting: 1 });
  });
});

describe('a run that fails', () => {
  it('one counter fails while another delivers as many calls as conversions: partial (exit 5), and the record names the failure', async () => {
    world = await engineWorld({ calls: CALLS.slice(1, 3), counters: [counter(11, { goal: 'call' }), counter(22)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', status: 503, counterId: 22 });
    const { report } = await world.run();
    expect(report!.counters.map((c) => [c.calls.sent, c.conversions.sent])).toEqual([
      [2, 2],
      [0, 0],
    ]);
    expect(report).toMatchObject({ outcome: 'partial', exitCode: 5 });
    expect(runRecord()).toMatchObject({ outcome: 'partial', exit_code: 5, sent_calls: 2, sent_conversions: 2 });
    expect((runRecord() as { error: string }).error).toBe(
      "counter 22: the upload of the calls for counter 22 got no answer (HTTP 503 Сервис временно недоступен. Backend error, retry later) and is not in Metrica's list yet; batch 3 is confirmed or sent again by a run after 10 min",
    );
  });

  it('calls and conversions refused alike (as many of each): partial (exit 5), each kept aside, named in the record and told', async () => {
    world = await engineWorld({ calls: CALLS.slice(1, 3), counters: [counter(11, { goal: 'call' }), counter(22)], nowIso: NOW });
    // a refusal of the request itself (not of a row): no split can help, each file is kept aside whole
    world.metrika.inject({ on: 'upload', status: 400, errorType: 'invalid_parameter', message: 'Недопустимый комментарий', times: 2 });
    const { report, told } = await world.run();
    expect(report!.counters.map((c) => [c.calls.sent, c.calls.failed, c.conversions.sent, c.conversions.failed])).toEqual([
      [0, 2, 0, 2],
      [2, 0, 0, 0],
    ]);
    // two refused calls and two refused conversions are four rows kept aside, not none
    expect(report).toMatchObject({ outcome: 'partial', exitCode: 5 });
    expect(runRecord()).toMatchObject({ outcome: 'partial', exit_code: 5, sent_calls: 2, sent_conversions: 0 });
    expect((runRecord() as { error: string }).error).toBe(
      'counter 11: 2 calls kept aside: Metrica refused the calls for counter 11: invalid_parameter: Недопустимый комментарий; ' +
        'counter 11: 2 conversions kept aside: Metrica refused the conversions for counter 11: invalid_parameter: Недопустимый комментарий',
    );
    // told as kept aside (not as split into parts)
    expect(told.map((t) => [t.event, t.detail['kind'], t.detail['rows'], t.detail['split']])).toEqual([
      ['refused', 'call', 2, false],
      ['refused', 'conversion', 2, false],
    ]);
  });

  it('every counter fails: the record names each, in order, one after the other', async () => {
    world = await engineWorld({ calls: CALLS.slice(1, 3), counters: [counter(11), counter(22)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', status: 503, times: 8 });
    const { report } = await world.run();
    expect(report).toMatchObject({ outcome: 'failed', exitCode: 4 });
    const error = (runRecord() as { error: string }).error;
    expect(error.split('; counter ').map((e) => e.replace(/^counter /, '').split(':')[0])).toEqual(['11', '22']);
    expect(error).toBe(report!.counters.map((c) => `counter ${c.id}: ${c.error!.message}`).join('; '));
  });

  it('Metrica refuses the token: the run stops at once (exit 3), recorded as failed with the reason; its batches are released', async () => {
    world = await engineWorld({ calls: CALLS, counters: COUNTERS, nowIso: NOW });
    world.metrika.inject({ on: 'upload', status: 401, times: 1 });
    await expect(world.run()).rejects.toMatchObject({ exitCode: 3 });
    const record = runRecord() as Record<string, unknown>;
    expect(record).toMatchObject({ outcome: 'failed', exit_code: 3, pages: 1, fetched: 4, sent_calls: 0, sent_conversions: 0 });
    expect(record['error']).toBe('Metrica refused the Yandex token (HTTP 401 unauthorized: Authorization required); run "ckym login" to connect again');
    // the refused batch is void, the ones never sent were released: every row pending again, none left in a batch
    expect(world.batches().map((b) => b.split(' ').slice(1, 3).join(' '))).toEqual(['11/call void']);
    expect([world.states(11), world.states(11, 'conversion'), world.states(22)]).toEqual([
      { pending: 2, waiting: 1 },
      { pending: 2, waiting: 1 },
      { pending: 1, skipped: 1, waiting: 1 },
    ]);

    const next = await world.run();
    expect(next.report!.exitCode).toBe(0);
    expect(next.report!.counters.map((c) => [c.calls.sent, c.conversions.sent])).toEqual([
      [2, 2],
      [1, 0],
    ]);
  });
});
