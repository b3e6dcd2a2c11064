import { describe, expect, it } from 'vitest';
import { decide, normaliseHost } from '../../src/domain/decide.js';
import { aCall, aCounter } from './builders.js';

describe('normaliseHost', () => {
  it.each([
    ['shop.example', 'shop.example'],
    ['Shop.Example', 'shop.example'],
    ['www.shop.example', 'shop.example'],
    ['WWW.Shop.Example', 'shop.example'],
    ['https://www.shop.example/catalog?x=1#top', 'shop.example'],
    ['http://shop.example:8080/', 'shop.example'],
    ['shop.example:443', 'shop.example'],
    ['shop.example/path', 'shop.example'],
    ['shop.example?utm_source=x', 'shop.example'],
    ['//www.shop.example/a', 'shop.example'],
    ['https://user:pw@shop.example/', 'shop.example'],
    ['shop.example.', 'shop.example'],
    ['  https://m.shop.example  ', 'm.shop.example'],
    ['www2.shop.example', 'www2.shop.example'],
    ['wwwshop.example', 'wwwshop.example'],
    ['сайт.рф', 'xn--80aswg.xn--p1ai'],
    ['https://www.Сайт.РФ/каталог', 'xn--80aswg.xn--p1ai'],
    // A URL inside the query or path is not the site's scheme: only a scheme at the start is.
    ['shop.example/go?u=https://x.example', 'shop.example'],
    ['www.shop.example/redirect/http://x.example/', 'shop.example'],
    ['ftp+s.3-x://Shop.Example/', 'shop.example'],
    ['https://@shop.example/', 'shop.example'],
    ['http://[::1]:8080/', '[::1]'],
    ['/catalog', ''],
    ['?utm_source=x', ''],
    // a single-label internationalised name goes to punycode too
    ['пример', 'xn--e1afmkfd'],
    // ASCII names are compared as written: only non-ASCII ones go through IDNA (which would decode %-escapes)
    ['%73hop.example', '%73hop.example'],
    ['', ''],
    ['   ', ''],
  ])('%j → %j', (input, expected) => {
    expect(normaliseHost(input)).toBe(expected);
  });
});

