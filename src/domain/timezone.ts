/**
 * Wall-clock times in an IANA time zone → unix seconds, with nothing but Intl.
 *
 * CallKeeper writes `callTime` as `"Y-m-d H:i:s"` in the account's zone; Metrica wants unix seconds UTC.
 * A zone's UTC offset is read from `Intl.DateTimeFormat` and cached per zone per UTC hour, so a million
 * calls cost a million regex matches and a few hundred formatter calls.
 *
 * Wall times that a DST transition makes special get one deterministic answer, the one
 * `Temporal`'s `disambiguation: 'compatible'` (and `java.time`, and JS `Date`) give:
 * - a time that occurs twice (clocks go back) → the **earlier** instant (the offset before the change);
 * - a time that never occurs (clocks go forward) → shifted **forward** by the gap
 *   (Berlin `2024-03-31 02:30` → `03:30` CEST).
 */

interface Zone {
  readonly format: Intl.DateTimeFormat;
  /** UTC hour (unix seconds / 3600) → offset in seconds, for hours with one offset throughout. */
  readonly offsets: Map<number, number>;
}

const zones = new Map<string, Zone>();
const validity = new Map<string, boolean>();

/** Hour buckets kept per zone before the cache starts over (a backfill of years stays bounded). */
const MAX_CACHED_HOURS = 100_000;

/** True when `tz` is an IANA zone name (or `UTC`) that this runtime's Intl knows. */
export function isValidTimeZone(tz: string): boolean {
  // Stryker disable next-line ConditionalExpression,MethodExpression,StringLiteral: a blank name reaches Intl.DateTimeFormat, which refuses it the same
  if (typeof tz !== 'string' || tz.trim() === '') return false;
  const known = validity.get(tz);
  if (known !== undefined) return known;
  let ok: boolean;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    ok = true;
  } catch {
    ok = false;
  }
  validity.set(tz, ok);
  return ok;
}

function zoneOf(timeZone: string): Zone {
  let zone = zones.get(timeZone);
  if (zone) return zone;
  if (!isValidTimeZone(timeZone)) throw new RangeError(`Unknown time zone: "${timeZone}"`);
  zone = {
    format: new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    }),
    offsets: new Map(),
  };
  zones.set(timeZone, zone);
  return zone;
}

/** The zone's UTC offset (seconds, east positive) at unix second `t`, straight from Intl. */
function computeOffset(format: Intl.DateTimeFormat, t: number): number {
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of format.formatToParts(t * 1000)) {
    switch (part.type) {
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value) % 24; // some ICU versions say "24" at midnight
        break;
      case 'minute':
        minute = Number(part.value);
        break;
      case 'second':
        second = Number(part.value);
        break;
      // Stryker disable next-line ConditionalExpression: the default only ends the switch
      default:
        break;
    }
  }
  return Date.UTC(year, month - 1, day, hour, minute, second) / 1000 - t;
}

/** Offset at `t`, cached per UTC hour when the hour has one offset throughout. */
function offsetAt(zone: Zone, t: number): number {
  const bucket = Math.floor(t / 3600);
  const cached = zone.offsets.get(bucket);
  if (cached !== undefined) return cached;
  const start = bucket * 3600;
  const atStart = computeOffset(zone.format, start);
  const atEnd = computeOffset(zone.format, start + 3599);
  // Stryker disable next-line ConditionalExpression: computing the exact second gives the cached hour's offset
  if (atStart !== atEnd) return computeOffset(zone.format, t); // a transition inside this hour
  // Stryker disable next-line ConditionalExpression,EqualityOperator: when the bounded cache is cleared: memory only
  if (zone.offsets.size >= MAX_CACHED_HOURS) zone.offsets.clear();
  zone.offsets.set(bucket, atStart);
  return atStart;
}

const DATE_TIME = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:T|\s+)(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?\s*$/;

/** Where `Y-m-d H:i:s` (or `Y-m-dTH:i:s`) has its digits: every other position is a separator. */
const PLAIN_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

/** Exactly `dddd-dd-dd dd:dd:dd` (or with `T`): a text DATE_TIME matches, with every field two digits, the year four. */
function isPlainDateTime(text: string): boolean {
  if (text.length !== 19) return false;
  const between = text.charCodeAt(10);
  if (text.charCodeAt(4) !== 0x2d || text.charCodeAt(7) !== 0x2d || text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a) return false;
  if (between !== 0x20 && between !== 0x54) return false;
  for (const at of PLAIN_DIGITS) {
    const c = text.charCodeAt(at);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The number that `length` ASCII digits from `at` spell. */
function digits(text: string, at: number, length: number): number {
  let n = 0;
  for (let i = at; i < at + length; i++) n = n * 10 + (text.charCodeAt(i) - 0x30);
  return n;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1] ?? 0;
}

/**
 * Reads `"Y-m-d H:i:s"` (also `T` between date and time, seconds optional, fractional seconds dropped)
 * as a wall-clock time in `timeZone` and returns unix seconds UTC.
 * `null` for text that is not such a date, an impossible date or time (`2024-02-30`, `25:00`, `24:00`),
 * or a year before 1970 (CallKeeper's `0000-00-00 00:00:00`-style placeholders are not call times).
 * Throws a RangeError for an unknown time zone: that is a configuration error, not a bad call.
 */
export function zonedTimeToUnix(text: string, timeZone: string): number | null {
  const zone = zoneOf(timeZone);
  let year: number;
  let month: number;
  let day: number;
  let hour: number;
  let minute: number;
  let second: number;
  if (isPlainDateTime(text)) {
    // CallKeeper's own form, read in place: what DATE_TIME reads from it, without a match array per call.
    year = digits(text, 0, 4);
    month = digits(text, 5, 2);
    day = digits(text, 8, 2);
    hour = digits(text, 11, 2);
    minute = digits(text, 14, 2);
    second = digits(text, 17, 2);
  } else {
    const m = DATE_TIME.exec(text);
    if (!m) return null;
    year = Number(m[1]);
    month = Number(m[2]);
    day = Number(m[3]);
    hour = Number(m[4]);
    minute = Number(m[5]);
    second = m[6] === undefined ? 0 : Number(m[6]);
  }
  // Stryker disable next-line ConditionalExpression: month 0 or 13 has 0 days (daysInMonth), so day > 0 returns null anyway
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;

  const local = Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
  // Offsets a day either side bracket any transition near this wall time (|offset| < 24 h).
  const before = offsetAt(zone, local - 86_400);
  const after = offsetAt(zone, local + 86_400);
  const withBefore = local - before;
  // Stryker disable next-line ConditionalExpression,EqualityOperator,LogicalOperator: a fast path: the slow path below returns the same
  if (before === after && offsetAt(zone, withBefore) === before) return withBefore; // the usual case

  const withAfter = local - after;
  const beforeFits = offsetAt(zone, withBefore) === before;
  const afterFits = offsetAt(zone, withAfter) === after;
  // Stryker disable next-line ConditionalExpression: withBefore is always the earlier, and line 153 returns it
  if (beforeFits && afterFits) return Math.min(withBefore, withAfter); // occurs twice: the earlier
  // Stryker disable next-line ConditionalExpression: falls through to return withBefore anyway
  if (beforeFits) return withBefore;
  if (afterFits) return withAfter;
  // Never occurs (a gap): read it with the offset from before the change, which moves it forward by the gap.
  return withBefore;
}
