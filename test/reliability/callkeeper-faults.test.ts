/**
 * CallKeeper misbehaving: garbage, truncated JSON, HTML pages and resets past the retries, the key refused
 * while paging, an empty page in the middle, fields of the wrong type, the same universalId on two pages, calls
 * that change between runs. Against the loopback emulator, with the fault proxy for the exact page.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import type { OracleCounter } from '../support/oracle.js';
import { FAST, checkExactlyOnce, counter, makeReliabilityWorld, seedsFor, type ReliabilityWorld } from '../support/reliability.js';
import { scanSummary } from '../support/secrets.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const DAY = 86_400;
/** Three pages: 1000, 1000, 600. */
const PAGED = generateCalls({ count: 2600, seed: 31337, nowUnix: NOW_UNIX, days: 6 });
const SMALL = generateCalls({ count: 300, seed: 31338, nowUnix: NOW_UNIX, days: 6 });
const counters: OracleCounter[] = [
  counter(11, { name: 'all calls, goal', goal: 'call' }),
  counter(33, { name: 'callbacks, shop', callType: 'callback', sites: ['shop.example'] }),
];
const config = { ...FAST, network: { ...FAST.network, timeoutSeconds: 5 }, counters };
const oracle = { nowUnix: NOW_UNIX, timeZone: 'Europe/Moscow', settleMinutes: 10, fromUnix: NOW_UNIX - 7 * DAY, toUnix: NOW_UNIX };
/** "Y-m-d H:i:s" in Moscow (UTC+3 all year). */
const moscow = (unix: number): string => new Date((unix + 3 * 3600) * 1000).toISOString().replace('T', ' ').slice(0, 19);

const tally = { checks: 0, rows: 0, duplicates: 0, missing: 0 };
const envelope = (error: string) => JSON.stringify({ inbound: { error }, info: {}, payload: [] });

/** One scenario's world (its own emulators, proxies, CKYM_HOME and clock), so scenarios run side by side. */
interface Scenario {
  world: ReliabilityWorld;
  /** Moves the emulators' clock (Metrica refuses DateTime values in its future). */
  setClock(ms: number): void;
  exactlyOnce(calls: Record<string, unknown>[]): void;
  count(sql: string): number;
}

async function scenario(calls: Record<string, unknown>[], body: (s: Scenario) => Promise<void>): Promise<void> {
  let clockMs = NOW_UNIX * 1000;
  const world = await makeReliabilityWorld({ calls, counters: seedsFor(counters), config, nowIso: NOW, now: () => clockMs });
  try {
    await body({
      world,
      setClock: (ms) => (clockMs = ms),
      exactlyOnce(list) {
        const f = checkExactlyOnce(world, list, counters, oracle);
        tally.checks++;
        tally.rows += f.rows;
        tally.duplicates += f.duplicates;
        tally.missing += f.missing;
      },
      count: (sql) => Object.values(world.query(sql)[0] ?? { n: 0 })[0] as number,
    });
  } finally {
    await world.close();
  }
}

afterAll(() => {
  console.info(
    `reliability: CallKeeper faults — ${tally.checks} exactly-once checks, ${tally.rows} rows checked, ${tally.duplicates} duplicates, ${tally.missing} lost · ${scanSummary()}`,
  );
});

