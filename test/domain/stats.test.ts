import { describe, expect, it } from 'vitest';
import {
  addDays,
  buildStats,
  byCount,
  countersCovered,
  dayWindows,
  localDate,
  startOfDay,
  totalOfDays,
  uploadingFacts,
  uploadProblems,
  type BatchRecord,
  type ConfiguredCounter,
  type StatsInput,
} from '../../src/domain/stats.js';

const MSK_NOON_MAY_20 = Date.parse('2024-05-20T09:00:00Z');

describe('days in the account time zone', () => {
  it('localDate reads the calendar date in the zone', () => {
    const t = Date.parse('2024-05-19T21:30:00Z') / 1000; // 00:30 in Moscow
    expect(localDate(t, 'Europe/Moscow')).toBe('2024-05-20');
    expect(localDate(t, 'UTC')).toBe('2024-05-19');
    expect(localDate(t, 'America/New_York')).toBe('2024-05-19');
  });

  it('addDays walks the calendar (month ends, leap years)', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2024-03-01', -1)).toBe('2024-02-29');
    expect(addDays('2023-12-31', 1)).toBe('2024-01-01');
  });

  it('the last 14 days, oldest first, each from local midnight to the next', () => {
    const days = dayWindows(MSK_NOON_MAY_20, 'Europe/Moscow');
    expect(days).toHaveLength(14);
    expect(days[0]!.date).toBe('2024-05-07');
    expect(days.at(-1)).toEqual({
      date: '2024-05-20',
      start: Date.parse('2024-05-19T21:00:00Z') / 1000,
      end: Date.parse('2024-05-20T21:00:00Z') / 1000,
    });
    for (let i = 1; i < days.length; i++) expect(days[i]!.start).toBe(days[i - 1]!.end);
  });

  it('a DST change makes a 23- or 25-hour day', () => {
    const spring = dayWindows(Date.parse('2024-03-31T12:00:00Z'), 'Europe/Berlin').at(-1)!;
    expect(spring.date).toBe('2024-03-31');
    expect(spring.end - spring.start).toBe(23 * 3600);
    const autumn = dayWindows(Date.parse('2024-10-27T12:00:00Z'), 'Europe/Berlin').at(-1)!;
    expect(autumn.end - autumn.start).toBe(25 * 3600);
    // a zone whose midnight does not exist on the change day (Havana jumps 00:00 → 01:00)
    expect(startOfDay('2024-03-10', 'America/Havana')).toBe(Date.parse('2024-03-10T05:00:00Z') / 1000);
  });

  it('startOfDay refuses what is not a date', () => {
    expect(() => startOfDay('2024-02-30', 'Europe/Moscow')).toThrow(new RangeError('not a date: 2024-02-30'));
  });

  it('half-hour zones', () => {
    const d = dayWindows(Date.parse('2024-05-20T12:00:00Z'), 'Asia/Kolkata').at(-1)!;
    expect(d.start).toBe(Date.parse('2024-05-19T18:30:00Z') / 1000);
  });

  it('with --since: every day from its date (at most 92)', () => {
    const since = Date.parse('2024-05-16T21:00:00Z') / 1000;
    expect(dayWindows(MSK_NOON_MAY_20, 'Europe/Moscow', since).map((d) => d.date)).toEqual([
      '2024-05-17',
      '2024-05-18',
      '2024-05-19',
      '2024-05-20',
    ]);
    const yearAgo = Date.parse('2023-05-20T00:00:00Z') / 1000;
    const long = dayWindows(MSK_NOON_MAY_20, 'Europe/Moscow', yearAgo);
    expect(long).toHaveLength(92);
    expect(long.at(-1)!.date).toBe('2024-05-20');
  });
});

const configured: ConfiguredCounter[] = [
  { id: 200, name: 'shop', enabled: true, goal: 'calltracking_call_order' },
  { id: 100, name: 'blog', enabled: false, goal: '' },
];

