import { describe, expect, it } from 'vitest';
import { pagesFor, planRecheck, type WaitingPoint } from '../../src/domain/recheck.js';

const PAGE = 1000;
const main = { from: 10_000, to: 20_000 };
const point = (time: number, after: number, at = 1): WaitingPoint => ({ time, at, after });

/** Requests a plan costs when CallKeeper holds exactly the known calls (each window paged from 0). */
function requests(plan: ReturnType<typeof planRecheck>, known: (from: number, to: number) => number): number {
  return [...plan.windows, plan.main].reduce((n, w) => n + pagesFor(known(w.from, w.to), PAGE), 0);
}

describe('planRecheck: waiting calls re-checked through the fewest narrow windows', () => {
  it('no waiting call: the main window alone, unchanged', () => {
    expect(planRecheck({ main, mainKnown: 137, points: [], pageSize: PAGE })).toEqual({ main, windows: [] });
  });

  it('the main window reaches back over waiting calls while its pages have room (137 calls leave 863)', () => {
    // 5 000 … 9 000: 1 + 300 + 1 + 400 = 702 calls before the main window, which holds 137: 839 ≤ 1000
    const plan = planRecheck({ main, mainKnown: 137, points: [point(5000, 300), point(9000, 400)], pageSize: PAGE });
    expect(plan).toEqual({ main: { from: 5000, to: 20_000 }, windows: [] });
  });

  it('only as far back as adds no page: the older waiting call gets a narrow window of its own', () => {
    const plan = planRecheck({ main, mainKnown: 137, points: [point(5000, 900), point(9000, 400)], pageSize: PAGE });
    expect(plan).toEqual({ main: { from: 9000, to: 20_000 }, windows: [{ from: 5000, to: 5000 }] });
  });

  it('a full main window takes nothing in; a main window of 1 500 calls has the room of two pages', () => {
    expect(planRecheck({ main, mainKnown: 1000, points: [point(9000, 0)], pageSize: PAGE }).windows).toEqual([{ from: 9000, to: 9000 }]);
    expect(planRecheck({ main, mainKnown: 1500, points: [point(9000, 499)], pageSize: PAGE })).toEqual({ main: { from: 9000, to: 20_000 }, windows: [] });
  });

  it('stuck calls spread over weeks: one window per page of known calls they span, not a re-fetch of everything since the oldest', () => {
    // 8 waiting calls, 100 known calls between each two; then 50 000 known calls before the main window
    const points = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => point(1000 + i * 100, i === 7 ? 50_000 : 100));
    const plan = planRecheck({ main: { from: 100_000, to: 200_000 }, mainKnown: 137, points, pageSize: PAGE });
    expect(plan.main).toEqual({ from: 100_000, to: 200_000 });
    expect(plan.windows).toEqual([{ from: 1000, to: 1700 }]); // 8 + 7 × 100 = 708 calls, one page
  });

  it('windows close when the next waiting call would take them past a page: the fewest requests, each window a page', () => {
    const points = Array.from({ length: 7 }, (_, i) => point(1000 + i * 10, 600));
    const plan = planRecheck({ main: { from: 100_000, to: 200_000 }, mainKnown: 1000, points, pageSize: PAGE });
    // 1 + 600 + 1 = 602 ≤ 1000, + 600 + 1 = 1203 > 1000: two per window
    expect(plan.windows).toEqual([
      { from: 1000, to: 1010 },
      { from: 1020, to: 1030 },
      { from: 1040, to: 1050 },
      { from: 1060, to: 1060 },
    ]);
  });

  it('two windows of 1 100 calls cost 4 requests, one of 2 300 over both 3: the plan takes the cheaper in requests, then in calls', () => {
    const full = 1000; // the main window has no room
    // 1 100 calls at each of two seconds (a burst), 100 between them
    const plan = planRecheck({ main, mainKnown: full, points: [point(5000, 100, 1100), point(5200, 0, 1100)], pageSize: PAGE });
    expect(plan).toEqual({ main, windows: [{ from: 5000, to: 5200 }] });
    // windows of 600: apart (1 + 1) or together (1 300 → 2) cost the same requests; apart fetches fewer calls
    expect(planRecheck({ main, mainKnown: full, points: [point(5000, 100, 600), point(5200, 0, 600)], pageSize: PAGE }).windows).toEqual([
      { from: 5000, to: 5000 },
      { from: 5200, to: 5200 },
    ]);
  });

  it('at equal requests the main window counts its own calls: reaching back over the newer point beats one window over both', () => {
    // points 5 000 (then 500 calls) and 9 000 (then 10), 900 calls in the main window. Three plans of 2 requests:
    // one narrow window over both (502 calls) + the main window (900) = 1 402 calls; the main window back to 9 000
    // (911) + a window at 5 000 (1) = 912; the main window back to 5 000 = 1 412. The fewest calls: 912.
    const plan = planRecheck({ main, mainKnown: 900, points: [point(5000, 500), point(9000, 10)], pageSize: PAGE });
    expect(plan).toEqual({ main: { from: 9000, to: 20_000 }, windows: [{ from: 5000, to: 5000 }] });
  });

  it('a second holding more calls than a page is one window of several pages (and takes in a neighbour for free)', () => {
    // 2 500 + 10 + 1 = 2 511 calls: 3 pages, one fewer request than 3 + 1 apart
    expect(planRecheck({ main, mainKnown: 1000, points: [point(5000, 10, 2500), point(6000, 10)], pageSize: PAGE }).windows).toEqual([{ from: 5000, to: 6000 }]);
    // 3 000 + 10 + 1: 4 pages together, 3 + 1 apart — the same requests, fewer calls apart
    expect(planRecheck({ main, mainKnown: 1000, points: [point(5000, 10, 3000), point(6000, 10)], pageSize: PAGE }).windows).toEqual([
      { from: 5000, to: 5000 },
      { from: 6000, to: 6000 },
    ]);
  });

  it('covers every waiting call, windows disjoint and in order, and never costs more requests than re-fetching from the oldest', () => {
    // a deterministic pseudo-random history: known call times, some of them waiting
    let seed = 7;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 200; round++) {
      const calls = Array.from({ length: 50 + Math.floor(rand() * 5000) }, () => Math.floor(rand() * 100_000)).sort((a, b) => a - b);
      const mainFrom = 60_000 + Math.floor(rand() * 40_000);
      const waiting = [...new Set(calls.filter((t) => t < mainFrom && rand() < 0.01))];
      const count = (from: number, to: number) => calls.filter((t) => t >= from && t <= to).length;
      const points = waiting.map((time, i) => ({ time, at: count(time, time), after: count(time + 1, (waiting[i + 1] ?? mainFrom) - 1) }));
      const m = { from: mainFrom, to: 100_000 };
      const plan = planRecheck({ main: m, mainKnown: count(m.from, m.to), points, pageSize: PAGE });
      const windows = [...plan.windows, plan.main];
      for (const t of waiting) expect(windows.some((w) => w.from <= t && t <= w.to)).toBe(true);
      windows.forEach((w, i) => i > 0 && expect(w.from).toBeGreaterThan(windows[i - 1]!.to));
      expect(plan.main.to).toBe(m.to);
      for (const w of plan.windows) expect(w.from === w.to || count(w.from, w.to) <= PAGE).toBe(true);
      // what the run cost before: one window from the oldest waiting call
      const before = pagesFor(count(waiting[0] ?? mainFrom, m.to), PAGE);
      expect(requests(plan, count)).toBeLessThanOrEqual(before);
      // and what greedy windows of at most a page each cost (the plan is never worse)
      let greedy = pagesFor(count(m.from, m.to), PAGE);
      for (let i = 0; i < waiting.length; ) {
        let j = i;
        while (j + 1 < waiting.length && count(waiting[i]!, waiting[j + 1]!) <= PAGE) j++;
        greedy += pagesFor(count(waiting[i]!, waiting[j]!), PAGE);
        i = j + 1;
      }
      expect(requests(plan, count)).toBeLessThanOrEqual(greedy);
    }
  });

  it('refuses points that are not before the main window, or not in order', () => {
    expect(() => planRecheck({ main, mainKnown: 0, points: [point(10_000, 0)], pageSize: PAGE })).toThrow(/not before/);
    expect(() => planRecheck({ main, mainKnown: 0, points: [point(2, 0), point(1, 0)], pageSize: PAGE })).toThrow(/ascending/);
  });
});

describe('planRecheck at its edges (mutation testing)', () => {
  it('a time given twice is refused; so is a page size that is not positive, by its value', () => {
    expect(() => planRecheck({ main, mainKnown: 0, points: [point(2, 0), point(2, 0)], pageSize: PAGE })).toThrow(
      new RangeError('waiting points must be in ascending time order, each once'),
    );
    expect(() => planRecheck({ main, mainKnown: 0, points: [point(9000, 0)], pageSize: 0 })).toThrow(new RangeError('page size must be positive, got 0'));
    expect(() => planRecheck({ main, mainKnown: 0, points: [], pageSize: Number.NaN })).toThrow(new RangeError('page size must be positive, got NaN'));
    expect(() => planRecheck({ main, mainKnown: 0, points: [point(10_000, 0)], pageSize: PAGE })).toThrow(
      new RangeError('waiting point 10000 is not before the main window (10000)'),
    );
  });

  it('pagesFor: a window with no known call still costs the one request that says "no rows"; a full page one, one more call two', () => {
    expect(pagesFor(0, PAGE)).toBe(1);
    expect(pagesFor(PAGE, PAGE)).toBe(1);
    expect(pagesFor(PAGE + 1, PAGE)).toBe(2);
  });
});
