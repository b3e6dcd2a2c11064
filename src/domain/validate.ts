/**
 * Is a row ckym would send one Metrica takes? Checked before the row is batched, so that one bad call never
 * makes Metrica refuse a whole file: a row that fails is kept aside as malformed, with the reason, and never sent.
 *
 * - `DateTime` (the call's time): not before 2000-01-01, inside the window ckym asked CallKeeper for (a call dated
 *   1970 in a fetch of last week is CallKeeper's error), not in the future.
 * - The identifier: 1–20 digits, at most 2^64 − 1 (ClientId and Yclid are unsigned 64-bit numbers in Metrica).
 */
import { wellFormedId, type Identifier } from './identifiers.js';
import type { MalformedReason } from './types.js';

/** 2000-01-01T00:00:00Z: no call ckym sends is older. */
export const EARLIEST_DATETIME = 946_684_800;

export interface RowChecks {
  /** The window ckym asked CallKeeper for, unix seconds, both ends included. */
  window?: { from: number; to: number } | undefined;
  /** Unix seconds. */
  now?: number | undefined;
}

/** Why the row of a call at `callTime` carrying `identifier` would be refused; null when it is fine. */
export function rowProblem(callTime: number, identifier: Identifier | null, checks: RowChecks = {}): MalformedReason | null {
  if (callTime < EARLIEST_DATETIME) return 'datetime-before-2000';
  if (checks.window && (callTime < checks.window.from || callTime > checks.window.to)) return 'datetime-outside-window';
  if (checks.now !== undefined && callTime > checks.now) return 'datetime-in-future';
  if (identifier && !wellFormedId(identifier.value)) return identifier.type === 'clientId' ? 'client-id-malformed' : 'yclid-malformed';
  return null;
}

/** What each reason means, for people. */
export const MALFORMED_TEXT: Record<MalformedReason, string> = {
  'datetime-before-2000': 'call time before 2000',
  'datetime-outside-window': 'call time outside the window asked for',
  'datetime-in-future': 'call time in the future',
  'client-id-malformed': 'ClientID not a number',
  'yclid-malformed': 'yclid not a number',
};
