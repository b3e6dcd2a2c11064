import { describe, expect, it, vi } from 'vitest';
import { isValidTimeZone, zonedTimeToUnix } from '../../src/domain/timezone.js';

describe('isValidTimeZone', () => {
  it.each([
    ['Europe/Moscow', true],
    ['Europe/Berlin', true],
    ['UTC', true],
    ['Asia/Kolkata', true],
    ['', false],
    ['   ', false],
    ['Mars/Olympus_Mons', false],
    ['+03:00', false],
    ['Moscow', false],
  ])('%j → %s', (tz, expected) => {
    expect(isValidTimeZone(tz)).toBe(expected);
  });

  it.each([[undefined], [null], [3], [{}]])('%j (not text, as a config file may hold) → false', (tz) => {
    expect(isValidTimeZone(tz as unknown as string)).toBe(false);
  });
});

/**
 * Formats every `step` seconds of the days starting at `dayStartsUtc` as wall time in `timeZone` ("2024-03-31 01:50:00")
 * and reads it back: the same instant, or — in a repeated stretch of `repeat` seconds — the earlier one. Returns how many.
 */
function roundTrips(timeZone: string, dayStartsUtc: number[], step: number, repeat: number): number {
  const wall = new Intl.DateTimeFormat('sv-SE', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  let checked = 0;
  for (const dayStartUtc of dayStartsUtc) {
    for (let t = dayStartUtc; t < dayStartUtc + 86400; t += step) {
      const text = wall.format(t * 1000);
      const back = zonedTimeToUnix(text, timeZone);
      expect(back === t || back === t - repeat).toBe(true);
      expect(wall.format(back! * 1000)).toBe(text);
      checked += 1;
    }
  }
  return checked;
}

describe('zonedTimeToUnix', () => {
  describe('Europe/Moscow (UTC+3, no DST)', () => {
    it.each([
      ['2024-05-01 00:00:00', 1714510800],
      ['2024-04-30 23:59:59', 1714510799],
      ['2024-05-01 12:00:00', 1714554000],
      ['2024-01-01 00:00:00', 1704056400],
      ['2024-02-29 10:00:00', 1709190000],
      ['2024-12-01 12:00:00', 1733043600],
      ['2024-12-31 23:59:59', 1735678799],
      // Leap years: every 4th, but not a century unless it divides by 400.
      ['2000-02-29 10:00:00', 951807600],
      ['2100-02-28 10:00:00', 4107481200],
      ['2100-03-01 10:00:00', 4107567600],
    ])('%s → %i', (text, expected) => {
      expect(zonedTimeToUnix(text, 'Europe/Moscow')).toBe(expected);
    });

    it('reads a call right at midnight as that day, 21:00 UTC the day before', () => {
      const midnight = zonedTimeToUnix('2024-05-01 00:00:00', 'Europe/Moscow');
      expect(midnight).toBe(1714510800);
      expect(new Date(midnight! * 1000).toISOString()).toBe('2024-04-30T21:00:00.000Z');
      expect(zonedTimeToUnix('2024-05-01 00:00:01', 'Europe/Moscow')).toBe(1714510801);
    });

    it.each([
      ['2024-05-01T00:00:00'],
      ['2024-05-01 00:00'],
      ['2024-05-01T00:00'],
      ['  2024-05-01 00:00:00  '],
      ['2024-5-1 0:00:00'],
      ['2024-05-01 00:00:00.750'],
      ['2024-05-01  00:00:00'],
      ['2024-05-01 \t00:00:00'],
    ])('tolerates the variant %j', (text) => {
      expect(zonedTimeToUnix(text, 'Europe/Moscow')).toBe(1714510800);
    });
  });

  it('reads UTC as UTC', () => {
    expect(zonedTimeToUnix('2024-05-01 00:00:00', 'UTC')).toBe(1714521600);
    expect(zonedTimeToUnix('1970-01-01 00:00:00', 'UTC')).toBe(0);
  });

  it('handles a half-hour offset (Asia/Kolkata, UTC+5:30)', () => {
    expect(zonedTimeToUnix('2024-05-01 00:00:00', 'Asia/Kolkata')).toBe(1714501800);
  });

  describe('Europe/Berlin across DST', () => {
    it.each([
      ['winter, CET +1', '2024-01-15 12:00:00', 1705316400],
      ['summer, CEST +2', '2024-07-01 12:00:00', 1719828000],
      ['last second before spring-forward', '2024-03-31 01:59:59', 1711846799],
      ['first second after spring-forward', '2024-03-31 03:00:00', 1711846800],
      ['last second of CEST before fall-back', '2024-10-27 01:59:59', 1729987199],
      ['first second after the repeated hour', '2024-10-27 03:00:00', 1729994400],
    ])('%s: %s → %i', (_label, text, expected) => {
      expect(zonedTimeToUnix(text, 'Europe/Berlin')).toBe(expected);
    });

    it('moves a wall time in the spring gap forward by the gap (02:30 → 03:30 CEST)', () => {
      expect(zonedTimeToUnix('2024-03-31 02:30:00', 'Europe/Berlin')).toBe(1711848600);
      expect(zonedTimeToUnix('2024-03-31 02:00:00', 'Europe/Berlin')).toBe(1711846800);
    });

    it('reads a wall time that occurs twice in autumn as the earlier one (CEST)', () => {
      expect(zonedTimeToUnix('2024-10-27 02:30:00', 'Europe/Berlin')).toBe(1729989000);
      expect(zonedTimeToUnix('2024-10-27 02:00:00', 'Europe/Berlin')).toBe(1729987200);
    });
  });

  describe('America/New_York across DST', () => {
    it('gap 02:30 → 03:30 EDT', () => {
      expect(zonedTimeToUnix('2024-03-10 02:30:00', 'America/New_York')).toBe(1710055800);
    });
    it('repeated 01:30 → the earlier, EDT', () => {
      expect(zonedTimeToUnix('2024-11-03 01:30:00', 'America/New_York')).toBe(1730611800);
    });
  });

  // Lord Howe Island moves its clocks by 30 minutes at 02:00 local: the change falls in the middle of a UTC hour.
  describe('Australia/Lord_Howe (+10:30, +11 in summer: a half-hour change in the middle of an hour)', () => {
    it.each([
      ['last second before spring-forward', '2024-10-06 01:59:59', 1728142199],
      ['first second after spring-forward', '2024-10-06 02:30:00', 1728142200],
      ['in the gap: moved forward by the 30 minutes', '2024-10-06 02:15:00', 1728143100],
      ['before the repeated half hour', '2024-04-07 01:29:59', 1712413799],
      ['in the repeated half hour: the earlier (+11)', '2024-04-07 01:45:00', 1712414700],
      ['after the repeated half hour', '2024-04-07 02:00:00', 1712417400],
    ])('%s: %s → %i', (_label, text, expected) => {
      expect(zonedTimeToUnix(text, 'Australia/Lord_Howe')).toBe(expected);
    });

    it('agrees with Intl for every 5 minutes of both transition days (outside the gap)', () => {
      // In the repeated half hour the answer is the earlier instant, 30 minutes before the later one.
      expect(roundTrips('Australia/Lord_Howe', [1712413800 - 12 * 3600, 1728142200 - 12 * 3600], 300, 1800)).toBe(576);
    });
  });

  it('agrees with Intl for every 10 minutes of both Berlin transition days (outside the gap)', () => {
    // In the repeated hour the answer is the earlier instant, one hour before the later one.
    expect(roundTrips('Europe/Berlin', [1711839600 - 3600, 1729980000 - 3600], 600, 3600)).toBe(288);
  });

  it.each([
    [''],
    ['garbage'],
    ['2024-05-01'],
    ['1714510800'],
    ['01.05.2024 12:00:00'],
    ['2024-02-30 10:00:00'],
    ['2023-02-29 10:00:00'],
    ['2100-02-29 10:00:00'],
    ['1900-02-29 10:00:00'],
    ['2024-12-32 10:00:00'],
    ['2024-11-31 10:00:00'],
    ['2024-04-31 10:00:00'],
    ['2024-13-01 00:00:00'],
    ['2024-00-10 00:00:00'],
    ['2024-05-00 00:00:00'],
    ['2024-05-01 25:00:00'],
    ['2024-05-01 24:00:00'],
    ['2024-05-01 12:60:00'],
    ['2024-05-01 12:00:60'],
    ['0000-00-00 00:00:00'],
    ['1969-12-31 23:59:59'],
    ['2024-05-01 12:00:00+03:00'],
    ['x2024-05-01 12:00:00'],
    ['12024-05-01 12:00:00'],
  ])('returns null for %j', (text) => {
    expect(zonedTimeToUnix(text, 'Europe/Moscow')).toBeNull();
  });

  it("reads CallKeeper's plain form in place, as the long way reads the same time written otherwise", () => {
    const exec = vi.spyOn(RegExp.prototype, 'exec');
    let plain: (number | null)[];
    try {
      plain = ['2024-06-01 03:10:15', '2024-06-01T03:10:15', '2024-02-29 23:59:59', '2024-10-27 02:30:00', '1970-01-01 00:00:00'].map((t) =>
        zonedTimeToUnix(t, 'Europe/Berlin'),
      );
      expect(exec).not.toHaveBeenCalled();
    } finally {
      exec.mockRestore();
    }
    const long = [' 2024-06-01  3:10:15 ', '2024-6-1T03:10:15.250', '2024-02-29 23:59:59\t', '2024-10-27 2:30', '1970-1-1 0:0:0'].map((t) =>
      zonedTimeToUnix(t, 'Europe/Berlin'),
    );
    expect(plain).toEqual(long);
    expect(plain).toEqual([1717204215, 1717204215, 1709247599, 1729989000, -3600]);
    for (const bad of ['2024-06-01 03:1a:15', '2024-06-01_03:10:15', '2024-06-01 03.10.15', '２０２４-06-01 03:10:15', '2024-06-01 03:10:15\u0000']) {
      expect(zonedTimeToUnix(bad, 'Europe/Berlin'), bad).toBeNull();
    }
  });

  it('throws for an unknown time zone (a configuration error, not a bad call)', () => {
    expect(() => zonedTimeToUnix('2024-05-01 00:00:00', 'Mars/Olympus_Mons')).toThrow(RangeError);
    expect(() => zonedTimeToUnix('2024-05-01 00:00:00', 'Mars/Olympus_Mons')).toThrow('Unknown time zone: "Mars/Olympus_Mons"');
  });
});
