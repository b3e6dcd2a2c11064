import { describe, expect, it } from 'vitest';
import { linkingFrom, oldBefore, switchName, thresholdSeconds } from '../../src/domain/linking.js';

const NOW = Date.parse('2024-05-20T09:00:00Z') / 1000;

describe('linking thresholds (12.1, 12.2)', () => {
  it('a date is taken as its start in the westernmost zone (the latest that date can begin): no older row passes for a fresh one', () => {
    expect(thresholdSeconds('2024-04-29')).toBe(Date.parse('2024-04-29T12:00:00Z') / 1000);
    expect(thresholdSeconds('2024-04-29 10:00:00')).toBe(Date.parse('2024-04-29T22:00:00Z') / 1000);
    expect(thresholdSeconds('2024-04-29T10:00:00+03:00')).toBe(Date.parse('2024-04-29T07:00:00Z') / 1000);
    for (const bad of ['', '2024-02-30', '29.04.2024', 'soon']) expect(thresholdSeconds(bad), bad).toBeNull();
  });

  it('null (or empty) is off; a date in the future is off until then; an unreadable one is unknown; else on', () => {
    expect(linkingFrom(null, NOW)).toEqual({ state: 'off', until: null });
    expect(linkingFrom(' ', NOW)).toEqual({ state: 'off', until: null });
    expect(linkingFrom('2024-05-25', NOW)).toEqual({ state: 'off', until: '2024-05-25' });
    expect(linkingFrom('whenever', NOW)).toMatchObject({ state: 'unknown' });
    const on = linkingFrom('2024-04-29', NOW);
    expect(on).toEqual({ state: 'on', since: Date.parse('2024-04-29T12:00:00Z') / 1000, threshold: '2024-04-29' });
    // today's date (a switch just turned on) is on
    expect(linkingFrom('2024-05-20', NOW).state).toBe('on');
  });

  it('oldBefore: rows before the threshold go apart only when it is known and on', () => {
    expect(oldBefore(linkingFrom('2024-04-29', NOW))).toBe(Date.parse('2024-04-29T12:00:00Z') / 1000);
    expect(oldBefore({ state: 'unknown', why: 'dry run' })).toBeNull();
    expect(oldBefore({ state: 'off', until: null })).toBeNull();
  });
});

describe('linking thresholds at their edges (mutation testing)', () => {
  it('reads a time without seconds, with fractions, with a space before a zone; refuses impossible ones', () => {
    expect(thresholdSeconds('2024-04-29 10:00')).toBe(Date.parse('2024-04-29T22:00:00Z') / 1000);
    expect(thresholdSeconds('2024-04-29T10:00:00.750')).toBe(Date.parse('2024-04-29T22:00:00Z') / 1000);
    expect(thresholdSeconds('2024-04-29 10:00:00Z')).toBe(Date.parse('2024-04-29T10:00:00Z') / 1000);
    expect(thresholdSeconds('2024-04-29T10:00:00.750+0300')).toBe(Date.parse('2024-04-29T07:00:00Z') / 1000);
    expect(thresholdSeconds(' 2024-04-29 ')).toBe(Date.parse('2024-04-29T12:00:00Z') / 1000);
    for (const bad of ['2024-13-01 10:00:00', '2024-13-01T10:00:00Z', 'x2024-04-29', '2024-04-29x', '2024-04-29 10:00:00x', '2024-04-29 10:00:00+03:00x']) {
      expect(thresholdSeconds(bad), bad).toBeNull();
    }
  });

  it('a threshold exactly twelve hours ahead is on; a second more is off; the text is given back trimmed', () => {
    const at = thresholdSeconds('2024-05-21')!; // 2024-05-21T12:00Z
    expect(linkingFrom('2024-05-21', at - 12 * 3600)).toEqual({ state: 'on', since: at, threshold: '2024-05-21' });
    expect(linkingFrom(' 2024-05-21 ', at - 12 * 3600 - 1)).toEqual({ state: 'off', until: '2024-05-21' });
    expect(linkingFrom(' 2024-05-01 ', NOW)).toEqual({ state: 'on', since: thresholdSeconds('2024-05-01'), threshold: '2024-05-01' });
    expect(linkingFrom('whenever', NOW)).toEqual({ state: 'unknown', why: 'Metrica\'s threshold "whenever" is not a date ckym can read' });
  });

  it('switchName: which switch a kind needs', () => {
    expect(switchName('call')).toBe('call linking');
    expect(switchName('conversion')).toBe('conversion linking');
  });
});

describe('linking thresholds: only the whole text is a date (mutation testing)', () => {
  it('a zoned time without seconds is read exactly', () => {
    expect(thresholdSeconds('2024-04-29T10:00+03:00')).toBe(Date.parse('2024-04-29T07:00:00Z') / 1000);
    expect(thresholdSeconds('2024-04-29 10:00Z')).toBe(Date.parse('2024-04-29T10:00:00Z') / 1000);
  });

  it('text before a time, with or without a zone, is refused (even an expanded ISO year Date.parse would take)', () => {
    for (const bad of ['x2024-04-29 10:00:00', 'x2024-04-29T10:00', '+002024-04-29T10:00:00Z', '+002024-04-29T10:00:00+03:00']) {
      expect(thresholdSeconds(bad), bad).toBeNull();
    }
  });

  it('a date in another shape that Date.parse would read is not taken', () => {
    for (const bad of ['April 29, 2024', '2024/04/29', 'Mon, 29 Apr 2024 10:00:00 GMT']) expect(thresholdSeconds(bad), bad).toBeNull();
  });
});
