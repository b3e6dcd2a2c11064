import { afterEach, describe, expect, it } from 'vitest';
import { startCallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import type { CallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import { generateCalls, generateCounters } from '../../src/sandbox/generate.js';
import { startMetrikaEmulator } from '../../src/sandbox/metrika.js';
import type { MetrikaEmulator } from '../../src/sandbox/metrika.js';
import { callTimeToUnix, expectedRows, isFinal, phoneNumber, siteHost, sortRows, truthy } from '../support/oracle.js';
import type { OracleCounter } from '../support/oracle.js';
import { API_KEY, msk, TOKEN, toCsv, upload } from './helpers.js';

const NOW = msk('2024-05-10 12:00:00');
const OPTS = { nowUnix: NOW, timeZone: 'Europe/Moscow', settleMinutes: 10, fromUnix: NOW - 7 * 86_400, toUnix: NOW };

function counter(over: Partial<OracleCounter> = {}): OracleCounter {
  return {
    id: 1,
    callType: 'all',
    minDuration: 0,
    status: 'all',
    uniqueness: 'all',
    tags: { source: 'call', include: [], callback: '', incoming: '' },
    goal: '',
    sites: [],
    price: null,
    currency: 'RUB',
    ...over,
  };
}

function raw(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    universalId: 'u1',
    serviceType: 'calltracking',
    clientNumber: '89991234567',
    statusFirst: 200,
    statusSecond: 200,
    status: 'success',
    callTime: '2024-05-10 10:00:00',
    duration: 60,
    site: 'shop.example',
    siteVisit: '',
    unique: true,
    target: false,
    uniqueTarget: false,
    yaClid: '1714000000123456789',
    callPage: 'https://shop.example/call',
    entryPoint: 'https://shop.example/',
    recordUrl: 'https://ckct.ru/r/1.mp3',
    tags: ['SEO'],
    ...over,
  };
}

const rowsFor = (calls: Record<string, unknown>[], c: OracleCounter = counter(), opts = OPTS) => expectedRows(calls, [c], opts).get(c.id)!;

describe('oracle: the CSV mapping', () => {
  it('maps one call to one row', () => {
    expect(rowsFor([raw()]).calls).toEqual([
      {
        ClientId: '1714000000123456789',
        DateTime: String(msk('2024-05-10 10:00:00')),
        StaticCall: '0',
        PhoneNumber: '+79991234567',
        TalkDuration: '60',
        CallMissed: '0',
        FirstTimeCaller: '1',
        Tag: 'SEO',
        URL: 'https://shop.example/call',
        CallTrackerURL: 'https://ckct.ru/r/1.mp3',
      },
    ]);
  });

  it('no ClientID: static call, no conversion; URL falls back to entryPoint; string and null fields', () => {
    const out = rowsFor([raw({ yaClid: '', callPage: null, status: 'fail', unique: '0', duration: '0', recordUrl: null })], counter({ goal: 'calltracking_call_order' }));
    expect(out.calls[0]).toMatchObject({ ClientId: '', StaticCall: '1', CallMissed: '1', FirstTimeCaller: '0', TalkDuration: '0', URL: 'https://shop.example/', CallTrackerURL: '' });
    expect(out.conversions).toEqual([]);
  });

  it('conversions only with a goal and a ClientID; Price and Currency when a price is set', () => {
    const out = rowsFor([raw()], counter({ goal: 'calltracking_call_order', price: 1500, currency: 'RUB' }));
    expect(out.calls[0]).toMatchObject({ Price: '1500', Currency: 'RUB' });
    expect(out.conversions).toEqual([
      { ClientId: '1714000000123456789', Target: 'calltracking_call_order', DateTime: String(msk('2024-05-10 10:00:00')), Price: '1500', Currency: 'RUB' },
    ]);
    expect(rowsFor([raw()]).calls[0]).not.toHaveProperty('Price');
    expect(rowsFor([raw()]).conversions).toEqual([]);
  });

  it('phone numbers', () => {
    expect(phoneNumber('89991234567')).toBe('+79991234567');
    expect(phoneNumber('+7 (999) 123-45-67')).toBe('+79991234567');
    expect(phoneNumber('9991234567')).toBe('+79991234567');
    expect(phoneNumber('375291234567')).toBe('+375291234567');
    expect(phoneNumber('8 (800) 555-35-35')).toBe('+78005553535');
    expect(phoneNumber('anonymous')).toBe('');
    expect(phoneNumber('')).toBe('');
  });

  it('tags: fixed texts per call type, none, include lists, dedup', () => {
    const tags = (t: Partial<OracleCounter['tags']>, call: Record<string, unknown>) =>
      rowsFor([call], counter({ tags: { source: 'call', include: [], callback: '', incoming: '', ...t } })).calls[0]!.Tag;
    expect(tags({ callback: 'Обратный' }, raw({ serviceType: 'callback' }))).toBe('Обратный');
    expect(tags({ callback: 'Обратный' }, raw())).toBe('SEO');
    expect(tags({ incoming: 'Входящий' }, raw())).toBe('Входящий');
    expect(tags({ incoming: 'Входящий', source: 'none' }, raw({ serviceType: 'import' }))).toBe('');
    expect(tags({ source: 'none' }, raw())).toBe('');
    expect(tags({}, raw({ tags: ['SEO', 'Реклама, "Директ"', 'SEO'] }))).toBe('SEO, Реклама, "Директ"');
    expect(tags({ include: [' seo ', 'VIP'] }, raw({ tags: ['SEO', 'Директ', 'vip'] }))).toBe('SEO, vip');
    expect(tags({}, raw({ tags: [] }))).toBe('');
    expect(tags({}, raw({ tags: undefined }))).toBe('');
  });
});

describe('oracle: the filters', () => {
  const calls = [
    raw({ universalId: 'cb', serviceType: 'callback', duration: 10, status: 'fail', unique: 1 }),
    raw({ universalId: 'ct', serviceType: 'calltracking', duration: 200, target: 'true', uniqueTarget: 'true' }),
    raw({ universalId: 'im', serviceType: 'import', duration: 130, unique: false, target: '1' }),
  ];
  // The three durations differ, so TalkDuration tells the rows apart.
  const ids = (c: Partial<OracleCounter>): string[] =>
    expectedRows(calls, [counter(c)], OPTS).get(1)!.calls.map((r) => calls.find((x) => r.TalkDuration === String(x.duration))!.universalId as string);

  it.each([
    [{ callType: 'callback' }, ['cb']],
    [{ callType: 'incoming' }, ['ct']],
    [{ callType: 'all' }, ['cb', 'ct', 'im']],
    [{ minDuration: 130 }, ['ct', 'im']],
    [{ status: 'successful' }, ['ct', 'im']],
    [{ status: 'unsuccessful' }, ['cb']],
    [{ uniqueness: 'unique' }, ['cb', 'ct']],
    [{ uniqueness: 'target' }, ['ct', 'im']],
    [{ uniqueness: 'unique-target' }, ['ct']],
    [{ enabled: false }, []],
  ] as [Partial<OracleCounter>, string[]][])('%j → %j', (settings, expected) => {
    expect(ids(settings)).toEqual(expected);
  });

  it('sites: host of site or siteVisit/visitSite, without scheme, path, port, www. and case', () => {
    const take = (call: Record<string, unknown>, sites: string[]) => rowsFor([call], counter({ sites })).calls.length === 1;
    expect(take(raw({ site: 'https://www.Shop.example:443/page?x' }), ['shop.example'])).toBe(true);
    expect(take(raw({ site: 'other.example', siteVisit: 'www.shop.example' }), ['SHOP.example'])).toBe(true);
    expect(take(raw({ site: 'other.example', visitSite: 'shop.example' }), ['www.shop.example'])).toBe(true);
    expect(take(raw({ site: 'other.example' }), ['shop.example'])).toBe(false);
    expect(take(raw({ site: 'shop.example.evil' }), ['shop.example'])).toBe(false);
    expect(take(raw({ site: '' }), [])).toBe(true);
    expect(siteHost('HTTP://WWW.Blog.Example/')).toBe('blog.example');
  });

  it('booleans in every spelling', () => {
    for (const yes of [true, 1, '1', 'true', 'TRUE']) expect(truthy(yes)).toBe(true);
    for (const no of [false, 0, '0', 'false', '', null, undefined, 'yes']) expect(truthy(no)).toBe(false);
  });
});

describe('oracle: finality and the window', () => {
  it('waits for in-progress and scheduled callbacks, settling calls and future calls', () => {
    const at = msk('2024-05-10 11:45:00');
    const opts = { nowUnix: NOW, settleMinutes: 10 };
    expect(isFinal(raw({ serviceType: 'callback', statusFirst: 1, statusSecond: 0 }), at, opts)).toBe(false);
    expect(isFinal(raw({ serviceType: 'callback', statusFirst: '2', statusSecond: '0' }), at, opts)).toBe(false);
    expect(isFinal(raw({ serviceType: 'calltracking', statusFirst: 1, statusSecond: 0 }), at, opts)).toBe(true);
    expect(isFinal(raw({ duration: 300 }), at, opts)).toBe(true); // ended 11:50, 10 min ago
    expect(isFinal(raw({ duration: 301 }), at, opts)).toBe(false);
    expect(isFinal(raw({ duration: 0 }), NOW + 60, { nowUnix: NOW, settleMinutes: 0 })).toBe(false);
  });

  it('keeps calls inside [from, to], reads callTime in the configured zone, later copies win', () => {
    const calls = [
      raw({ universalId: 'a', callTime: '2024-05-03 12:00:00' }),
      raw({ universalId: 'b', callTime: '2024-05-03 11:59:59' }),
      raw({ universalId: 'c', callTime: 'garbage' }),
      raw({ universalId: 'a', callTime: '2024-05-03 12:00:00', duration: 99 }),
    ];
    const out = rowsFor(calls);
    expect(out.calls.map((r) => [r.DateTime, r.TalkDuration])).toEqual([[String(NOW - 7 * 86_400), '99']]);
    expect(callTimeToUnix('2024-05-01 00:00:00', 'Europe/Moscow')).toBe(1714510800);
    expect(callTimeToUnix('2024-05-01 00:00:00', 'Asia/Novosibirsk')).toBe(1714496400);
    expect(callTimeToUnix('2024-03-31 02:30:00', 'Europe/Berlin')).not.toBeNull();
    expect(callTimeToUnix('2024-10-27 12:00:00', 'Europe/Berlin')).toBe(Date.UTC(2024, 9, 27, 11) / 1000);
  });

  it('sorts rows by time, then universalId; sortRows gives a stable order for comparisons', () => {
    const calls = [raw({ universalId: 'b', clientNumber: '2' }), raw({ universalId: 'a', clientNumber: '1' }), raw({ universalId: 'c', callTime: '2024-05-10 09:00:00' })];
    const out = rowsFor(calls).calls;
    expect(out.map((r) => r.PhoneNumber)).toEqual(['+79991234567', '+1', '+2']);
    expect(sortRows([...out].reverse())).toEqual(sortRows(out));
  });
});

describe('sandbox end to end: generator → CallKeeper emulator → oracle → Metrica emulator', () => {
  let ck: CallKeeperEmulator | null = null;
  let ym: MetrikaEmulator | null = null;
  afterEach(async () => {
    await ck?.close();
    await ym?.close();
  });

  it('every page of the window comes back, and the oracle rows pass Metrica validation', async () => {
    const calls = generateCalls({ count: 2300, seed: 9, nowUnix: NOW, days: 10 });
    ck = await startCallKeeperEmulator({ apiKey: API_KEY, calls, now: () => NOW * 1000 });
    const fetched: Record<string, unknown>[] = [];
    for (let page = 0; ; page += 1) {
      const body = (await (await fetch(`${ck.url}?json/v3/${API_KEY}/call/get/${page}/${OPTS.fromUnix}/${OPTS.toUnix}`)).json()) as unknown;
      if (!Array.isArray(body)) {
        expect((body as { inbound: { error: string } }).inbound.error).toBe('Incorrect page is set');
        break;
      }
      fetched.push(...(body as Record<string, unknown>[]));
      if (body.length < 1000) break;
    }
    const inWindow = calls.filter((c) => {
      const t = callTimeToUnix(String(c.callTime), 'Europe/Moscow')!;
      return t >= OPTS.fromUnix && t <= OPTS.toUnix;
    });
    expect(fetched.length).toBe(inWindow.length);
    expect(new Set(fetched.map((c) => c.universalId))).toEqual(new Set(inWindow.map((c) => c.universalId)));

    const seeds = generateCounters();
    ym = await startMetrikaEmulator({ token: TOKEN, counters: seeds, now: () => NOW * 1000 });
    const shop = counter({ id: seeds[0]!.id, sites: ['shop.example'], goal: 'calltracking_call_order', price: 990.5, currency: 'RUB', tags: { source: 'call', include: [], callback: 'Обратный звонок', incoming: '' } });
    const blog = counter({ id: seeds[1]!.id, sites: ['blog.example'], callType: 'incoming', minDuration: 30 });
    const expected = expectedRows(fetched, [shop, blog], OPTS);
    for (const c of [shop, blog]) {
      const { calls: callRows, conversions } = expected.get(c.id)!;
      expect(callRows.length).toBeGreaterThan(20);
      const header = Object.keys(callRows[0]!);
      const res = await upload(ym.url, c.id, toCsv(header, callRows), { query: { comment: `e2e${c.id}` } });
      expect(res.json).not.toHaveProperty('errors');
      expect(sortRows(ym.rows(c.id, 'calls'))).toEqual(sortRows(callRows));
      if (conversions.length > 0) {
        const conv = await upload(ym.url, c.id, toCsv(Object.keys(conversions[0]!), conversions), { kind: 'conversions' });
        expect(conv.status).toBe(200);
        expect(ym.rows(c.id, 'conversions')).toEqual(conversions);
      }
    }
    expect(expected.get(shop.id)!.conversions.length).toBeGreaterThan(0);
    // Unfinished callbacks and settling calls were held back.
    const unfinished = fetched.filter((c) => c.serviceType === 'callback' && Number(c.statusSecond) === 0 && [1, 2].includes(Number(c.statusFirst)));
    expect(unfinished.length).toBeGreaterThan(0);
    expect(expectedRows(unfinished, [counter()], OPTS).get(1)!.calls).toEqual([]);
  });
});