describe('decide', () => {
  describe('callType', () => {
    it.each([
      ['all', 'callback', true],
      ['all', 'calltracking', true],
      ['all', 'import', true],
      ['callback', 'callback', true],
      ['callback', 'calltracking', false],
      ['callback', 'import', false],
      ['incoming', 'calltracking', true],
      ['incoming', 'callback', false],
      ['incoming', 'import', false],
    ] as const)('%s with a %s call → take %s', (callType, serviceType, take) => {
      const decision = decide(aCall({ serviceType }), aCounter({ callType }));
      expect(decision).toEqual(take ? { take: true } : { take: false, reason: 'call-type' });
    });
  });

  describe('minDuration', () => {
    it('0 takes every call, a missed 0-second one included', () => {
      expect(decide(aCall({ duration: 0, status: 'fail' }), aCounter({ minDuration: 0 }))).toEqual({ take: true });
    });
    it.each([
      [29, false],
      [30, true],
      [31, true],
    ])('minDuration 30, duration %i → take %s', (duration, take) => {
      const decision = decide(aCall({ duration }), aCounter({ minDuration: 30 }));
      expect(decision).toEqual(take ? { take: true } : { take: false, reason: 'min-duration' });
    });
  });

  describe('status', () => {
    it.each([
      ['all', 'success', true],
      ['all', 'fail', true],
      ['all', '', true],
      ['successful', 'success', true],
      ['successful', 'fail', false],
      ['successful', '', false],
      ['unsuccessful', 'fail', true],
      ['unsuccessful', 'success', false],
      ['unsuccessful', '', false],
    ] as const)('%s with a %j call → take %s', (status, callStatus, take) => {
      const decision = decide(aCall({ status: callStatus }), aCounter({ status }));
      expect(decision).toEqual(take ? { take: true } : { take: false, reason: 'status' });
    });
  });

  describe('uniqueness', () => {
    const flags = (unique: boolean, target: boolean, uniqueTarget: boolean) => ({ unique, target, uniqueTarget });
    it.each([
      ['all', flags(false, false, false), true],
      ['unique', flags(true, false, false), true],
      ['unique', flags(false, true, true), false],
      ['target', flags(false, true, false), true],
      ['target', flags(true, false, true), false],
      ['unique-target', flags(false, false, true), true],
      ['unique-target', flags(true, true, false), false],
    ] as const)('%s with %j → take %s', (uniqueness, callFlags, take) => {
      const decision = decide(aCall(callFlags), aCounter({ uniqueness }));
      expect(decision).toEqual(take ? { take: true } : { take: false, reason: 'uniqueness' });
    });
  });

  describe('sites', () => {
    it('an empty list takes any site, even none', () => {
      expect(decide(aCall({ site: 'other.example', siteVisit: '' }), aCounter({ sites: [] }))).toEqual({ take: true });
      expect(decide(aCall({ site: '', siteVisit: '' }), aCounter({ sites: [] }))).toEqual({ take: true });
    });

    it('a list of blanks only counts as empty: any site, even none', () => {
      const counter = aCounter({ sites: ['', '   '] });
      expect(decide(aCall({ site: 'other.example', siteVisit: '' }), counter)).toEqual({ take: true });
      expect(decide(aCall({ site: '', siteVisit: '' }), counter)).toEqual({ take: true });
    });

    it('matches the call site ignoring www., case, scheme and path', () => {
      const counter = aCounter({ sites: ['https://www.Shop.Example/'] });
      expect(decide(aCall({ site: 'shop.example', siteVisit: '' }), counter)).toEqual({ take: true });
      expect(decide(aCall({ site: 'WWW.SHOP.EXAMPLE', siteVisit: '' }), counter)).toEqual({ take: true });
      expect(decide(aCall({ site: 'http://www.shop.example/catalog?id=1', siteVisit: '' }), counter)).toEqual({ take: true });
    });

    it('matches on siteVisit when site does not match', () => {
      const counter = aCounter({ sites: ['shop.example'] });
      expect(decide(aCall({ site: 'other.example', siteVisit: 'https://www.shop.example/cart' }), counter)).toEqual({ take: true });
      expect(decide(aCall({ site: '', siteVisit: 'shop.example' }), counter)).toEqual({ take: true });
    });

    it('skips a call whose site and siteVisit match none of the counter sites', () => {
      const counter = aCounter({ sites: ['shop.example', 'blog.example'] });
      expect(decide(aCall({ site: 'other.example', siteVisit: 'third.example' }), counter)).toEqual({ take: false, reason: 'site' });
      expect(decide(aCall({ site: '', siteVisit: '' }), counter)).toEqual({ take: false, reason: 'site' });
      expect(decide(aCall({ site: 'm.shop.example', siteVisit: '' }), counter)).toEqual({ take: false, reason: 'site' });
      expect(decide(aCall({ site: 'blog.example', siteVisit: '' }), counter)).toEqual({ take: true });
    });

    it('reflects a counter whose sites array is replaced', () => {
      const counter = aCounter({ sites: ['a.example'] });
      const call = aCall({ site: 'b.example', siteVisit: '' });
      expect(decide(call, counter)).toEqual({ take: false, reason: 'site' });
      counter.sites = ['b.example'];
      expect(decide(call, counter)).toEqual({ take: true });
    });
  });

  it('tags never filter', () => {
    const counter = aCounter({ tags: { source: 'call', include: ['SEO'] } });
    expect(decide(aCall({ tags: ['Директ'] }), counter)).toEqual({ take: true });
    expect(decide(aCall({ tags: [] }), aCounter({ tags: { source: 'none' } }))).toEqual({ take: true });
  });

  describe('returns the first failing reason in the order call-type, min-duration, status, uniqueness, site', () => {
    const strict = aCounter({
      callType: 'callback',
      minDuration: 60,
      status: 'successful',
      uniqueness: 'unique',
      sites: ['shop.example'],
    });
    const failsAll = aCall({
      serviceType: 'calltracking',
      duration: 10,
      status: 'fail',
      unique: false,
      site: 'other.example',
      siteVisit: '',
    });
    it.each([
      [{}, 'call-type'],
      [{ serviceType: 'callback' }, 'min-duration'],
      [{ serviceType: 'callback', duration: 60 }, 'status'],
      [{ serviceType: 'callback', duration: 60, status: 'success' }, 'uniqueness'],
      [{ serviceType: 'callback', duration: 60, status: 'success', unique: true }, 'site'],
    ] as const)('fixing %j leaves %s', (fixes, reason) => {
      expect(decide({ ...failsAll, ...fixes }, strict)).toEqual({ take: false, reason });
    });
    it('and takes the call once every setting lets it through', () => {
      const fixed = { ...failsAll, serviceType: 'callback', duration: 60, status: 'success', unique: true, site: 'www.shop.example' };
      expect(decide(fixed, strict)).toEqual({ take: true });
    });
  });
});