const batch = (over: Partial<BatchRecord> = {}): BatchRecord => ({
  id: 1,
  runId: 1,
  counterId: 200,
  kind: 'call',
  idType: 'clientId',
  segment: 'fresh',
  splitFrom: null,
  rows: 10,
  status: 'sent',
  createdAt: 1_716_195_600,
  sentAt: 1_716_195_600,
  uploadingId: 1_000_001,
  metrikaStatus: 'UPLOADED',
  uploading: { id: 1_000_001, status: 'UPLOADED', source_quantity: 10, line_quantity: 10, static_calls_quantity: 4, dynamic_calls_quantity: 6 },
  error: null,
  ...over,
});

function input(over: Partial<StatsInput> = {}): StatsInput {
  return {
    deliveries: [
      { counterId: 200, kind: 'call', state: 'sent', reason: null, count: 10 },
      { counterId: 200, kind: 'call', state: 'skipped', reason: 'site', count: 7 },
      { counterId: 200, kind: 'call', state: 'skipped', reason: 'status', count: 3 },
      { counterId: 200, kind: 'call', state: 'waiting', reason: 'settling', count: 2 },
      { counterId: 200, kind: 'call', state: 'failed', reason: 'rejected', count: 4 },
      { counterId: 200, kind: 'call', state: 'pending', reason: null, count: 1 },
      { counterId: 200, kind: 'call', state: 'batched', reason: null, count: 5 },
      { counterId: 200, kind: 'call', state: 'malformed', reason: 'datetime-before-2000', count: 3 },
      { counterId: 200, kind: 'conversion', state: 'sent', reason: null, count: 6 },
      { counterId: 200, kind: 'conversion', state: 'skipped', reason: 'no-client-id', count: 4 },
      { counterId: 300, kind: 'call', state: 'sent', reason: null, count: 9 },
    ],
    lateSent: [{ counterId: 200, kind: 'call', count: 2 }],
    goals: [
      { counterId: 200, goal: 'calltracking_call_order', count: 5 },
      { counterId: 200, goal: 'old_goal', count: 1 },
    ],
    days: [
      { day: 0, counterId: 200, kind: 'call', state: 'sent', count: 4 },
      { day: 1, counterId: 200, kind: 'call', state: 'sent', count: 6 },
      { day: 1, counterId: 200, kind: 'call', state: 'batched', count: 5 },
      { day: 1, counterId: 200, kind: 'call', state: 'pending', count: 1 },
      { day: 1, counterId: 200, kind: 'conversion', state: 'sent', count: 6 },
      { day: 1, counterId: 300, kind: 'call', state: 'sent', count: 9 },
    ],
    batches: [
      batch({ id: 3, counterId: 300 }),
      batch({ id: 2, status: 'rejected', uploadingId: null, metrikaStatus: null, uploading: null, error: 'Metrica rejected' }),
      batch({ id: 1 }),
    ],
    runs: [
      { id: 2, pid: 9, startedAt: 1_716_195_600_000, finishedAt: null, outcome: 'running', exitCode: null, pages: 0, fetched: 0, sentCalls: 0, sentConversions: 0, skipped: 0, waiting: 0, error: null },
      { id: 1, pid: 8, startedAt: 1_716_100_000_000, finishedAt: 1_716_100_001_500, outcome: 'ok', exitCode: 0, pages: 1, fetched: 30, sentCalls: 10, sentConversions: 6, skipped: 10, waiting: 2, error: null },
    ],
    counterIdsWithData: [100, 200, 300],
    ...over,
  };
}

const days = [
  { date: '2024-05-19', start: 1_716_066_000, end: 1_716_152_400 },
  { date: '2024-05-20', start: 1_716_152_400, end: 1_716_238_800 },
];
const options = { configured, days, nowMs: MSK_NOON_MAY_20, timeZone: 'Europe/Moscow', since: null };

