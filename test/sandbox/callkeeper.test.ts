import { afterEach, describe, expect, it } from 'vitest';
import { CALLKEEPER_ERRORS, startCallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import type { CallKeeperEmulator, CallKeeperEmulatorOptions } from '../../src/sandbox/callkeeper.js';
import { API_KEY, msk } from './helpers.js';

let emulator: CallKeeperEmulator | null = null;
afterEach(async () => {
  await emulator?.close();
  emulator = null;
});

async function start(opts: Partial<CallKeeperEmulatorOptions> = {}): Promise<CallKeeperEmulator> {
  emulator = await startCallKeeperEmulator({ apiKey: API_KEY, ...opts });
  return emulator;
}

function call(id: string, callTime: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { universalId: id, serviceType: 'calltracking', status: 'success', callTime, duration: 30, ...extra };
}

async function get(e: CallKeeperEmulator, query: string): Promise<{ status: number; text: string; json: any; type: string }> {
  const res = await fetch(`${e.url}?${query}`);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, type: res.headers.get('content-type') ?? '' };
}

const q = (page: number, from: number | string, to?: number | string, method = 'get', key = API_KEY): string =>
  `json/v3/${key}/call/${method}/${page}/${from}` + (to === undefined ? '' : `/${to}`);

const DAY = msk('2024-05-01 00:00:00');

describe('CallKeeper emulator: paging and windows', () => {
  it('serves 0-based pages of pageSize, sorted by callTime then universalId, then "Incorrect page is set"', async () => {
    const calls = [
      call('b', '2024-05-01 10:00:00'),
      call('a', '2024-05-01 10:00:00'),
      call('c', '2024-05-01 09:00:00'),
      call('d', '2024-05-01 11:00:00'),
      call('e', '2024-05-01 12:00:00'),
    ];
    const e = await start({ calls, pageSize: 2 });
    const ids = async (page: number): Promise<string[]> =>
      ((await get(e, q(page, DAY, DAY + 86_399))).json as { universalId: string }[]).map((c) => c.universalId);
    expect(await ids(0)).toEqual(['c', 'a']);
    expect(await ids(1)).toEqual(['b', 'd']);
    expect(await ids(2)).toEqual(['e']);
    const past = await get(e, q(3, DAY, DAY + 86_399));
    expect(past.status).toBe(200);
    expect(past.json).toMatchObject({ inbound: { error: 'Incorrect page is set' }, payload: [] });
    expect(past.json.info.types).toContain('json');
  });

  it('a full last page is followed by "Incorrect page is set"', async () => {
    const e = await start({ calls: [call('a', '2024-05-01 10:00:00'), call('b', '2024-05-01 11:00:00')], pageSize: 2 });
    expect((await get(e, q(0, DAY, DAY + 86_399))).json).toHaveLength(2);
    expect((await get(e, q(1, DAY, DAY + 86_399))).json.inbound.error).toBe(CALLKEEPER_ERRORS.wrongPage);
  });

  it('reads callTime as wall time in the account zone; from and to are inclusive unix seconds', async () => {
    const e = await start({ calls: [call('midnight', '2024-05-01 00:00:00'), call('late', '2024-05-01 23:59:59')] });
    expect(DAY).toBe(1714510800); // 2024-04-30T21:00:00Z
    expect((await get(e, q(0, DAY, DAY))).json.map((c: any) => c.universalId)).toEqual(['midnight']);
    expect((await get(e, q(0, DAY + 1, DAY + 86_399))).json.map((c: any) => c.universalId)).toEqual(['late']);
    expect((await get(e, q(0, DAY + 1, DAY + 86_398))).json.inbound.error).toBe('No rows found');
  });

  it('honours another time zone', async () => {
    const e = await start({ calls: [call('x', '2024-05-01 00:00:00')], timeZone: 'Asia/Novosibirsk' }); // UTC+7
    const utc = Date.UTC(2024, 3, 30, 17, 0, 0) / 1000;
    expect((await get(e, q(0, utc, utc))).json).toHaveLength(1);
    expect((await get(e, q(0, utc + 1, utc + 10))).json.inbound.error).toBe('No rows found');
  });

  it('to is optional and defaults to now; a trailing slash means the same', async () => {
    const now = msk('2024-05-02 12:00:00') * 1000;
    const e = await start({
      calls: [call('past', '2024-05-02 11:59:59'), call('future', '2024-05-02 12:00:01')],
      now: () => now,
    });
    expect((await get(e, q(0, DAY))).json.map((c: any) => c.universalId)).toEqual(['past']);
    expect((await get(e, `${q(0, DAY)}/`)).json.map((c: any) => c.universalId)).toEqual(['past']);
    expect(e.requests[0]).toMatchObject({ method: 'get', page: 0, from: DAY, to: null, status: 200 });
  });

  it('accepts Y-m-d for from (that midnight) and to (the end of that day)', async () => {
    const e = await start({
      calls: [
        call('before', '2024-04-30 23:59:59'),
        call('first', '2024-05-01 00:00:00'),
        call('last', '2024-05-02 23:59:59'),
        call('after', '2024-05-03 00:00:00'),
      ],
    });
    const res = await get(e, q(0, '2024-05-01', '2024-05-02'));
    expect(res.json.map((c: any) => c.universalId)).toEqual(['first', 'last']);
    expect(e.requests[0]!.from).toBe(DAY);
  });

  it('returns calls exactly as stored: string-typed fields, visitSite spelling, unknown fields', async () => {
    const raw = call('1', '2024-05-01 10:00:00', { duration: '152', unique: '1', visitSite: 'www.Shop.example', tags: ['a, b'], extra: null });
    const e = await start({ calls: [raw] });
    expect((await get(e, q(0, DAY, DAY + 86_399))).json).toEqual([raw]);
  });

  it('accepts get, getWithRole and getByRole, and also the index.php path', async () => {
    const e = await start({ calls: [call('1', '2024-05-01 10:00:00')] });
    for (const method of ['get', 'getWithRole', 'getByRole']) {
      expect((await get(e, q(0, DAY, DAY + 86_399, method))).json).toHaveLength(1);
    }
    const res = await fetch(`${e.url}index.php?${q(0, DAY, DAY + 86_399)}`);
    expect(await res.json()).toHaveLength(1);
  });

  it('setCalls replaces the history and updateCall patches one call', async () => {
    const e = await start({ calls: [call('1', '2024-05-01 10:00:00', { statusFirst: 1, statusSecond: 0 })] });
    e.updateCall('1', { statusFirst: 200, statusSecond: 200, callTime: '2024-05-01 10:30:00' });
    const [updated] = (await get(e, q(0, DAY, DAY + 86_399))).json;
    expect(updated).toMatchObject({ universalId: '1', statusFirst: 200, callTime: '2024-05-01 10:30:00', duration: 30 });
    expect(() => e.updateCall('nope', {})).toThrow(/nope/);
    e.setCalls([]);
    expect((await get(e, q(0, DAY, DAY + 86_399))).json.inbound.error).toBe('No rows found');
  });

  it('does not hand out the stored objects: mutating the input or an answer changes nothing', async () => {
    const raw = call('1', '2024-05-01 10:00:00');
    const e = await start({ calls: [raw] });
    raw.status = 'fail';
    expect((await get(e, q(0, DAY, DAY + 86_399))).json[0].status).toBe('success');
  });
});

