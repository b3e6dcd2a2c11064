/**
 * Wall-time arithmetic for the emulators, written from scratch on top of Intl so that the
 * sandbox shares no date code with ckym. CallKeeper's `callTime` is a wall-clock text in the
 * account's zone; these helpers turn it into unix seconds and back.
 */

export interface WallTime {
  year: number;
  month: number; // 1..12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall clock in `timeZone` at the instant `unixSeconds`. */
export function wallTimeAt(unixSeconds: number, timeZone: string): WallTime {
  const parts = formatterFor(timeZone).formatToParts(new Date(unixSeconds * 1000));
  const get = (type: Intl.DateTimeFormatPartTypes): number => {
    const part = parts.find((p) => p.type === type);
    if (!part) throw new Error(`Intl gave no ${type} for ${timeZone}`);
    return Number(part.value);
  };
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour') % 24,
    minute: get('minute'),
    second: get('second'),
  };
}

/** Seconds east of UTC that `timeZone` observes at `unixSeconds`. */
export function zoneOffsetSeconds(unixSeconds: number, timeZone: string): number {
  const w = wallTimeAt(unixSeconds, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) / 1000;
  return asUtc - Math.floor(unixSeconds);
}

/** Unix seconds of a wall-clock time in `timeZone` (in a DST overlap: the earlier instant). */
export function wallTimeToUnix(w: WallTime, timeZone: string): number {
  const naive = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) / 1000;
  const first = naive - zoneOffsetSeconds(naive, timeZone);
  const second = naive - zoneOffsetSeconds(first, timeZone);
  if (first === second) return first;
  // Offsets disagree around a transition: prefer the candidate that round-trips.
  const back = wallTimeAt(second, timeZone);
  const same = back.hour === w.hour && back.minute === w.minute && back.day === w.day;
  return same ? Math.min(first, second) : Math.max(first, second);
}

const WALL_RE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

function validWall(w: WallTime): boolean {
  if (w.month < 1 || w.month > 12 || w.day < 1 || w.hour > 23 || w.minute > 59 || w.second > 59) return false;
  const daysInMonth = new Date(Date.UTC(w.year, w.month, 0)).getUTCDate();
  return w.day <= daysInMonth;
}

/** Parses `Y-m-d H:i:s`; null when the text is not a real date-time. */
export function parseWallTime(text: string): WallTime | null {
  const m = WALL_RE.exec(text);
  if (!m) return null;
  const w: WallTime = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: Number(m[6]),
  };
  return validWall(w) ? w : null;
}

/** Parses `Y-m-d` as midnight of that day; null when not a real date. */
export function parseDate(text: string): WallTime | null {
  const m = DATE_RE.exec(text);
  if (!m) return null;
  const w: WallTime = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: 0, minute: 0, second: 0 };
  return validWall(w) ? w : null;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `Y-m-d H:i:s` in `timeZone`. */
export function formatWallTime(unixSeconds: number, timeZone: string): string {
  const w = wallTimeAt(unixSeconds, timeZone);
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
}

/** ISO-8601 with the zone's offset, e.g. `2024-05-01T12:00:00+03:00` (Metrica's `create_time` style). */
export function formatIsoWithOffset(unixSeconds: number, timeZone: string): string {
  const w = wallTimeAt(unixSeconds, timeZone);
  const off = zoneOffsetSeconds(unixSeconds, timeZone);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  return (
    `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}` +
    `${sign}${pad(Math.floor(abs / 3600))}:${pad(Math.floor((abs % 3600) / 60))}`
  );
}

/** The latest local midnight at or before `unixSeconds`. */
export function localMidnightAtOrBefore(unixSeconds: number, timeZone: string): number {
  const w = wallTimeAt(unixSeconds, timeZone);
  return wallTimeToUnix({ year: w.year, month: w.month, day: w.day, hour: 0, minute: 0, second: 0 }, timeZone);
}