describe('buildStats', () => {
  it('covers configured counters in config order, then others with data by id; --counter restricts', () => {
    expect(countersCovered(configured, [300, 100, 50])).toEqual([200, 100, 50, 300]);
    expect(countersCovered(configured, [300], [300, 300, 200])).toEqual([300, 200]);
    expect(countersCovered(configured, [300], [])).toEqual([200, 100, 300]);
    expect(buildStats(input(), options).counters.map((c) => [c.id, c.configured, c.enabled])).toEqual([
      [200, true, true],
      [100, true, false],
      [300, false, null],
    ]);
  });

  it('counts per state and reason, sent too late to link, per goal', () => {
    const shop = buildStats(input(), options).counters[0]!;
    expect(shop.goal).toBe('calltracking_call_order');
    expect(shop.calls).toEqual({
      sent: 10,
      sentOlderThan21Days: 2,
      pending: 1,
      batched: 5,
      failed: 4,
      failedByReason: { rejected: 4 },
      malformed: 3,
      malformedByReason: { 'datetime-before-2000': 3 },
      skipped: 10,
      skippedByReason: { site: 7, status: 3 },
      waiting: 2,
      waitingByReason: { settling: 2 },
      decidedAfterMaxWait: 0,
      decidedAfterMaxWaitByReason: {},
    });
    expect(shop.conversions.sent).toBe(6);
    expect(shop.conversions.byGoal).toEqual({ calltracking_call_order: 5, old_goal: 1 });
    expect(shop.conversions.skippedByReason).toEqual({ 'no-client-id': 4 });
    const blog = buildStats(input(), options).counters[1]!;
    expect(blog.goal).toBeNull();
    expect(blog.calls.sent).toBe(0);
  });

  it("names and goals: an unconfigured counter has no name; a goal is shown trimmed, a blank one as none", () => {
    const report = buildStats(input(), {
      ...options,
      configured: [
        { id: 200, name: 'shop', enabled: true, goal: '  calltracking_call_order ' },
        { id: 100, name: 'blog', enabled: false, goal: '   ' },
      ],
    });
    expect(report.counters.map((c) => [c.id, c.name, c.goal])).toEqual([
      [200, 'shop', 'calltracking_call_order'],
      [100, 'blog', null],
      [300, '', null],
    ]);
  });

  it("a reason the database lacks is counted as 'unknown'", () => {
    const report = buildStats(
      input({
        deliveries: [
          { counterId: 200, kind: 'call', state: 'skipped', reason: null, count: 3 },
          { counterId: 200, kind: 'call', state: 'waiting', reason: null, count: 2 },
          { counterId: 200, kind: 'call', state: 'failed', reason: null, count: 1 },
        ],
      }),
      options,
    );
    expect(report.counters[0]!.calls).toMatchObject({
      skippedByReason: { unknown: 3 },
      waitingByReason: { unknown: 2 },
      failedByReason: { unknown: 1 },
    });
  });

  it('calls decided as they stood after sync.maxWaitHours, by the wait they were still in', () => {
    const waitedOut = [
      { counterId: 200, kind: 'call' as const, waited: 'in-progress', count: 3 },
      { counterId: 200, kind: 'call' as const, waited: 'scheduled', count: 1 },
      { counterId: 200, kind: 'conversion' as const, waited: 'scheduled', count: 1 },
      { counterId: 999, kind: 'call' as const, waited: 'scheduled', count: 5 }, // not covered
    ];
    const shop = buildStats({ ...input(), waitedOut }, options).counters[0]!;
    expect([shop.calls.decidedAfterMaxWait, shop.calls.decidedAfterMaxWaitByReason]).toEqual([4, { 'in-progress': 3, scheduled: 1 }]);
    expect(shop.conversions.decidedAfterMaxWait).toBe(1);
  });

  it('per day: per counter and summed, pending includes batched', () => {
    const report = buildStats(input(), options);
    const shop = report.counters[0]!;
    expect(shop.days.map((d) => [d.date, d.calls.sent, d.calls.pending, d.conversions.sent])).toEqual([
      ['2024-05-19', 4, 0, 0],
      ['2024-05-20', 6, 6, 6],
    ]);
    expect(report.days.map((d) => d.calls.sent)).toEqual([4, 15]);
    expect(totalOfDays(report.days).calls.sent).toBe(19);
    expect(totalOfDays(report.days).conversions.sent).toBe(6);
  });

  it('per day: every state summed across counters (and over the days), conversions apart from calls', () => {
    const report = buildStats(
      input({
        days: [
          { day: 0, counterId: 200, kind: 'call', state: 'skipped', count: 3 },
          { day: 0, counterId: 300, kind: 'call', state: 'skipped', count: 4 },
          { day: 0, counterId: 200, kind: 'call', state: 'waiting', count: 5 },
          { day: 0, counterId: 300, kind: 'call', state: 'waiting', count: 6 },
          { day: 0, counterId: 200, kind: 'call', state: 'failed', count: 7 },
          { day: 0, counterId: 100, kind: 'call', state: 'failed', count: 8 },
          { day: 1, counterId: 200, kind: 'call', state: 'pending', count: 9 },
          { day: 1, counterId: 300, kind: 'call', state: 'batched', count: 10 },
          { day: 1, counterId: 100, kind: 'call', state: 'sent', count: 11 },
          { day: 1, counterId: 300, kind: 'call', state: 'sent', count: 12 },
          { day: 1, counterId: 200, kind: 'conversion', state: 'skipped', count: 13 },
          { day: 1, counterId: 300, kind: 'conversion', state: 'skipped', count: 14 },
          { day: 0, counterId: 200, kind: 'conversion', state: 'waiting', count: 15 },
          { day: 0, counterId: 100, kind: 'conversion', state: 'failed', count: 16 },
          { day: 1, counterId: 300, kind: 'conversion', state: 'pending', count: 17 },
          { day: 1, counterId: 300, kind: 'conversion', state: 'sent', count: 18 },
          { day: 0, counterId: 200, kind: 'call', state: 'malformed', count: 19 },
          { day: 0, counterId: 300, kind: 'call', state: 'malformed', count: 20 },
          { day: 1, counterId: 100, kind: 'conversion', state: 'malformed', count: 21 },
        ],
      }),
      options,
    );
    expect(report.days).toEqual([
      {
        date: '2024-05-19',
        calls: { sent: 0, skipped: 7, waiting: 11, pending: 0, failed: 15, malformed: 39 },
        conversions: { sent: 0, skipped: 0, waiting: 15, pending: 0, failed: 16, malformed: 0 },
      },
      {
        date: '2024-05-20',
        calls: { sent: 23, skipped: 0, waiting: 0, pending: 19, failed: 0, malformed: 0 },
        conversions: { sent: 18, skipped: 27, waiting: 0, pending: 17, failed: 0, malformed: 21 },
      },
    ]);
    expect(totalOfDays(report.days)).toEqual({
      calls: { sent: 23, skipped: 7, waiting: 11, pending: 19, failed: 15, malformed: 39 },
      conversions: { sent: 18, skipped: 27, waiting: 15, pending: 17, failed: 16, malformed: 21 },
    });
    // one counter's own days are its own
    expect(report.counters.find((c) => c.id === 300)!.days.map((d) => d.calls)).toEqual([
      { sent: 0, skipped: 4, waiting: 6, pending: 0, failed: 0, malformed: 20 },
      { sent: 12, skipped: 0, waiting: 0, pending: 10, failed: 0, malformed: 0 },
    ]);
  });

  it('--counter narrows the uploads too', () => {
    const report = buildStats(input(), { ...options, only: [300] });
    expect(report.counters.map((c) => c.id)).toEqual([300]);
    expect(report.uploads.map((u) => u.batchId)).toEqual([3]);
    expect(report.days.map((d) => d.calls.sent)).toEqual([0, 9]);
  });

  it('runs get their duration; --since drops older runs', () => {
    const report = buildStats(input(), options);
    expect(report.runs.map((r) => [r.id, r.durationMs])).toEqual([
      [2, null],
      [1, 1500],
    ]);
    const since = buildStats(input(), { ...options, since: 1_716_150_000 });
    expect(since.runs.map((r) => r.id)).toEqual([2]);
    // a run that started at the very second of --since counts
    expect(buildStats(input(), { ...options, since: 1_716_100_000 }).runs.map((r) => r.id)).toEqual([2, 1]);
    expect(buildStats(input(), { ...options, since: 1_716_100_001 }).runs.map((r) => r.id)).toEqual([2]);
  });

  it('uploads: Metrica facts read defensively, problems flagged', () => {
    const report = buildStats(input(), options);
    const [, rejected, ok] = report.uploads;
    expect(ok!.metrika).toEqual({ status: 'UPLOADED', sourceQuantity: 10, lineQuantity: 10, staticCalls: 4, dynamicCalls: 6, linkedQuantity: null });
    expect(ok!.problems).toEqual([]);
    expect(rejected!.metrika).toBeNull();
    expect(rejected!.problems).toEqual(['rejected']);
    expect(rejected!.error).toBe('Metrica rejected');
  });
});

