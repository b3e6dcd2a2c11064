/**
 * Re-checking the calls still waited on without re-fetching every call since the oldest of them (issue 14.1).
 *
 * New calls come from the run's main window (cursor minus the look-back, up to now). A waiting call older than that
 * is seen again through a narrow window of its own, planned from what the database knows: how many calls lie at and
 * between the waiting calls' times. The plan makes as few requests as cover every waiting call — each window holding
 * at most one page of known calls where that costs no request — and lets the main window reach back over waiting
 * calls as long as that adds no page to it.
 * Pure: numbers in, windows out.
 */
import type { FetchWindow } from './run.js';

/** One moment some waiting call was made at, with the known calls around it. */
export interface WaitingPoint {
  /** Unix seconds: the time of one or more waiting calls. */
  time: number;
  /** Known calls made at exactly `time` (the waiting ones among them): at least 1. */
  at: number;
  /** Known calls made after `time` and before the next point's time (the last point: before the main window's start). */
  after: number;
}

export interface RecheckInput {
  /** The window new calls come from. */
  main: FetchWindow;
  /** Known calls inside the main window. */
  mainKnown: number;
  /** The waiting calls' times before `main.from`, oldest first, each time once. */
  points: readonly WaitingPoint[];
  pageSize: number;
}

export interface RecheckPlan {
  /** The main window, reaching back over the newest waiting calls when that costs it no page. */
  main: FetchWindow;
  /** The narrow windows, oldest first, disjoint from each other and from `main`. */
  windows: FetchWindow[];
}

/** Pages a window of `calls` known calls takes (at least the one request that says "no rows"). */
export function pagesFor(calls: number, pageSize: number): number {
  return Math.max(1, Math.ceil(calls / pageSize));
}

/**
 * The windows one run fetches: the fewest requests (each window is paged from 0 on its own: `pagesFor` its known
 * calls) that cover every waiting call, and of those plans the one fetching the fewest calls — so a window holds at
 * most a page where splitting it costs no request, and the main window reaches back over the newest waiting calls
 * while its pages have room (a look-back of 137 calls has room for 863 more in its one page). Re-fetching everything
 * since the oldest waiting call is one of the plans weighed, so a plan never costs more requests than that did.
 * A window spans exactly from its first waiting call to its last. Exact over the known calls, O(points²).
 */
export function planRecheck(input: RecheckInput): RecheckPlan {
  const { points, pageSize } = input;
  if (!(pageSize > 0)) throw new RangeError(`page size must be positive, got ${pageSize}`);
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (p.time >= input.main.from) throw new RangeError(`waiting point ${p.time} is not before the main window (${input.main.from})`);
    if (i > 0 && p.time <= points[i - 1]!.time) throw new RangeError('waiting points must be in ascending time order, each once');
  }
  const n = points.length;
  // before[i]: known calls from the first point's time up to (not including) point i's; before[n]: up to main.from.
  const before = [0];
  for (const p of points) before.push(before[before.length - 1]! + p.at + p.after);
  const span = (i: number, j: number) => before[j]! + points[j]!.at - before[i]!; // calls in [t_i, t_j]

  // best[j]: the cheapest cover of points 0 … j−1 by narrow windows, as (requests, calls fetched), and where its
  // last window starts.
  const best: { requests: number; calls: number; from: number }[] = [{ requests: 0, calls: 0, from: -1 }];
  const better = (a: { requests: number; calls: number }, b: { requests: number; calls: number }) =>
    a.requests < b.requests || (a.requests === b.requests && a.calls < b.calls);
  for (let j = 1; j <= n; j++) {
    let pick = { requests: Infinity, calls: Infinity, from: -1 };
    for (let i = j - 1; i >= 0; i--) {
      const calls = span(i, j - 1);
      const option = { requests: best[i]!.requests + pagesFor(calls, pageSize), calls: best[i]!.calls + calls, from: i };
      if (better(option, pick)) pick = option;
    }
    best.push(pick);
  }
  // The main window takes points k … n−1 (none when k = n).
  let k = n;
  let cost = { requests: best[n]!.requests + pagesFor(input.mainKnown, pageSize), calls: best[n]!.calls + input.mainKnown };
  for (let m = n - 1; m >= 0; m--) {
    const calls = input.mainKnown + before[n]! - before[m]!;
    const option = { requests: best[m]!.requests + pagesFor(calls, pageSize), calls: best[m]!.calls + calls };
    if (better(option, cost)) {
      cost = option;
      k = m;
    }
  }
  const windows: FetchWindow[] = [];
  for (let j = k; j > 0; j = best[j]!.from) windows.unshift({ from: points[best[j]!.from]!.time, to: points[j - 1]!.time });
  return { main: k < n ? { from: points[k]!.time, to: input.main.to } : { ...input.main }, windows };
}