// Each scenario has its own world: they run side by side (the time goes into spawned processes).
describe.concurrent('CallKeeper faults', { timeout: 90_000 }, () => {
  it('garbage, truncated JSON, an HTML page, resets, a refused key on page 1: a clear error, nothing advanced; then everything once', () =>
    scenario(PAGED, async ({ world, exactlyOnce, count }) => {
      const retries = config.network.retries + 1;
      const cases: { what: string; inject: () => void; code: number; says: RegExp }[] = [
        {
          what: 'garbage',
          inject: () => world.callkeeper.inject({ type: 'garbage', page: 1, times: retries }),
          code: 4,
          // a PHP warning starts with "<br />": it reads as an HTML page; the key is masked in the URL shown
          says: /^ckym: CallKeeper answered an HTML page instead of calls at http:\/\/127\.0\.0\.1:\d+\/api\/\?json\/v3\/k3y9…t7\/call\/get\/1\/\d+\/\d+$/m,
        },
        {
          what: 'truncated JSON',
          inject: () => world.callkeeper.inject({ type: 'truncated', page: 1, times: retries }),
          code: 4,
          says: /CallKeeper answered something that is not JSON/,
        },
        {
          what: 'an HTML error page',
          inject: () => world.callkeeper.inject({ type: 'html', page: 1, times: retries }),
          code: 4,
          says: /CallKeeper answered an HTML page instead of calls/,
        },
        {
          what: 'connection resets',
          inject: () => world.ck.rule({ match: (r) => r.info.page === 1, action: { type: 'reset' }, times: retries }),
          code: 4,
          says: /CallKeeper unreachable \(network error ECONNRESET\)/,
        },
        {
          what: '"User is not recognized" (the key revoked while paging)',
          inject: () => world.ck.rule({ match: (r) => r.info.page === 1, action: { type: 'respond', status: 200, body: envelope('User is not recognized') } }),
          code: 3,
          says: /^ckym: CallKeeper did not recognise the API key \("User is not recognized"\); run "ckym login" with a valid key$/m,
        },
      ];
      for (const c of cases) {
        c.inject();
        const r = await world.run(['sync']);
        expect(r.code, c.what).toBe(c.code);
        expect(r.stderr, c.what).toMatch(c.says);
        // nothing advanced: page 0 is recorded (decisions only), no cursor, no batch, nothing sent
        expect(count(`SELECT COUNT(*) FROM calls`), c.what).toBe(1000);
        expect(count(`SELECT COUNT(*) FROM cursors`), c.what).toBe(0);
        expect(count(`SELECT COUNT(*) FROM batches`), c.what).toBe(0);
        expect(world.metrika.uploads, c.what).toEqual([]);
        expect(world.query(`SELECT outcome, exit_code FROM runs ORDER BY id DESC LIMIT 1`), c.what).toEqual([{ outcome: 'failed', exit_code: c.code }]);
      }
      const ok = await world.run(['sync']);
      expect(ok.code, ok.stderr).toBe(0);
      exactlyOnce(PAGED);
    }));

  // Found by this test (fixed): an empty array for a middle page was taken as the end of paging, the cursors moved
  // to "now" and the later pages' calls older than the look-back were lost. Now CallKeeperClient.pages() asks the
  // next page, retries the empty one, and fails the run (nothing advanced) if it stays empty.
  it('an empty array on a middle page loses nothing', () =>
    scenario(PAGED, async ({ world, exactlyOnce }) => {
      world.callkeeper.inject({ type: 'empty-page', page: 1 });
      const first = await world.run(['sync']);
      expect(first.code).toBe(0);
      const again = await world.run(['sync']);
      expect(again.code).toBe(0);
      const lost = checkExactlyOnce(world, PAGED, counters, oracle, undefined, { soft: true });
      console.info(`reliability: empty middle page — ${lost.missing} of ${lost.rows} rows lost`);
      exactlyOnce(PAGED);
    }));

  it('an empty array for page 0 (not "No rows found"): the run moves no cursor, and the next one delivers everything once', () =>
    scenario(SMALL, async ({ world, exactlyOnce, count }) => {
      // page 0 answers [] every time; page 1 says "Incorrect page is set": the end, but told by an empty array
      world.callkeeper.inject({ type: 'empty-page', page: 0, times: 1 });
      const first = await world.run(['sync']);
      expect(first.code, first.stderr).toBe(0);
      expect(count(`SELECT COUNT(*) FROM cursors`)).toBe(0);
      expect(world.metrika.uploads).toEqual([]);
      // had the cursor moved to "now", this run would fetch only the 24 h look-back: every older call lost
      const r = await world.run(['sync']);
      expect(r.code, r.stderr).toBe(0);
      exactlyOnce(SMALL);
    }));

  it('a server that ignores the page number: exit 4 at page 1, nothing advanced; the next run delivers once', () =>
    scenario(PAGED, async ({ world, exactlyOnce, count }) => {
      // (page 0 and page 1 each answered with page 0: the fault is used up by exactly those two requests)
      world.callkeeper.inject({ type: 'ignore-page', times: 2 });
      const started = Date.now();
      const r = await world.run(['sync']);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/^ckym: CallKeeper answered page 1 with the same calls as page 0: it seems to ignore the page number; stopped instead of paging on/m);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(world.callkeeper.requests.map((q) => q.page)).toEqual([0, 1]);
      expect(count(`SELECT COUNT(*) FROM cursors`)).toBe(0);
      expect(world.metrika.uploads).toEqual([]);
      const again = await world.run(['sync']);
      expect(again.code, again.stderr).toBe(0);
      exactlyOnce(PAGED);
    }));

  it("CallKeeper's Retry-After is waited for; a redirect to another host is refused (exit 2) and the key goes nowhere", async () => {
    const stranger = http.createServer((req, res) => {
      strangers.push(req.url ?? '');
      res.end('[]');
    });
    const strangers: string[] = [];
    await new Promise<void>((r) => stranger.listen(0, '127.0.0.1', r));
    const port = (stranger.address() as AddressInfo).port;
    try {
      await scenario(SMALL, async ({ world, exactlyOnce }) => {
        world.callkeeper.inject({ type: 'status', status: 503, retryAfter: 1, times: 1 });
        const started = Date.now();
        const waited = await world.run(['sync']);
        expect(waited.code, waited.stderr).toBe(0);
        expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
        expect(waited.stderr).toMatch(/^CallKeeper: CallKeeper answered HTTP 503 at \S+ — retry 1\/2 in 1\.0 s$/m);
        exactlyOnce(SMALL);

        world.callkeeper.inject({ type: 'redirect', status: 302, location: `http://127.0.0.1:${port}/api/?json/v3/${world.env.CKYM_CALLKEEPER_KEY}/call/get/0/1/2` });
        const moved = await world.run(['sync']);
        expect(moved.code).toBe(2);
        expect(moved.stderr).toBe(
          `ckym: CallKeeper answered HTTP 302, a redirect to http://127.0.0.1:${port}/api/; ckym does not follow redirects (the API key is in the URL). If CallKeeper moved, set CKYM_CALLKEEPER_URL to its new address\n`,
        );
        expect(strangers).toEqual([]);
      });
    } finally {
      await new Promise((r) => stranger.close(r));
    }
  });

  it('fields of the wrong type: normalised where the spec allows, the unreadable calls skipped with a warning, the rest delivered', () => {
    const at = moscow(NOW_UNIX - 7200);
    const readable = [
      // numbers as strings, a phone number as a number: normalise, don't crash
      { universalId: 'wt-strings', serviceType: 'calltracking', status: 'success', statusFirst: '200', statusSecond: '200', duration: '95', unique: '1', clientNumber: 79991112233, callTime: at, yaClid: '' },
      // nonsense where numbers, texts and lists belong: empty values
      { universalId: 'wt-nonsense', serviceType: 'calltracking', status: null, duration: 'abc', unique: {}, tags: null, site: 42, clientNumber: ['x'], callTime: at },
      // the id itself as a number
      { universalId: 123456789, serviceType: 'callback', status: 'fail', statusFirst: 3, statusSecond: 0, duration: 0, clientNumber: '8 (999) 000-11-22', callTime: at, site: 'shop.example' },
    ];
    const unreadable = [
      { universalId: 'wt-time-number', serviceType: 'calltracking', status: 'success', callTime: NOW_UNIX - 7200 },
      { universalId: 'wt-time-text', serviceType: 'calltracking', status: 'success', callTime: '20.05.2024 10:00' },
      { universalId: '', serviceType: 'calltracking', status: 'success', callTime: at },
      { serviceType: 'calltracking', status: 'success', callTime: at },
    ];
    return scenario(SMALL, async ({ world, exactlyOnce }) => {
      world.ck.rule({
        match: (r) => r.info.page === 0,
        action: { type: 'transform', body: (text) => JSON.stringify([...(JSON.parse(text) as unknown[]), ...readable, ...unreadable, null, 'oops', 42]) },
        times: Infinity,
      });
      const r = await world.run(['sync']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/fetched 307 calls \(\d+ new\) in 1 page · 4 malformed ·/);
      expect(r.stderr).toMatch(/a call from CallKeeper was skipped: call wt-time-number has a callTime that is not a "Y-m-d H:i:s" date: "\d+"/);
      expect(r.stderr).toMatch(/call wt-time-text has a callTime that is not a "Y-m-d H:i:s" date: "20\.05\.2024 10:00"/);
      expect(r.stderr.match(/the call has no universalId/g)).toHaveLength(2);
      const rows = world.metrika.rows(11, 'calls');
      expect(rows.find((x) => x.PhoneNumber === '+79991112233')).toMatchObject({ TalkDuration: '95', FirstTimeCaller: '1', CallMissed: '0' });
      expect(rows.find((x) => x.PhoneNumber === '+79990001122')).toMatchObject({ TalkDuration: '0', CallMissed: '1' });
      expect((await world.run(['sync'])).code).toBe(0);
      exactlyOnce([...SMALL, ...readable]);
    });
  });

  it('numbers a double cannot hold: a yaClid past 2^53 keeps every digit; a duration of 1e308 is malformed', () => {
    const at = moscow(NOW_UNIX - 7200);
    const big = { universalId: 'big-clid', serviceType: 'calltracking', status: 'success', duration: 61, clientNumber: '79997770001', callTime: at, yaClid: '1716195600123456789' };
    // what CallKeeper's JSON says, as text: the ClientID as a bare number, the duration as a number no call has
    const raw = [
      JSON.stringify(big).replace('"yaClid":"1716195600123456789"', '"yaClid": 1716195600123456789'),
      JSON.stringify({ ...big, universalId: 'huge-duration', yaClid: '', clientNumber: '79997770002' }).replace('"duration":61', '"duration":1e308'),
      JSON.stringify({ ...big, universalId: 'rounded-clid', clientNumber: '79997770003' }).replace('"yaClid":"1716195600123456789"', '"yaClid":1.7161956001234568e18'),
    ];
    return scenario(SMALL, async ({ world, exactlyOnce }) => {
      world.ck.rule({
        match: (r) => r.info.page === 0,
        action: { type: 'transform', body: (text) => `${text.replace(/\]\s*$/, '')},${raw.join(',')}]` },
        times: Infinity,
      });
      const r = await world.run(['sync']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/fetched 303 calls \(\d+ new\) in 1 page · 2 malformed ·/);
      expect(r.stderr).toMatch(/a call from CallKeeper was skipped: call huge-duration has a duration that is not a talk time in seconds: "1e\+308"/);
      expect(r.stderr).toMatch(/a call from CallKeeper was skipped: call rounded-clid has a yaClid that lost digits as a JSON number \(1716195600123456800\)/);
      expect(world.metrika.rows(11, 'calls').filter((x) => x.PhoneNumber?.startsWith('+7999777'))).toEqual([
        expect.objectContaining({ PhoneNumber: '+79997770001', ClientId: '1716195600123456789', StaticCall: '0' }),
      ]);
      expect(world.metrika.rows(11, 'conversions').filter((x) => x.ClientId === '1716195600123456789')).toHaveLength(1);
      exactlyOnce([...SMALL, big]);
    });
  });

  it('the same universalId on two pages: one delivery, in the state of the later page', () =>
    scenario(PAGED, async ({ world, exactlyOnce }) => {
      const seen: { last: Record<string, unknown> } = { last: {} };
      world.ck.rule({
        match: (r) => r.info.page === 0,
        action: {
          type: 'transform',
          body: (text) => {
            const page = JSON.parse(text) as Record<string, unknown>[];
            seen.last = page[page.length - 1]!;
            return text;
          },
        },
      });
      world.ck.rule({
        match: (r) => r.info.page === 1,
        action: {
          type: 'transform',
          body: (text) => JSON.stringify([...(JSON.parse(text) as unknown[]), { ...seen.last, status: 'fail', duration: 0 }]),
        },
      });
      const r = await world.run(['sync']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/fetched 2601 calls \(2600 new\)/);
      const copy: Record<string, unknown> = { ...seen.last, status: 'fail', duration: 0 };
      exactlyOnce([...PAGED, copy]); // the oracle lets a later copy of an id win
      const id = String(copy.universalId);
      expect(world.query(`SELECT kind, state FROM delivery_view WHERE call_id = ? AND counter_id = 11 ORDER BY kind`, id)).toEqual([
        { kind: 'call', state: 'sent' },
        expect.objectContaining({ kind: 'conversion' }),
      ]);
    }));

  it('a call whose status changes between runs is sent once, in its final state; a change after that sends nothing', () => {
    const inProgress = {
      universalId: 'cb-in-progress',
      serviceType: 'callback',
      status: 'fail',
      statusFirst: 1,
      statusSecond: 0,
      duration: 0,
      clientNumber: '79995550001',
      callTime: moscow(NOW_UNIX - 30 * 3600), // older than the 24 h look-back: only the waiting call pulls the window back
      yaClid: '1716000000111',
      tags: [],
    };
    const scheduled = { ...inProgress, universalId: 'cb-scheduled', statusFirst: 2, clientNumber: '79995550002', callTime: moscow(NOW_UNIX - 2 * 3600) };
    // 707/0: «Звонок в ожидании обновления статуса» (telephony/callstatus.md) — not final either
    const awaiting = { ...inProgress, universalId: 'cb-awaiting', statusFirst: 707, clientNumber: '79995550003', callTime: moscow(NOW_UNIX - 3 * 3600), yaClid: '' };
    return scenario([...SMALL, inProgress, scheduled, awaiting], async ({ world, setClock }) => {
      const run = async (hours: number) => {
        setClock((NOW_UNIX + hours * 3600) * 1000);
        const r = await world.run(['sync'], { CKYM_NOW: new Date((NOW_UNIX + hours * 3600) * 1000).toISOString() });
        expect(r.code, r.stderr).toBe(0);
      };
      const mine = () =>
        world.metrika
          .rows(11, 'calls')
          .filter((x) => x.PhoneNumber?.startsWith('+7999555000'))
          .sort((a, b) => (a.PhoneNumber! < b.PhoneNumber! ? -1 : 1));

      await run(0);
      expect(
        world.query(`SELECT call_id, reason FROM delivery_view WHERE call_id LIKE 'cb-%' AND counter_id = 11 AND kind = 'call' ORDER BY call_id`),
      ).toEqual([
        { call_id: 'cb-awaiting', reason: 'awaiting-status' },
        { call_id: 'cb-in-progress', reason: 'in-progress' },
        { call_id: 'cb-scheduled', reason: 'scheduled' },
      ]);
      expect(mine()).toEqual([]);

      world.callkeeper.updateCall('cb-in-progress', { statusFirst: 200, statusSecond: 200, status: 'success', duration: 77, tags: ['итог'] });
      world.callkeeper.updateCall('cb-scheduled', { statusFirst: 200, statusSecond: 200, status: 'success', duration: 12 });
      world.callkeeper.updateCall('cb-awaiting', { statusFirst: 200, statusSecond: 487, status: 'fail' });
      await run(1);
      const sent = [
        expect.objectContaining({ PhoneNumber: '+79995550001', TalkDuration: '77', CallMissed: '0', Tag: 'итог' }),
        expect.objectContaining({ PhoneNumber: '+79995550002', TalkDuration: '12' }),
        expect.objectContaining({ PhoneNumber: '+79995550003', TalkDuration: '0', CallMissed: '1' }),
      ];
      expect(mine()).toEqual(sent);

      // CallKeeper edits a call already sent (inside the look-back, so the next run fetches it again): nothing more is sent
      world.callkeeper.updateCall('cb-scheduled', { duration: 99, status: 'fail', tags: ['позже'] });
      await run(2);
      expect(mine()).toEqual(sent);
      expect(world.metrika.rows(11, 'conversions').filter((x) => x.ClientId === '1716000000111')).toHaveLength(2);
    });
  });
});