describe('uploadProblems', () => {
  it('LINKAGE_FAILURE and fewer lines than the source stand out', () => {
    const facts = uploadingFacts({ id: 1, status: 'LINKAGE_FAILURE', source_quantity: '100', line_quantity: 95 }, 'UPLOADED');
    expect(facts).toMatchObject({ status: 'LINKAGE_FAILURE', sourceQuantity: 100, lineQuantity: 95 });
    expect(uploadProblems({ status: 'sent' }, facts)).toEqual(['linkage-failure', 'lines-dropped']);
    expect(uploadProblems({ status: 'sent' }, uploadingFacts({ id: 1, status: 'PROCESSED' }, null))).toEqual([]);
    expect(uploadingFacts(null, null)).toBeNull();
    // only numbers and numeric texts are counts: blanks, null, booleans, words, NaN and infinities are not
    expect(
      uploadingFacts(
        { id: 1, source_quantity: '', line_quantity: '  ', static_calls_quantity: null, dynamic_calls_quantity: true, linked_quantity: 'many' },
        null,
      ),
    ).toEqual({ status: null, sourceQuantity: null, lineQuantity: null, staticCalls: null, dynamicCalls: null, linkedQuantity: null });
    expect(uploadingFacts({ id: 1, source_quantity: Number.NaN, line_quantity: Infinity, linked_quantity: ' 7 ' }, null)).toMatchObject({
      sourceQuantity: null,
      lineQuantity: null,
      linkedQuantity: 7,
    });
    expect(uploadingFacts(null, 'MATCHED')!.status).toBe('MATCHED');
  });
});

