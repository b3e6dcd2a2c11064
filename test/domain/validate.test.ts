import { describe, expect, it } from 'vitest';
import { EARLIEST_DATETIME, MALFORMED_TEXT, rowProblem } from '../../src/domain/validate.js';

const NOW = 1_716_195_600;
const window = { from: NOW - 7 * 86_400, to: NOW };

describe('rowProblem (12.3): a row Metrica would refuse, found before it is batched', () => {
  const client = (value: string) => ({ type: 'clientId' as const, value });
  const yclid = (value: string) => ({ type: 'yclid' as const, value });

  it('DateTime: not before 2000, inside the window asked for, not in the future', () => {
    expect(rowProblem(0, null, { window, now: NOW })).toBe('datetime-before-2000');
    expect(rowProblem(EARLIEST_DATETIME - 1, null)).toBe('datetime-before-2000');
    expect(rowProblem(EARLIEST_DATETIME, null)).toBeNull();
    expect(rowProblem(window.from - 1, null, { window, now: NOW })).toBe('datetime-outside-window');
    expect(rowProblem(window.from, null, { window, now: NOW })).toBeNull();
    expect(rowProblem(window.to, null, { window, now: NOW })).toBeNull();
    expect(rowProblem(NOW + 1, null, { now: NOW })).toBe('datetime-in-future');
  });

  it('identifiers: digits, at most 2^64 - 1', () => {
    expect(rowProblem(NOW, client('1714510800123456789'), { window, now: NOW })).toBeNull();
    expect(rowProblem(NOW, client('abc'), { window, now: NOW })).toBe('client-id-malformed');
    expect(rowProblem(NOW, client('18446744073709551616'), { window, now: NOW })).toBe('client-id-malformed');
    expect(rowProblem(NOW, yclid('12x'), { window, now: NOW })).toBe('yclid-malformed');
    expect(rowProblem(NOW, yclid('18446744073709551615'), { window, now: NOW })).toBeNull();
  });
});

describe('rowProblem at its edges (mutation testing)', () => {
  it('a call one second after the window asked for is outside it; now itself is not the future', () => {
    expect(rowProblem(window.to + 1, null, { window })).toBe('datetime-outside-window');
    expect(rowProblem(NOW, null, { now: NOW })).toBeNull();
    // the window is checked before the clock: a call past both is outside the window
    expect(rowProblem(NOW + 1, null, { window, now: NOW })).toBe('datetime-outside-window');
  });

  it('a malformed identifier is reported with its own type', () => {
    expect(rowProblem(NOW, { type: 'yclid', value: 'abc' })).toBe('yclid-malformed');
    expect(rowProblem(NOW, { type: 'clientId', value: '' })).toBe('client-id-malformed');
  });
});

describe('MALFORMED_TEXT (mutation testing)', () => {
  it('says for people what each reason means', () => {
    expect(MALFORMED_TEXT).toEqual({
      'datetime-before-2000': 'call time before 2000',
      'datetime-outside-window': 'call time outside the window asked for',
      'datetime-in-future': 'call time in the future',
      'client-id-malformed': 'ClientID not a number',
      'yclid-malformed': 'yclid not a number',
    });
  });
});
