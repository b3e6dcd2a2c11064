import { describe, expect, it } from 'vitest';
import { normaliseCall } from '../../src/domain/call.js';
import type { Call, RawCall } from '../../src/domain/types.js';
import { aRawCall, NOON_MSK } from './builders.js';

const MSK = 'Europe/Moscow';

function ok(raw: RawCall, tz = MSK): Call {
  const result = normaliseCall(raw, tz);
  if (!result.ok) throw new Error(`expected ok, got: ${result.problem}`);
  return result.call;
}

function problem(raw: RawCall): string {
  const result = normaliseCall(raw, MSK);
  if (result.ok) throw new Error('expected a problem');
  return result.problem;
}

describe('normaliseCall', () => {
  it('normalises a well-formed call', () => {
    expect(ok(aRawCall())).toEqual({
      id: 'u-1001',
      serviceType: 'calltracking',
      callTime: NOON_MSK,
      callTimeText: '2024-05-01 12:00:00',
      duration: 152,
      status: 'success',
      statusFirst: 0,
      statusSecond: 0,
      phone: '+79991234567',
      site: 'shop.example',
      siteVisit: 'shop.example',
      unique: true,
      target: true,
      uniqueTarget: true,
      clientId: '1714510800123456789',
      callPage: 'https://shop.example/catalog',
      entryPoint: 'https://shop.example/',
      entryPointQuery: 'https://shop.example/?utm_source=yandex&yclid=5417289076543210987',
      recordUrl: 'https://ckct.ru/record/1001.mp3',
      tags: ['Директ'],
    } satisfies Call);
  });

  it('maps every raw field to its own field (no two fields share a value here, so a swapped or missing one shows)', () => {
    const raw: RawCall = {
      universalId: 'u-7',
      serviceType: 'callback',
      clientNumber: '+375291234567',
      status: 'fail',
      statusFirst: 3,
      statusSecond: '5',
      callTime: '2024-05-01 12:00:00',
      duration: '41',
      site: 'a.example',
      siteVisit: 'b.example',
      visitSite: 'c.example',
      unique: '1',
      target: 0,
      uniqueTarget: 'yes',
      yaClid: '171451080011',
      callPage: 'https://a.example/page',
      entryPoint: 'https://a.example/entry',
      entryPointQuery: 'https://a.example/entry?yclid=42',
      recordUrl: 'https://ckct.ru/record/7.mp3',
      tags: 'x, y',
    };
    expect(ok(raw)).toEqual({
      id: 'u-7',
      serviceType: 'callback',
      callTime: NOON_MSK,
      callTimeText: '2024-05-01 12:00:00',
      duration: 41,
      status: 'fail',
      statusFirst: 3,
      statusSecond: 5,
      phone: '+375291234567',
      site: 'a.example',
      siteVisit: 'b.example',
      unique: true,
      target: false,
      uniqueTarget: true,
      clientId: '171451080011',
      callPage: 'https://a.example/page',
      entryPoint: 'https://a.example/entry',
      entryPointQuery: 'https://a.example/entry?yclid=42',
      recordUrl: 'https://ckct.ru/record/7.mp3',
      tags: ['x', 'y'],
    } satisfies Call);
    // Each leg's status is read from its own field: a callback waits for both legs (finality), so a leg read
    // from the wrong field would keep it waiting forever.
    expect(ok(aRawCall({ statusFirst: 2, statusSecond: 0 }))).toMatchObject({ statusFirst: 2, statusSecond: 0 });
    expect(ok(aRawCall({ statusFirst: 0, statusSecond: 2 }))).toMatchObject({ statusFirst: 0, statusSecond: 2 });
    expect(ok(aRawCall({ unique: false, target: true, uniqueTarget: false }))).toMatchObject({
      unique: false,
      target: true,
      uniqueTarget: false,
    });
  });

  it('reads callTime in the given time zone', () => {
    expect(ok(aRawCall({ callTime: '2024-05-01 00:00:00' })).callTime).toBe(1714510800);
    expect(ok(aRawCall({ callTime: '2024-05-01 00:00:00' }), 'UTC').callTime).toBe(1714521600);
    expect(ok(aRawCall({ callTime: '2024-07-01 12:00:00' }), 'Europe/Berlin').callTime).toBe(1719828000);
  });

  it('turns string-typed numbers and flags into numbers and booleans', () => {
    const call = ok(
      aRawCall({
        duration: '152',
        statusFirst: '1',
        statusSecond: '0',
        unique: '1',
        target: 'true',
        uniqueTarget: '0',
        clientNumber: 89991234567,
        universalId: 42,
      }),
    );
    expect(call.duration).toBe(152);
    expect(call.statusFirst).toBe(1);
    expect(call.statusSecond).toBe(0);
    expect(call.unique).toBe(true);
    expect(call.target).toBe(true);
    expect(call.uniqueTarget).toBe(false);
    expect(call.phone).toBe('+79991234567');
    expect(call.id).toBe('42');
  });

  it.each<[unknown, boolean]>([
    [true, true],
    [false, false],
    [1, true],
    [0, false],
    ['1', true],
    ['0', false],
    ['true', true],
    ['TRUE', true],
    [' true ', true],
    ['false', false],
    ['', false],
    [null, false],
    [undefined, false],
    ['yes', true],
    ['no', false],
    [[], false],
  ])('flag %j → %s', (value, expected) => {
    const call = ok(aRawCall({ unique: value, target: value, uniqueTarget: value }));
    expect([call.unique, call.target, call.uniqueTarget]).toEqual([expected, expected, expected]);
  });

  it.each<[unknown, number]>([
    [152, 152],
    ['152', 152],
    [' 152 ', 152],
    ['152.9', 152],
    ['', 0],
    ['abc', 0],
    [null, 0],
    [undefined, 0],
    [-5, 0],
    [Number.NaN, 0],
  ])('duration %j → %i', (value, expected) => {
    expect(ok(aRawCall({ duration: value })).duration).toBe(expected);
  });

  it('turns missing and null fields into empty values', () => {
    const call = ok({ universalId: 'u-1', callTime: '2024-05-01 12:00:00', site: null, tags: null, yaClid: null });
    expect(call).toEqual({
      id: 'u-1',
      serviceType: '',
      callTime: NOON_MSK,
      callTimeText: '2024-05-01 12:00:00',
      duration: 0,
      status: '',
      statusFirst: 0,
      statusSecond: 0,
      phone: '',
      site: '',
      siteVisit: '',
      unique: false,
      target: false,
      uniqueTarget: false,
      clientId: '',
      callPage: '',
      entryPoint: '',
      entryPointQuery: '',
      recordUrl: '',
      tags: [],
    } satisfies Call);
  });

  it('accepts both siteVisit and visitSite, preferring a non-empty siteVisit', () => {
    expect(ok(aRawCall({ siteVisit: undefined, visitSite: 'b.example' })).siteVisit).toBe('b.example');
    expect(ok(aRawCall({ siteVisit: 'a.example', visitSite: 'b.example' })).siteVisit).toBe('a.example');
    expect(ok(aRawCall({ siteVisit: '', visitSite: 'b.example' })).siteVisit).toBe('b.example');
    expect(ok(aRawCall({ siteVisit: undefined, visitSite: undefined })).siteVisit).toBe('');
  });

  it('takes yaClid as the ClientID, trimmed; 0 and empty mean unknown', () => {
    expect(ok(aRawCall({ yaClid: ' 1714510800123456789 ' })).clientId).toBe('1714510800123456789');
    expect(ok(aRawCall({ yaClid: '' })).clientId).toBe('');
    expect(ok(aRawCall({ yaClid: '0' })).clientId).toBe('');
    expect(ok(aRawCall({ yaClid: 0 })).clientId).toBe('');
    expect(ok(aRawCall({ yaClid: 1714510800123 })).clientId).toBe('1714510800123');
  });

  it('normalises clientNumber into the phone', () => {
    expect(ok(aRawCall({ clientNumber: '8 (999) 123-45-67' })).phone).toBe('+79991234567');
    expect(ok(aRawCall({ clientNumber: 'anonymous' })).phone).toBe('');
  });

  it.each<[unknown, string[]]>([
    [['Директ', 'SEO'], ['Директ', 'SEO']],
    [[' Директ ', '', '  ', 'SEO'], ['Директ', 'SEO']],
    [['a', 7, null, { name: 'x' }], ['a', '7']],
    ['Директ, SEO', ['Директ', 'SEO']],
    ['Директ,,SEO,', ['Директ', 'SEO']],
    ['', []],
    [undefined, []],
    [null, []],
    [0, []],
    [[], []],
  ])('tags %j → %j', (value, expected) => {
    expect(ok(aRawCall({ tags: value })).tags).toEqual(expected);
  });

  it('trims texts and lower-cases serviceType and status', () => {
    const call = ok(aRawCall({ serviceType: ' Callback ', status: 'FAIL', site: ' shop.example ' }));
    expect(call.serviceType).toBe('callback');
    expect(call.status).toBe('fail');
    expect(call.site).toBe('shop.example');
  });

  it('keeps the raw callTime text and accepts the T variant', () => {
    const call = ok(aRawCall({ callTime: '2024-05-01T12:00' }));
    expect(call.callTimeText).toBe('2024-05-01T12:00');
    expect(call.callTime).toBe(NOON_MSK);
  });

  it.each<[unknown]>([[undefined], [null], [''], ['   '], [0]])('fails without a universalId (%j)', (universalId) => {
    expect(problem(aRawCall({ universalId }))).toBe('the call has no universalId');
  });

  it('fails without a callTime, naming the call', () => {
    expect(problem(aRawCall({ callTime: undefined }))).toBe('call u-1001 has no callTime');
    expect(problem(aRawCall({ callTime: '' }))).toBe('call u-1001 has no callTime');
  });

  it('fails on an unreadable callTime, quoting it but not the whole call', () => {
    const text = problem(aRawCall({ callTime: '2024-02-30 10:00:00', clientNumber: '79990000000' }));
    expect(text).toBe('call u-1001 has a callTime that is not a "Y-m-d H:i:s" date: "2024-02-30 10:00:00"');
    expect(text).not.toContain('79990000000');
    expect(problem(aRawCall({ callTime: 'x'.repeat(40) }))).toBe(`call u-1001 has a callTime that is not a "Y-m-d H:i:s" date: "${'x'.repeat(40)}"`);
    expect(problem(aRawCall({ callTime: 'x'.repeat(100) }))).toBe(
      `call u-1001 has a callTime that is not a "Y-m-d H:i:s" date: "${'x'.repeat(40)}…"`,
    );
  });

  // Under mutation testing (npm run mutate) the sources are Stryker's instrumented copy, several times slower: a time says nothing there.
  it.skipIf('__stryker__' in globalThis)('normalises 100k calls quickly', () => {
    const raws = Array.from({ length: 100_000 }, (_, i) =>
      aRawCall({ universalId: `u-${i}`, callTime: `2024-05-${String(1 + (i % 28)).padStart(2, '0')} ${String(i % 24).padStart(2, '0')}:00:00` }),
    );
    const started = performance.now();
    let okCount = 0;
    for (const raw of raws) if (normaliseCall(raw, MSK).ok) okCount += 1;
    expect(okCount).toBe(100_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe('normaliseCall refuses what it cannot send truthfully (mutation testing)', () => {
  it('a yaClid that came as a JSON number past 2^53 lost digits: the call is refused, naming the number', () => {
    // 2^60 + 1 cannot be held by a double: JSON.parse rounds it (String() then shows 1152921504606847000)
    const rounded = JSON.parse('{"yaClid": 1152921504606846977}').yaClid as number;
    expect(problem(aRawCall({ yaClid: rounded }))).toBe('call u-1001 has a yaClid that lost digits as a JSON number (1152921504606847000)');
    expect(problem(aRawCall({ yaClid: 2 ** 53 }))).toBe('call u-1001 has a yaClid that lost digits as a JSON number (9007199254740992)');
    // the largest safe integer, and the same digits as text, are kept
    expect(ok(aRawCall({ yaClid: 2 ** 53 - 1 })).clientId).toBe('9007199254740991');
    expect(ok(aRawCall({ yaClid: '1152921504606846977' })).clientId).toBe('1152921504606846977');
  });

  it('a duration over a day is no talk time: refused with its text; exactly a day is kept', () => {
    expect(ok(aRawCall({ duration: 86_400 })).duration).toBe(86_400);
    expect(ok(aRawCall({ duration: '86400' })).duration).toBe(86_400);
    expect(problem(aRawCall({ duration: 86_401 }))).toBe('call u-1001 has a duration that is not a talk time in seconds: "86401"');
    expect(problem(aRawCall({ duration: '1e308' }))).toBe('call u-1001 has a duration that is not a talk time in seconds: "1e308"');
  });
});
