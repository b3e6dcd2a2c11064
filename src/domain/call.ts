/**
 * A CallKeeper call as it arrives (loosely typed, fields missing, numbers as strings) → a `Call`.
 */
import type { Call, RawCall } from './types.js';
import { normalisePhone } from './phone.js';
import { zonedTimeToUnix } from './timezone.js';

export type NormaliseResult = { ok: true; call: Call } | { ok: false; problem: string };

/** A text field: strings trimmed; numbers as plain digits (0 is CallKeeper's "empty"); anything else ''. */
function text(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') {
    if (value === 0 || !Number.isFinite(value)) return '';
    return Number.isInteger(value) ? BigInt(value).toString() : String(value);
  }
  return '';
}

/** A whole number: numbers and numeric strings, truncated; anything else 0. */
function integer(value: unknown): number {
  // Stryker disable next-line MethodExpression: Number() ignores the same surrounding white space
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : NaN;
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

const TRUE_TEXTS = new Set(['1', 'true', 'yes', 'on']);

/** true / 1 / "1" / "true" (any case) / "yes" / "on" → true; everything else (0, "0", "", "false", missing) → false. */
function flag(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return TRUE_TEXTS.has(value.trim().toLowerCase());
  return false;
}

/** An array of tags (non-empty texts kept, trimmed) or one comma-separated string. */
function tagList(value: unknown): string[] {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [];
  const tags: string[] = [];
  for (const item of items) {
    const tag = text(item);
    if (tag !== '') tags.push(tag);
  }
  return tags;
}

/** The longest talk time taken as real: a day. Anything longer (1e308, a timestamp in the wrong field) is malformed. */
const MAX_DURATION = 86_400;

/** Keeps a problem message short: the offending value, never the whole call. */
function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** The id a call is known by (its `universalId` as text; '' when it has none): what `normaliseCall` gives as `id`. */
export function callIdOf(raw: RawCall): string {
  return text(raw['universalId']);
}

/**
 * Normalises one raw call; `callTime` is read as wall-clock time in `timeZone`.
 * Fails when the call has no `universalId`, a `callTime` that cannot be read, a `duration` longer than a day, or a
 * `yaClid` that lost digits as a JSON number — everything else
 * missing or malformed becomes an empty value (0, '', false, []).
 * A `yaClid` of `0`/`"0"` counts as unknown (CallKeeper uses 0 for "empty").
 */
export function normaliseCall(raw: RawCall, timeZone: string): NormaliseResult {
  const id = callIdOf(raw);
  if (id === '') return { ok: false, problem: 'the call has no universalId' };

  const callTimeText = text(raw['callTime']);
  if (callTimeText === '') return { ok: false, problem: `call ${id} has no callTime` };
  const callTime = zonedTimeToUnix(callTimeText, timeZone);
  if (callTime === null) {
    return { ok: false, problem: `call ${id} has a callTime that is not a "Y-m-d H:i:s" date: ${quote(callTimeText)}` };
  }

  // A ClientID that came as a JSON number past 2^53 has lost digits (the CallKeeper client keeps long integers as
  // text; a number here was rounded on the way): sending it would link the call to somebody else's visit.
  const yaClid = raw['yaClid'];
  if (
    typeof yaClid === 'number' &&
    // Stryker disable next-line ConditionalExpression: `yaClid !== 0` → true: 0 is a safe integer, kept by the next check anyway
    yaClid !== 0 &&
    !Number.isSafeInteger(yaClid)
  ) {
    return { ok: false, problem: `call ${id} has a yaClid that lost digits as a JSON number (${String(yaClid)})` };
  }
  const clientId = text(yaClid);
  const siteVisit = text(raw['siteVisit']);
  const duration = Math.max(0, integer(raw['duration']));
  if (duration > MAX_DURATION) {
    return { ok: false, problem: `call ${id} has a duration that is not a talk time in seconds: ${quote(String(raw['duration']))}` };
  }

  return {
    ok: true,
    call: {
      id,
      serviceType: text(raw['serviceType']).toLowerCase(),
      callTime,
      callTimeText,
      duration,
      status: text(raw['status']).toLowerCase(),
      statusFirst: integer(raw['statusFirst']),
      statusSecond: integer(raw['statusSecond']),
      phone: normalisePhone(raw['clientNumber']),
      site: text(raw['site']),
      siteVisit: siteVisit !== '' ? siteVisit : text(raw['visitSite']),
      unique: flag(raw['unique']),
      target: flag(raw['target']),
      uniqueTarget: flag(raw['uniqueTarget']),
      clientId: clientId === '0' ? '' : clientId,
      callPage: text(raw['callPage']),
      entryPoint: text(raw['entryPoint']),
      entryPointQuery: text(raw['entryPointQuery']),
      recordUrl: text(raw['recordUrl']),
      tags: tagList(raw['tags']),
    },
  };
}