describe('CallKeeper emulator: error envelopes', () => {
  const cases: [string, string, string][] = [
    ['format', `xml/v3/${API_KEY}/call/get/0/${DAY}`, 'Type to return is not available'],
    ['version', `json/v2/${API_KEY}/call/get/0/${DAY}`, 'It is wrong API version'],
    ['missing version', 'json', 'It is wrong API version'],
    ['key', `json/v3/wrongkey000000000/call/get/0/${DAY}`, 'User is not recognized'],
    ['missing key', 'json/v3', 'User is not recognized'],
    ['entity', `json/v3/${API_KEY}/calls/get/0/${DAY}`, 'Entity does not exist'],
    ['method', `json/v3/${API_KEY}/call/put/0/${DAY}`, 'Method does not exist'],
    ['page', `json/v3/${API_KEY}/call/get/first/${DAY}`, 'Incorrect page is set'],
    ['negative page', `json/v3/${API_KEY}/call/get/-1/${DAY}`, 'Incorrect page is set'],
    ['missing page', `json/v3/${API_KEY}/call/get`, 'Incorrect page is set'],
    ['from garbage', `json/v3/${API_KEY}/call/get/0/yesterday`, "Start date has wrong type. Possible format is 'Y-m-d' or timestamp"],
    ['from missing', `json/v3/${API_KEY}/call/get/0`, "Start date has wrong type. Possible format is 'Y-m-d' or timestamp"],
    ['from impossible date', `json/v3/${API_KEY}/call/get/0/2024-02-30`, "Start date has wrong type. Possible format is 'Y-m-d' or timestamp"],
    ['to garbage', `json/v3/${API_KEY}/call/get/0/${DAY}/now`, "Start date has wrong type. Possible format is 'Y-m-d' or timestamp"],
    ['empty account', `json/v3/${API_KEY}/call/get/0/${DAY}/${DAY + 10}`, 'No rows found'],
    ['empty account, page 3', `json/v3/${API_KEY}/call/get/3/${DAY}/${DAY + 10}`, 'No rows found'],
  ];
  it.each(cases)('%s → %s', async (_label, query, error) => {
    const e = await start();
    const res = await get(e, query);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/application\/json/);
    expect(res.json).toEqual({ inbound: { error }, info: expect.any(Object), payload: [] });
  });

  it('checks the documented order: format before version before key', async () => {
    const e = await start();
    expect((await get(e, 'xml/v2/bad/x/y/z/w')).json.inbound.error).toBe('Type to return is not available');
    expect((await get(e, 'json/v2/bad/x/y/z/w')).json.inbound.error).toBe('It is wrong API version');
    expect((await get(e, 'json/v3/bad/x/y/z/w')).json.inbound.error).toBe('User is not recognized');
  });

  it('never stores the API key; logs method, page, from, to and status', async () => {
    const e = await start({ calls: [call('1', '2024-05-01 10:00:00')] });
    await get(e, q(0, DAY, DAY + 100));
    await get(e, q(0, 'garbage'));
    expect(JSON.stringify(e.requests)).not.toContain(API_KEY);
    expect(e.requests[0]).toMatchObject({ method: 'get', httpMethod: 'GET', page: 0, from: DAY, to: DAY + 100, status: 200 });
    expect(e.requests[1]!.from).toBeNaN();
  });

  it('answers 404 elsewhere and 405 to a non-GET', async () => {
    const e = await start();
    expect((await fetch(e.url.replace('/api/', '/other'))).status).toBe(404);
    expect((await fetch(`${e.url}?${q(0, DAY)}`, { method: 'POST' })).status).toBe(405);
  });
});

