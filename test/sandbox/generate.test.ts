import { describe, expect, it } from 'vitest';
import { DEFAULT_SITES, generateCalls, generateCounters, mulberry32, TAG_POOL } from '../../src/sandbox/generate.js';
import { callTimeToUnix, phoneNumber, siteHost } from '../support/oracle.js';

const NOW = Date.UTC(2024, 4, 10, 9, 30, 0) / 1000; // 12:30 in Moscow
const opts = { count: 1500, seed: 42, nowUnix: NOW, days: 14 };

describe('generateCalls', () => {
  const calls = generateCalls(opts);

  it('is deterministic: same options, same calls; another seed, other calls', () => {
    expect(JSON.stringify(generateCalls(opts))).toBe(JSON.stringify(calls));
    expect(JSON.stringify(generateCalls({ ...opts, seed: 43 }))).not.toBe(JSON.stringify(calls));
    const a = mulberry32(7);
    const b = mulberry32(7);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });

  it('makes count calls with unique universalIds, oldest first, all within the window', () => {
    expect(calls).toHaveLength(1500);
    const ids = calls.map((c) => c.universalId);
    expect(new Set(ids).size).toBe(1500);
    expect(ids.every((id) => typeof id === 'string' && /^\d{16}$/.test(id))).toBe(true);
    const times = calls.map((c) => callTimeToUnix(String(c.callTime), 'Europe/Moscow')!);
    expect(times.every((t) => t !== null && t >= NOW - 14 * 86_400 && t <= NOW)).toBe(true);
    expect([...times].sort((x, y) => x - y)).toEqual(times);
  });

  it('has a call exactly at local midnight', () => {
    const midnight = calls.filter((c) => String(c.callTime).endsWith(' 00:00:00'));
    expect(midnight.length).toBeGreaterThanOrEqual(1);
    expect(midnight.some((c) => c.callTime === '2024-05-10 00:00:00')).toBe(true);
    // Also in another zone and for a tiny history.
    const small = generateCalls({ count: 3, seed: 1, nowUnix: NOW, days: 1, timeZone: 'Asia/Yekaterinburg' });
    expect(small.some((c) => c.callTime === '2024-05-10 00:00:00')).toBe(true);
  });

  it('mixes service types roughly 35/60/5', () => {
    const share = (t: string): number => calls.filter((c) => c.serviceType === t).length / calls.length;
    expect(share('callback')).toBeGreaterThan(0.28);
    expect(share('callback')).toBeLessThan(0.42);
    expect(share('calltracking')).toBeGreaterThan(0.52);
    expect(share('calltracking')).toBeLessThan(0.68);
    expect(share('import')).toBeGreaterThan(0.02);
    expect(share('import')).toBeLessThan(0.09);
  });

  it('has in-progress (1/0) and scheduled (2/0) callbacks, only among the newest calls', () => {
    const pair = (c: Record<string, unknown>): string => `${Number(c.statusFirst)}/${Number(c.statusSecond)}`;
    const unfinished = calls.map((c, i) => ({ c, i })).filter(({ c }) => ['1/0', '2/0'].includes(pair(c)));
    expect(unfinished.some(({ c }) => pair(c) === '1/0')).toBe(true);
    expect(unfinished.some(({ c }) => pair(c) === '2/0')).toBe(true);
    expect(unfinished.every(({ c }) => c.serviceType === 'callback')).toBe(true);
    expect(unfinished.every(({ i }) => i >= calls.length * 0.95 - 1)).toBe(true);
    // Guaranteed even for a small history.
    const small = generateCalls({ ...opts, count: 10, seed: 5 });
    expect(small.some((c) => pair(c) === '1/0')).toBe(true);
    expect(small.some((c) => pair(c) === '2/0')).toBe(true);
  });

  it('spells the visited site both ways', () => {
    const visit = calls.filter((c) => 'visitSite' in c).length;
    const site = calls.filter((c) => 'siteVisit' in c).length;
    expect(visit / calls.length).toBeGreaterThan(0.2);
    expect(visit / calls.length).toBeLessThan(0.4);
    expect(visit + site).toBe(calls.length);
  });

  it('draws sites from the list, in varied spellings, some as full URLs', () => {
    const sites = calls.map((c) => String(c.site));
    expect(sites.some((s) => s.startsWith('https://www.'))).toBe(true);
    expect(sites).toContain('www.Shop.example');
    const allowed = new Set(DEFAULT_SITES.map(siteHost));
    expect(sites.filter((s) => s !== '').every((s) => allowed.has(siteHost(s)))).toBe(true);
    const custom = generateCalls({ ...opts, count: 50, sites: ['a.test'] });
    expect(custom.filter((c) => c.site !== '').every((c) => siteHost(String(c.site)) === 'a.test')).toBe(true);
  });

  it('writes phone numbers in mixed formats that all normalise to a valid Metrica PhoneNumber', () => {
    const numbers = calls.map((c) => String(c.clientNumber));
    expect(numbers.some((n) => /^79\d{9}$/.test(n))).toBe(true);
    expect(numbers.some((n) => /^89\d{9}$/.test(n))).toBe(true);
    expect(numbers.some((n) => n.startsWith('+7 (9'))).toBe(true);
    expect(numbers.some((n) => /^9\d{9}$/.test(n))).toBe(true);
    expect(numbers).toContain('');
    for (const n of numbers) {
      const phone = phoneNumber(n);
      expect(phone === '' || /^\+\d{5,15}$/.test(phone)).toBe(true);
    }
  });

  it('uses booleans, "1"/"0" strings and 1/0 numbers for the flags', () => {
    const kinds = new Set(calls.map((c) => typeof c.unique));
    expect(kinds).toEqual(new Set(['boolean', 'string', 'number']));
    expect(calls.some((c) => c.target === '1')).toBe(true);
    expect(calls.some((c) => c.uniqueTarget === true)).toBe(true);
  });

  it('sends about 10% of the numbers as strings', () => {
    const stringy = calls.filter((c) => typeof c.duration === 'string').length / calls.length;
    expect(stringy).toBeGreaterThan(0.05);
    expect(stringy).toBeLessThan(0.15);
    expect(calls.every((c) => /^\d+$/.test(String(c.duration)))).toBe(true);
  });

  it('keeps durations realistic: up to ~900 s, many zero for failed calls', () => {
    const durations = calls.map((c) => Number(c.duration));
    expect(Math.max(...durations)).toBeLessThanOrEqual(900);
    expect(Math.max(...durations)).toBeGreaterThan(600);
    const failed = calls.filter((c) => c.status === 'fail');
    expect(failed.filter((c) => Number(c.duration) === 0).length / failed.length).toBeGreaterThan(0.8);
    expect(calls.every((c) => c.status === 'success' || c.status === 'fail')).toBe(true);
  });

  it('gives ~70% of calls a Metrica-like ClientID', () => {
    const withClid = calls.filter((c) => c.yaClid !== '');
    expect(withClid.length / calls.length).toBeGreaterThan(0.6);
    expect(withClid.length / calls.length).toBeLessThan(0.75);
    expect(withClid.every((c) => /^1[67]\d{17}$/.test(String(c.yaClid)))).toBe(true);
  });

  it('fills tags (with empty arrays and the tricky comma-and-quotes tag), URLs, utm and recordings', () => {
    const tagged = calls.filter((c) => Array.isArray(c.tags));
    expect(tagged.some((c) => (c.tags as string[]).length === 0)).toBe(true);
    expect(tagged.some((c) => (c.tags as string[]).includes('Реклама, "Директ"'))).toBe(true);
    expect(tagged.every((c) => (c.tags as string[]).every((t) => TAG_POOL.includes(t)))).toBe(true);
    expect(calls.some((c) => String(c.entryPointQuery).includes('yclid='))).toBe(true);
    expect(calls.some((c) => c.utm_source === 'yandex')).toBe(true);
    expect(calls.some((c) => String(c.recordUrl).endsWith('.mp3'))).toBe(true);
    expect(calls.some((c) => typeof c.callPage === 'string' && c.callPage !== '')).toBe(true);
    // A few untidy calls: a null or a missing field.
    expect(calls.some((c) => c.recordUrl === null)).toBe(true);
    expect(calls.some((c) => !('callPage' in c))).toBe(true);
  });

  it('stuckShare leaves that share of callbacks, over the whole history, unfinished for ever; the other calls are unchanged', () => {
    const base = generateCalls({ count: 20_000, seed: 9, nowUnix: NOW, days: 365 });
    const stuck = generateCalls({ count: 20_000, seed: 9, nowUnix: NOW, days: 365, stuckShare: 0.01 });
    const unfinished = (c: Record<string, unknown>) => Number(c.statusSecond) === 0 && [1, 2].includes(Number(c.statusFirst));
    const changed = stuck.filter((c, i) => JSON.stringify(c) !== JSON.stringify(base[i]));
    expect(changed.every((c) => c.serviceType === 'callback' && unfinished(c) && Number(c.duration) === 0)).toBe(true);
    const callbacks = base.filter((c) => c.serviceType === 'callback').length;
    expect(changed.length).toBeGreaterThan(callbacks * 0.006);
    expect(changed.length).toBeLessThan(callbacks * 0.014);
    // spread over the history, not only the newest calls
    const months = new Set(changed.map((c) => String(c.callTime).slice(0, 7)));
    expect(months.size).toBeGreaterThanOrEqual(12);
    expect(() => generateCalls({ count: 10, seed: 1, nowUnix: NOW, days: 1, stuckShare: 2 })).toThrow(/stuckShare/);
  });
});

describe('generateCounters', () => {
  it('seeds own, edit, view and a counter without call linking, with JS-event goals', () => {
    const counters = generateCounters();
    expect(counters.map((c) => c.permission)).toEqual(['own', 'edit', 'view', 'own']);
    expect(counters.some((c) => c.callsLinking === false)).toBe(true);
    const urls = counters.flatMap((c) => c.goals ?? []).flatMap((g) => g.conditions.map((x) => x.url));
    expect(urls).toEqual(expect.arrayContaining(['calltracking_call_order', 'call']));
  });
});
