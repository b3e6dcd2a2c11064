/**
 * `ckym stats` end to end: real syncs against the emulators fill the database, then stats' figures are
 * checked against what the Metrica emulator actually received.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import type { MetrikaCounterSeed } from '../../src/sandbox/metrika.js';
import type { OracleCounter } from '../support/oracle.js';
import { API_KEY, TOKEN, makeWorld, until, type World } from '../support/harness.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const DAY = 86_400;
const CALLS = generateCalls({ count: 1500, seed: 424242, nowUnix: NOW_UNIX, days: 10 });

const base = {
  enabled: true,
  minDuration: 0,
  status: 'all' as const,
  uniqueness: 'all' as const,
  tags: { source: 'call' as const, include: [], callback: '', incoming: '' },
  callGoalName: '',
  price: null,
  currency: 'RUB',
};
const counters: OracleCounter[] = [
  { ...base, id: 12345678, name: 'shop.example', callType: 'all', goal: 'calltracking_call_order', sites: ['shop.example'] },
  { ...base, id: 23456789, name: 'blog.example', callType: 'callback', goal: '', sites: ['blog.example'], minDuration: 30 },
  { ...base, id: 34567890, name: 'incoming, unique', callType: 'incoming', goal: 'call', sites: [], uniqueness: 'unique' },
];
const seeds: MetrikaCounterSeed[] = counters.map((c) => ({
  id: c.id,
  name: String(c.name),
  site: String(c.name),
  goals: c.goal ? [{ id: c.id + 1, name: c.goal, type: 'action', conditions: [{ type: 'exact', url: c.goal }] }] : [],
}));
const config = {
  callkeeper: { timezone: 'Europe/Moscow' },
  sync: { initialDays: 7, lookbackHours: 24, settleMinutes: 10, confirmGraceMinutes: 0 },
  network: { retries: 2, backoffSeconds: 0.01, timeoutSeconds: 2 },
  counters,
};

interface KindJson {
  sent: number;
  sentOlderThan21Days: number;
  pending: number;
  batched: number;
  failed: number;
  skipped: number;
  skippedByReason: Record<string, number>;
  waiting: number;
  waitingByReason: Record<string, number>;
  byGoal?: Record<string, number>;
}
interface StateJson {
  sent: number;
  skipped: number;
  waiting: number;
  pending: number;
  failed: number;
}
interface DayJson {
  date: string;
  calls: StateJson;
  conversions: StateJson;
}
interface StatsJson {
  version: number;
  command: string;
  synced: boolean;
  since: string | null;
  counters: { id: number; name: string; configured: boolean; goal: string | null; calls: KindJson; conversions: KindJson; days: DayJson[] }[];
  days: DayJson[];
  uploads: {
    batchId: number;
    runId: number;
    counterId: number;
    kind: string;
    rows: number;
    kept: number | null;
    status: string;
    uploadingId: number | null;
    metrika: { status: string | null; sourceQuantity: number | null; lineQuantity: number | null; staticCalls: number | null; dynamicCalls: number | null } | null;
    problems: string[];
  }[];
  runs: { id: number; outcome: string; sentCalls: number; sentConversions: number; fetched: number; durationMs: number | null }[];
  refresh: { checked: number; changed: { batchId: number; to: string | null }[]; unavailable: string | null } | null;
}

const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0);
const transcripts: string[] = [];

async function statsJson(world: World, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<StatsJson> {
  const r = await world.run(['stats', '--json', ...args], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as StatsJson; // exactly one document, or this throws
}

describe('ckym stats before anything was synced', () => {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld({ calls: CALLS, counters: seeds, config, nowIso: NOW });
  });
  afterAll(async () => {
    transcripts.push(...world.transcript);
    await world.close();
  });

  it('says so, exit 0; --json has no counters; no credentials or network needed', async () => {
    const noCreds = { CKYM_CALLKEEPER_KEY: '', CKYM_YANDEX_TOKEN: '', CKYM_METRIKA_URL: 'http://127.0.0.1:9', CKYM_CALLKEEPER_URL: 'http://127.0.0.1:9' };
    const text = await world.run(['stats'], noCreds);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^nothing synced yet; run "ckym sync"/);
    const json = await world.run(['stats', '--json'], noCreds);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ version: 1, command: 'stats', synced: false, counters: [], uploads: [], runs: [] });
    expect(json.stderr).toMatch(/nothing synced yet/);
    expect(world.metrika.requests).toEqual([]);
  });

  it('--refresh needs the Yandex token: exit 3 without it', async () => {
    const r = await world.run(['stats', '--refresh'], { CKYM_YANDEX_TOKEN: '' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no Yandex token: run "ckym login"/);
  });
});

describe('ckym stats after syncs', () => {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld({ calls: CALLS, counters: seeds, config, nowIso: NOW });
    const first = await world.run(['sync']);
    expect(first.code, first.stderr).toBe(0);
    // a later run with a few more minutes: a second batch for some counters, and a second run row
    const later = await world.run(['sync'], { CKYM_NOW: new Date((NOW_UNIX + 1800) * 1000).toISOString() });
    expect(later.code, later.stderr).toBe(0);
  });
  afterAll(async () => {
    transcripts.push(...world.transcript);
    await world.close();
  });
  afterEach(() => {
    world.metrika.setToken(TOKEN);
  });

  it('sent counts equal the rows Metrica received, per counter, kind and goal', async () => {
    const requestsBefore = world.metrika.requests.length;
    const doc = await statsJson(world, [], { CKYM_CALLKEEPER_KEY: '', CKYM_YANDEX_TOKEN: '' });
    expect(world.metrika.requests.length).toBe(requestsBefore); // no network
    expect(doc).toMatchObject({ version: 1, command: 'stats', synced: true, since: null });
    expect(doc.counters.map((c) => c.id)).toEqual(counters.map((c) => c.id));
    for (const c of doc.counters) {
      const calls = world.metrika.rows(c.id, 'calls');
      const conversions = world.metrika.rows(c.id, 'conversions');
      expect(calls.length).toBeGreaterThan(0);
      expect(c.calls.sent, `calls of ${c.id}`).toBe(calls.length);
      expect(c.conversions.sent, `conversions of ${c.id}`).toBe(conversions.length);
      const goal = counters.find((x) => x.id === c.id)!.goal;
      if (goal) {
        expect(c.conversions.sent).toBeGreaterThan(0);
        expect(c.conversions.byGoal).toEqual({ [goal]: conversions.length });
        expect(conversions.every((r) => r.Target === goal)).toBe(true);
      } else {
        expect(c.conversions.byGoal).toEqual({});
      }
      // the uploads listed add up to the same numbers (all uploads fit in the list here)
      for (const kind of ['call', 'conversion'] as const) {
        const listed = doc.uploads.filter((u) => u.counterId === c.id && u.kind === kind && u.status === 'sent');
        expect(sum(listed.map((u) => u.rows))).toBe((kind === 'call' ? calls : conversions).length);
      }
    }
  });

  it('skipped by reason sums to skipped; days sum to the totals; every call is accounted for', async () => {
    const doc = await statsJson(world);
    for (const c of doc.counters) {
      for (const k of [c.calls, c.conversions]) {
        expect(sum(Object.values(k.skippedByReason))).toBe(k.skipped);
        expect(sum(Object.values(k.waitingByReason))).toBe(k.waiting);
        expect(k.failed).toBe(0);
        expect(k.pending + k.batched).toBe(0);
        expect(k.sentOlderThan21Days).toBe(0);
      }
      expect(c.calls.skipped).toBeGreaterThan(0);
      // all calls are within the last 14 days: the per-day rows hold everything
      expect(c.days).toHaveLength(14);
      expect(sum(c.days.map((d) => d.calls.sent))).toBe(c.calls.sent);
      expect(sum(c.days.map((d) => d.conversions.sent))).toBe(c.conversions.sent);
      expect(sum(c.days.map((d) => d.calls.skipped))).toBe(c.calls.skipped);
      expect(sum(c.days.map((d) => d.calls.waiting))).toBe(c.calls.waiting);
      // one delivery per call and counter: the states add up to the same number for every counter
      const total = c.calls.sent + c.calls.skipped + c.calls.waiting;
      expect(total).toBe(doc.counters[0]!.calls.sent + doc.counters[0]!.calls.skipped + doc.counters[0]!.calls.waiting);
    }
    expect(doc.days.map((d) => d.date)).toEqual(doc.counters[0]!.days.map((d) => d.date));
    expect(doc.days.at(-1)!.date).toBe('2024-05-20');
    expect(sum(doc.days.map((d) => d.calls.sent))).toBe(sum(doc.counters.map((c) => c.calls.sent)));
    // the call ids a run saw: every counter decided each of them once
    const perDaySkips = doc.days.map((d) => d.calls.skipped);
    expect(sum(perDaySkips)).toBe(sum(doc.counters.map((c) => c.calls.skipped)));
  });

  it('lists uploads newest first with Metrica’s counts, and the runs', async () => {
    const doc = await statsJson(world);
    const ids = doc.uploads.map((u) => u.batchId);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    for (const u of doc.uploads) {
      expect(u.status).toBe('sent');
      expect(u.uploadingId).toBeGreaterThan(1_000_000);
      expect(u.metrika).toMatchObject({ status: 'UPLOADED', sourceQuantity: u.rows, lineQuantity: u.rows });
      if (u.kind === 'call') expect(u.metrika!.staticCalls! + u.metrika!.dynamicCalls!).toBe(u.rows);
      expect(u.problems).toEqual([]);
    }
    expect(doc.runs).toHaveLength(2);
    expect(doc.runs.every((r) => r.outcome === 'ok' && r.durationMs !== null)).toBe(true);
    expect(sum(doc.runs.map((r) => r.sentCalls))).toBe(sum(doc.counters.map((c) => c.calls.sent)));
    expect(sum(doc.runs.map((r) => r.sentConversions))).toBe(sum(doc.counters.map((c) => c.conversions.sent)));
  });

  it('--counter and --since narrow the figures', async () => {
    const all = await statsJson(world);
    const one = await statsJson(world, ['--counter', '23456789']);
    expect(one.counters.map((c) => c.id)).toEqual([23456789]);
    expect(one.counters[0]!.calls).toEqual(all.counters.find((c) => c.id === 23456789)!.calls);
    expect(one.uploads.every((u) => u.counterId === 23456789)).toBe(true);
    // the last runs too: those that uploaded for it, with its own counts
    expect(one.runs.map((r) => r.id).sort()).toEqual([...new Set(one.uploads.map((u) => u.runId))].sort());
    expect(one.runs.length).toBeLessThanOrEqual(all.runs.length);
    expect(sum(one.runs.map((r) => r.sentCalls))).toBe(one.counters[0]!.calls.sent);
    expect(sum(one.runs.map((r) => r.sentConversions))).toBe(0); // it has no goal
    const shop = await statsJson(world, ['--counter', '12345678']);
    expect(sum(shop.runs.map((r) => r.sentConversions))).toBe(shop.counters[0]!.conversions.sent);
    expect(sum(all.runs.map((r) => r.sentCalls))).toBeGreaterThan(sum(one.runs.map((r) => r.sentCalls)));

    // a counter neither configured nor recorded: exit 2, as sync says it
    const unknown = await world.run(['stats', '--counter', '99999999']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('ckym: --counter 99999999: not in the config (configured: 12345678, 23456789, 34567890) and nothing was recorded for it\n');

    const since = await statsJson(world, ['--since', '2024-05-17']);
    expect(since.since).toBe('2024-05-16T21:00:00.000Z'); // midnight in Moscow
    expect(since.days.map((d) => d.date)).toEqual(['2024-05-17', '2024-05-18', '2024-05-19', '2024-05-20']);
    const from = Date.parse('2024-05-16T21:00:00Z') / 1000;
    for (const c of since.counters) {
      const expected = world.metrika.rows(c.id, 'calls').filter((r) => Number(r.DateTime) >= from).length;
      expect(c.calls.sent).toBe(expected);
      expect(sum(c.days.map((d) => d.calls.sent))).toBe(expected);
    }
    const bad = await world.run(['stats', '--since', 'last week']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since: expected a date/);
  });

  it('prints tables and a bar chart for people (plain under NO_COLOR)', async () => {
    const r = await world.run(['stats']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const shop = (await statsJson(world)).counters[0]!;
    expect(r.stdout).toMatch(/^Sent to Yandex Metrica — all calls so far \(times in Europe\/Moscow\)/);
    expect(r.stdout).toMatch(new RegExp(`12345678  shop\\.example\\n  calls sent\\s+${shop.calls.sent}\\n`));
    expect(r.stdout).toMatch(new RegExp(`conversions sent\\s+${shop.conversions.sent}\\s+calltracking_call_order ${shop.conversions.sent}`));
    expect(r.stdout).toMatch(/Per day, by call time \(last 14 days\)/);
    expect(r.stdout).toMatch(/2024-05-20\s+\d+\s+\d+\s+\d+\s+\d+/);
    expect(r.stdout).toMatch(/\n  2024-05-1\d\s+\d+\s+\d+\s+\d+\s+\d+  #+\n/); // ascii bars without colour
    expect(r.stdout).not.toMatch(/\u001b\[/);
    expect(r.stdout).toMatch(/Uploads, newest first\n\s+batch\s+created\s+counter/);
    expect(r.stdout).toMatch(/Last runs\n\s+started\s+took/);
  });

  it('--refresh records Metrica’s current status; LINKAGE_FAILURE and dropped lines stand out', async () => {
    const before = await statsJson(world);
    const target = before.uploads.find((u) => u.kind === 'call' && u.counterId === 12345678)!;
    world.metrika.setUploadingStatus(target.uploadingId!, 'LINKAGE_FAILURE');

    const refreshed = await statsJson(world, ['--refresh']);
    expect(refreshed.refresh).toMatchObject({ checked: before.uploads.length, unavailable: null });
    expect(refreshed.refresh!.changed).toEqual([{ batchId: target.batchId, from: 'UPLOADED', to: 'LINKAGE_FAILURE' }]);
    const after = refreshed.uploads.find((u) => u.batchId === target.batchId)!;
    expect(after.metrika!.status).toBe('LINKAGE_FAILURE');
    expect(after.problems).toEqual(['linkage-failure']);
    const gets = world.metrika.requests.filter((r) => /offline_conversions\/(calls_)?uploading\/\d+$/.test(r.path));
    expect(gets.length).toBe(before.uploads.length);

    // stored: a plain stats (read-only, offline) shows it too
    const text = await world.run(['stats']);
    expect(text.stdout).toMatch(/LINKAGE_FAILURE ✗/);
    expect(text.stdout).toMatch(new RegExp(`! batch ${target.batchId} \\(counter 12345678\\): Metrica could not link these calls \\(LINKAGE_FAILURE\\)`));
  });

  it('--refresh with a token Metrica refuses: exit 3', async () => {
    world.metrika.setToken('revoked-token-value');
    const r = await world.run(['stats', '--refresh']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/run "ckym login"/);
  });

  it('--refresh while Metrica is down: the stored figures, exit 4', async () => {
    world.metrika.inject({ on: 'any', status: 503, times: 50 });
    const r = await world.run(['stats', '--refresh', '--json']);
    expect(r.code).toBe(4);
    const doc = JSON.parse(r.stdout) as StatsJson;
    expect(doc.refresh!.unavailable).toMatch(/Metrica unavailable/);
    expect(doc.counters[0]!.calls.sent).toBe(world.metrika.rows(12345678, 'calls').length);
    expect(r.stderr).toMatch(/Metrica unavailable/);
    // drain the rest of the injected faults
    world.metrika.setToken(TOKEN);
  });
});

describe('ckym stats beside a running sync', () => {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld({ calls: CALLS, counters: seeds, config, nowIso: NOW });
  });
  afterAll(async () => {
    transcripts.push(...world.transcript);
    await world.close();
  });

  it('answers at once while a sync holds the lock mid-upload, and is not in its way', async () => {
    world.metrika.inject({ on: 'upload', delayMs: 3000, times: 1 });
    const sync = world.start(['sync']);
    await until(() => world.metrika.requests.some((r) => r.method === 'POST' && r.status === 0));
    const started = Date.now();
    const r = await world.run(['stats', '--json']);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as StatsJson;
    expect(doc.runs[0]!.outcome).toBe('running');
    expect(sum(doc.counters.map((c) => c.calls.batched))).toBeGreaterThan(0);
    expect((await sync.done).code).toBe(0);
    const after = await statsJson(world);
    for (const c of after.counters) expect(c.calls.sent).toBe(world.metrika.rows(c.id, 'calls').length);
  });
});

describe('calls older than 21 days at upload', () => {
  let world: World;
  const OLD = generateCalls({ count: 800, seed: 777, nowUnix: NOW_UNIX, days: 30 });
  beforeAll(async () => {
    world = await makeWorld({ calls: OLD, counters: seeds, config, nowIso: NOW });
  });
  afterAll(async () => {
    transcripts.push(...world.transcript);
    await world.close();
  });

  it('are delivered, and counted apart', async () => {
    const r = await world.run(['sync', '--since', '2024-04-20']);
    expect(r.code, r.stderr).toBe(0);
    const doc = await statsJson(world);
    let anyOld = 0;
    for (const c of doc.counters) {
      const old = world.metrika.rows(c.id, 'calls').filter((row) => NOW_UNIX - Number(row.DateTime) > 21 * DAY).length;
      const oldConv = world.metrika.rows(c.id, 'conversions').filter((row) => NOW_UNIX - Number(row.DateTime) > 21 * DAY).length;
      expect(c.calls.sentOlderThan21Days).toBe(old);
      expect(c.conversions.sentOlderThan21Days).toBe(oldConv);
      anyOld += old;
    }
    expect(anyOld).toBeGreaterThan(0);
    const text = await world.run(['stats']);
    expect(text.stdout).toMatch(/\d+ older than 21 days at upload: in the call reports, not linked to visits/);
    // --since reaches back: the per-day table covers it
    const since = await statsJson(world, ['--since', '2024-04-20']);
    expect(since.days[0]!.date).toBe('2024-04-20');
    expect(since.days).toHaveLength(31);
    for (const c of since.counters) expect(sum(c.days.map((d) => d.calls.sent))).toBe(c.calls.sent);
  });
});

describe('rows Metrica kept (12.7)', () => {
  let world: World;
  beforeAll(async () => {
    world = await makeWorld({ calls: CALLS, counters: seeds, config, nowIso: NOW });
  });
  afterAll(async () => {
    transcripts.push(...world.transcript);
    await world.close();
  });

  it('sync warns when Metrica kept fewer lines than it was sent; stats shows each upload\'s rows sent and rows kept', async () => {
    world.metrika.inject({ on: 'upload', dropLines: 3, counterId: 23456789 });
    const r = await world.run(['sync', '--quiet']);
    expect(r.code).toBe(0);
    const sent = world.metrika.uploads.find((u) => u.counterId === 23456789)!;
    const rows = sent.sourceRows;
    // a warning even under --quiet: Metrica says nothing else about those rows
    expect(r.stderr).toMatch(
      new RegExp(`^ckym: warning: Metrica kept ${rows - 3} of the ${rows} calls of batch \\d+ \\(counter 23456789\\): it dropped 3 without a word; see "ckym stats --refresh"$`, 'm'),
    );
    const doc = await statsJson(world, ['--refresh']);
    const blog = doc.uploads.find((u) => u.counterId === 23456789)!;
    expect(blog).toMatchObject({ rows, kept: rows - 3, problems: ['lines-dropped'] });
    for (const u of doc.uploads.filter((x) => x.counterId !== 23456789)) expect(u.kept).toBe(u.rows);
    const text = await world.run(['stats']);
    expect(text.stdout).toMatch(new RegExp(`\\bcalls +${rows}  sent +\\d+ +UPLOADED +${rows - 3} !`));
    expect(text.stdout).toMatch(/! batch \d+ \(counter 23456789\): Metrica kept fewer lines than it was sent/);
  });
});

afterAll(() => {
  const all = transcripts.join('\n');
  expect(all).not.toContain(API_KEY);
  expect(all).not.toContain(TOKEN);
});