describe('byCount', () => {
  it('orders reasons largest first, ties by name', () => {
    expect(byCount({ status: 2, site: 2, 'call-type': 5, uniqueness: 1, 'min-duration': 2 })).toEqual([
      ['call-type', 5],
      ['min-duration', 2],
      ['site', 2],
      ['status', 2],
      ['uniqueness', 1],
    ]);
    // ties by name whichever order they come in
    expect(byCount({ b: 1, a: 1 })).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    expect(byCount({ a: 1, b: 1 })).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    expect(byCount({ a: 1, b: 3 })).toEqual([
      ['b', 3],
      ['a', 1],
    ]);
    expect(byCount({})).toEqual([]);
  });
});

describe('uploadProblems: what counts as sent (mutation testing)', () => {
  const kept = (lineQuantity: number) => uploadingFacts({ id: 1, status: 'PROCESSED', line_quantity: lineQuantity }, null);
  it('the rows of a sent upload count as sent when Metrica gives no source count: fewer lines kept stand out', () => {
    expect(uploadProblems({ status: 'sent', rows: 10 }, kept(9))).toEqual(['lines-dropped']);
    expect(uploadProblems({ status: 'sent', rows: 10 }, kept(10))).toEqual([]);
  });

  it('the rows of an upload not sent yet (or refused) are not counted as sent', () => {
    expect(uploadProblems({ status: 'sending', rows: 10 }, kept(0))).toEqual([]);
    expect(uploadProblems({ status: 'prepared', rows: 10 }, kept(3))).toEqual([]);
    expect(uploadProblems({ status: 'rejected', rows: 10 }, kept(3))).toEqual(['rejected']);
  });
});
