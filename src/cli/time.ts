/**
 * How ckym shows a moment to a person, in every command: `2024-05-20 12:00` in the account's zone
 * (`callkeeper.timezone`, the zone CallKeeper's call times are in), the zone named once where the time stands
 * alone: `2024-05-20 12:00 (Europe/Moscow)`. (--json documents keep ISO-8601 UTC; the emulators keep their own.)
 */

const formats = new Map<string, Intl.DateTimeFormat>();

function parts(unixMs: number, timeZone: string): Record<string, string> {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
    formats.set(timeZone, format);
  }
  return Object.fromEntries(format.formatToParts(unixMs).map((p) => [p.type, p.value]));
}

/** `2024-05-20 12:00` in `timeZone`. */
export function localTime(unixMs: number, timeZone: string): string {
  const p = parts(unixMs, timeZone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** `2024-05-20` in `timeZone`. */
export function localDay(unixMs: number, timeZone: string): string {
  return localTime(unixMs, timeZone).slice(0, 10);
}

/** `2024-05-20 12:00 (Europe/Moscow)`: a time that stands alone names its zone. */
export function zonedTime(unixMs: number, timeZone: string): string {
  return `${localTime(unixMs, timeZone)} (${timeZone})`;
}
