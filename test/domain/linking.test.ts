import { describe, expect, it } from 'vitest';
import { linkingFrom, oldBefore, thresholdSeconds } from '../../src/domain/linking.js';

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
