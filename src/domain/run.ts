/**
 * Decisions about a sync run as a whole: which time window to fetch, which calls can no longer be linked to a
 * visit, and what the run's outcome and exit code are. Pure: numbers in, numbers out.
 */
import { LINK_WINDOW_SECONDS } from './stats.js';

const DAY = 86_400;

/** A call waited on (or still to send) is re-checked at most this long after it was made: a call CallKeeper no longer returns must not cost a request in every run for ever. */
export const MAX_WAIT_DAYS = 60;

/** The time window of one fetch, unix seconds, both ends included. */
export interface FetchWindow {
  from: number;
  to: number;
}

export interface WindowInput {
  /** Unix seconds. */
  now: number;
  /** `--since`, unix seconds: replaces the start. */
  since?: number | undefined;
  /** Each counter's cursor (how far its last complete fetch reached), null for a counter never fetched. */
  cursors: readonly (number | null)[];
  initialDays: number;
  lookbackHours: number;
}

/** How old a call waited on may be and still be re-checked (`planRecheck`). */
export function waitHorizon(now: number): number {
  return now - MAX_WAIT_DAYS * DAY;
}

/**
 * The window one run fetches new calls from, for all its counters at once: from the earliest of each counter's
 * cursor minus the look-back (`initialDays` back for a counter never fetched) up to now. `--since` replaces the
 * start. Calls still waited on or still to send before it are re-checked through narrow windows (`planRecheck`).
 */
export function fetchWindow(input: WindowInput): FetchWindow {
  const { now } = input;
  if (input.since !== undefined) return { from: input.since, to: now };
  let from = now;
  for (const cursor of input.cursors) {
    const start = cursor === null ? now - input.initialDays * DAY : cursor - Math.round(input.lookbackHours * 3600);
    from = Math.min(from, start);
  }
  return { from, to: now };
}

/** Calls made before this moment (unix seconds) cannot be linked to a visit when uploaded at `uploadAt`: Metrica links a call to a visit at most 21 days old. */
export function linkCutoff(uploadAt: number): number {
  return uploadAt - LINK_WINDOW_SECONDS;
}

export type RunOutcome = 'ok' | 'partial' | 'failed';

/** One counter at the end of a run: the rows delivered to it, its error if it failed, the rows Metrica refused. */
export interface CounterResult {
  delivered: number;
  error: { exitCode: number } | null;
  /** Rows Metrica refused in this run, kept aside (they need the user: fix the cause, `sync --retry-failed`). */
  refused?: number | undefined;
}

/**
 * The outcome of a run that got through its fetch: `ok` (0) when no counter failed and Metrica refused no row;
 * `failed` (4) when counters failed only for a service being unavailable and nothing was delivered anywhere — the
 * run did not get through at all; otherwise `partial` (5): some counters failed, or some rows were refused and kept
 * aside, while the rest was delivered. Rows held (a linking switch off) or malformed do not change the outcome.
 */
export function runOutcome(counters: readonly CounterResult[]): { outcome: RunOutcome; exitCode: number } {
  const failed = counters.filter((c) => c.error !== null || (c.refused ?? 0) > 0);
  if (failed.length === 0) return { outcome: 'ok', exitCode: 0 };
  const delivered = counters.some((c) => c.error === null && c.delivered > 0);
  const unavailable = !delivered && failed.every((c) => c.error !== null && c.error.exitCode === 4 && !c.refused);
  return unavailable ? { outcome: 'failed', exitCode: 4 } : { outcome: 'partial', exitCode: 5 };
}
