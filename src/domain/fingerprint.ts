/**
 * A no-op proportional to what changed (issue 14.2): a call fetched again exactly as it was, under the same
 * settings, would be decided exactly as it was — so it is not decided again.
 *
 * A call's fingerprint digests what CallKeeper sent for it (every field, as sent) and the settings its decisions
 * depend on (the time zone, settling, the longest wait, and each counter the run decides for, in order). It is
 * kept only when none of the call's decisions depends on the time it was made at: a call with a decision waiting
 * (settling, in the future, a callback not over yet — time alone may end the wait) or malformed (checked against
 * the window it was fetched in) keeps none, and is decided again each time it is fetched. Pending, batched, sent,
 * failed and skipped decisions are what the same call and the same settings always give again.
 */
import { hash } from 'node:crypto';
import type { CounterSettings } from './types.js';
import { MAX_WAIT_HOURS } from './finality.js';

export interface FingerprintSettings {
  timezone: string;
  settleMinutes: number;
  maxWaitHours?: number | undefined;
  /** The points `sync --adopt` set, per counter: a call at or before one is skipped as `adopted`. */
  adopted?: readonly unknown[];
}

/** The settings a run decides by, as one string: any change (a price, a site, a counter added) changes it. */
export function settingsFingerprint(counters: readonly CounterSettings[], settings: FingerprintSettings): string {
  return digest(JSON.stringify([settings.timezone, settings.settleMinutes, settings.maxWaitHours ?? null, counters, settings.adopted ?? []]));
}

/** A call as CallKeeper sent it, under `settings` (a `settingsFingerprint`). */
export function callFingerprint(raw: unknown, settings: string): string {
  return digest(`${settings}\n${JSON.stringify(raw)}`);
}

/** Whether decisions in these states may be kept with a fingerprint: none waits on time, none depends on the window. */
export function fingerprintHolds(states: Iterable<string>): boolean {
  for (const s of states) if (s === 'waiting' || s === 'malformed') return false;
  return true;
}

/**
 * From when (unix seconds) a call fetched by a run ending at `to` is worth its fingerprint: later runs fetch again
 * the next look-back window and the neighbours of calls still waited on (at most `maxWaitHours` back, 72 by
 * default). An older call is fetched again only beside a row held for days (a kind whose switch is off) and is then
 * decided again, as a call without a fingerprint always is. Digesting every call of a backfill was a tenth of its CPU.
 */
export function fingerprintsFrom(to: number, sync: { lookbackHours: number; maxWaitHours?: number | undefined }): number {
  return to - Math.max(sync.lookbackHours, sync.maxWaitHours ?? MAX_WAIT_HOURS) * 3600;
}

/** SHA-256, one shot (a third of what a Hash object per call costs: a no-op digests every call it fetches again). */
function digest(text: string): string {
  return hash('sha256', text, 'base64').slice(0, 22);
}