describe('CallKeeper emulator: faults', () => {
  const calls = [call('a', '2024-05-01 10:00:00'), call('b', '2024-05-01 11:00:00'), call('c', '2024-05-01 12:00:00')];
  const window = (page: number): string => q(page, DAY, DAY + 86_399);

  it('status: HTML error pages for the given number of times, then normal service', async () => {
    const e = await start({ calls });
    e.inject({ type: 'status', status: 503, times: 2 });
    e.inject({ type: 'status', status: 502 });
    for (const status of [503, 503, 502]) {
      const res = await get(e, window(0));
      expect(res.status).toBe(status);
      expect(res.type).toMatch(/text\/html/);
      expect(res.text).toContain(`<h1>${status}`);
    }
    expect((await get(e, window(0))).json).toHaveLength(3);
    expect(e.requests.map((r) => r.status)).toEqual([503, 503, 502, 200]);
  });

  it('a page-scoped fault waits for its page', async () => {
    const e = await start({ calls, pageSize: 2 });
    e.inject({ type: 'status', status: 500, page: 1 });
    expect((await get(e, window(0))).status).toBe(200);
    expect((await get(e, window(1))).status).toBe(500);
    expect((await get(e, window(1))).json).toHaveLength(1);
  });

  it('html: 200 with an HTML page', async () => {
    const e = await start({ calls });
    e.inject({ type: 'html' });
    const res = await get(e, window(0));
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/text\/html/);
    expect(res.json).toBeUndefined();
  });

  it('garbage: 200 with text that is not JSON (labelled JSON, like a PHP warning)', async () => {
    const e = await start({ calls });
    e.inject({ type: 'garbage' });
    const res = await get(e, window(0));
    expect(res.status).toBe(200);
    expect(() => JSON.parse(res.text)).toThrow();
  });

  it('truncated: the first half of the real answer, also for envelopes', async () => {
    const e = await start({ calls });
    e.inject({ type: 'truncated', times: 2 });
    const res = await get(e, window(0));
    expect(() => JSON.parse(res.text)).toThrow();
    expect(JSON.stringify(calls)).toMatch(new RegExp(`^${escapeRe(res.text)}`));
    const envelope = await get(e, q(0, 'bad'));
    expect(() => JSON.parse(envelope.text)).toThrow();
    expect(envelope.text.startsWith('{"inbound":{"error":')).toBe(true);
  });

  it('empty-page: [] for that page only', async () => {
    const e = await start({ calls, pageSize: 2 });
    e.inject({ type: 'empty-page', page: 0 });
    expect((await get(e, window(1))).json).toHaveLength(1);
    expect((await get(e, window(0))).json).toEqual([]);
    expect((await get(e, window(0))).json).toHaveLength(2);
  });

  it('a window without calls is answered "No rows found" (the documented empty answer); empty-array answers [] instead', async () => {
    const e = await start({ calls });
    const empty = q(0, DAY + 86_400, DAY + 2 * 86_400);
    expect((await get(e, empty)).json).toMatchObject({ inbound: { error: CALLKEEPER_ERRORS.noRows }, payload: [] });
    e.inject({ type: 'empty-array' });
    expect((await get(e, window(0))).json).toHaveLength(3); // not spent on a window that has calls
    expect((await get(e, empty)).json).toEqual([]);
    expect((await get(e, empty)).json).toMatchObject({ inbound: { error: CALLKEEPER_ERRORS.noRows } });
  });

  it('ignore-page: every page asked is answered with page 0', async () => {
    const e = await start({ calls, pageSize: 2 });
    e.inject({ type: 'ignore-page', times: 2 });
    const ids = async (page: number) => ((await get(e, window(page))).json as { universalId: string }[]).map((c) => c.universalId);
    expect(await ids(1)).toEqual(['a', 'b']);
    expect(await ids(5)).toEqual(['a', 'b']);
    expect(await ids(1)).toEqual(['c']);
  });

  it('status with retryAfter sends a Retry-After header; redirect answers 3xx with a Location', async () => {
    const e = await start({ calls });
    e.inject({ type: 'status', status: 429, retryAfter: 30 });
    const limited = await fetch(`${e.url}?${window(0)}`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    e.inject({ type: 'redirect', status: 301, location: 'https://elsewhere.example/api/' });
    const moved = await fetch(`${e.url}?${window(0)}`, { redirect: 'manual' });
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe('https://elsewhere.example/api/');
    expect((await get(e, window(0))).json).toHaveLength(3);
  });

  it('envelope: the older {inbound,info,payload} shape with pageLength and ofPages', async () => {
    const e = await start({ calls, pageSize: 2 });
    e.inject({ type: 'envelope', times: 2 });
    const first = (await get(e, window(0))).json;
    expect(first.inbound).toMatchObject({ pageLength: 2, ofPages: 2, page: 0 });
    expect(first.inbound.error).toBeUndefined();
    expect(first.payload.map((c: any) => c.universalId)).toEqual(['a', 'b']);
    expect(JSON.stringify(first)).not.toContain(API_KEY);
    expect((await get(e, window(1))).json.payload).toHaveLength(1);
    expect(Array.isArray((await get(e, window(0))).json)).toBe(true);
  });

  it('envelope faults are not spent on error answers', async () => {
    const e = await start({ calls });
    e.inject({ type: 'envelope' });
    expect((await get(e, q(0, 'bad'))).json.inbound.error).toMatch(/Start date/);
    expect((await get(e, window(0))).json.payload).toHaveLength(3);
  });

  it('delay: answers late', async () => {
    const e = await start({ calls });
    e.inject({ type: 'delay', ms: 300 });
    const t0 = Date.now();
    expect((await get(e, window(0))).json).toHaveLength(3);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    const t1 = Date.now();
    await get(e, window(0));
    expect(Date.now() - t1).toBeLessThan(250);
  });

  it('counts requests in flight at once', async () => {
    const e = await start({ calls });
    await get(e, window(0));
    await get(e, window(0));
    expect(e.maxConcurrentRequests).toBe(1);
    e.inject({ type: 'delay', ms: 200, times: 2 });
    await Promise.all([get(e, window(0)), get(e, window(0))]);
    expect(e.maxConcurrentRequests).toBe(2);
  });

  it('delay combines with another fault', async () => {
    const e = await start({ calls });
    e.inject({ type: 'delay', ms: 100 });
    e.inject({ type: 'status', status: 504 });
    expect((await get(e, window(0))).status).toBe(504);
  });

  it('reset: the socket is destroyed without an answer', async () => {
    const e = await start({ calls });
    e.inject({ type: 'reset' });
    await expect(fetch(`${e.url}?${window(0)}`)).rejects.toThrow();
    expect(e.requests[0]!.status).toBe(0);
    expect((await get(e, window(0))).json).toHaveLength(3);
  });

  it('close() ends a request that is still being delayed', async () => {
    const e = await start({ calls });
    e.inject({ type: 'delay', ms: 60_000 });
    const pending = fetch(`${e.url}?${window(0)}`).then(
      () => 'answered',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 100));
    await e.close();
    emulator = null;
    expect(await pending).toBe('failed');
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
