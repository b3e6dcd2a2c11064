import { describe, expect, it } from 'vitest';
import { finality } from '../../src/domain/finality.js';
import { aCall } from './builders.js';

const T = 1714554000; // call start
const SETTLE = 10; // minutes

describe('finality', () => {
  it('is final once the call ended settleMinutes ago', () => {
    const call = aCall({ callTime: T, duration: 60 });
    expect(finality(call, T + 60 + 600, SETTLE)).toEqual({ final: true });
    expect(finality(call, T + 86400, SETTLE)).toEqual({ final: true });
  });

  it('is settling one second before that, counting the talk time', () => {
    const call = aCall({ callTime: T, duration: 60 });
    expect(finality(call, T + 60 + 599, SETTLE)).toEqual({ final: false, reason: 'settling' });
    expect(finality(call, T + 600, SETTLE)).toEqual({ final: false, reason: 'settling' });
    expect(finality(call, T, SETTLE)).toEqual({ final: false, reason: 'settling' });
  });

  it('with settleMinutes 0 a call is final as soon as it ended', () => {
    const call = aCall({ callTime: T, duration: 30 });
    expect(finality(call, T + 30, 0)).toEqual({ final: true });
    expect(finality(call, T + 29, 0)).toEqual({ final: false, reason: 'settling' });
  });

  it('holds back a call dated after now (clock skew) as future', () => {
    const call = aCall({ callTime: T + 1, duration: 0 });
    expect(finality(call, T, 0)).toEqual({ final: false, reason: 'future' });
    expect(finality(aCall({ callTime: T + 3600 }), T, SETTLE)).toEqual({ final: false, reason: 'future' });
  });

  it('a call starting exactly now is not future (but may still settle)', () => {
    expect(finality(aCall({ callTime: T, duration: 0 }), T, 0)).toEqual({ final: true });
  });

  it('a callback with legs 1/0 is in progress, until it has waited maxWaitHours', () => {
    const call = aCall({ serviceType: 'callback', statusFirst: 1, statusSecond: 0, callTime: T });
    expect(finality(call, T + 86400, SETTLE)).toEqual({ final: false, reason: 'in-progress' });
    expect(finality(call, T + 72 * 3600 - 1, SETTLE)).toEqual({ final: false, reason: 'in-progress' });
    // decided as it stands, saying which wait it was still in (recorded with its decisions, counted in stats)
    expect(finality(call, T + 72 * 3600, SETTLE)).toEqual({ final: true, waitedOut: 'in-progress' });
    expect(finality(call, T + 3600, SETTLE, 1)).toEqual({ final: true, waitedOut: 'in-progress' });
  });

  it('a callback with legs 2/0 is scheduled, until it has waited maxWaitHours', () => {
    const call = aCall({ serviceType: 'callback', statusFirst: 2, statusSecond: 0 });
    expect(finality(call, T + 86400, SETTLE)).toEqual({ final: false, reason: 'scheduled' });
    expect(finality(call, T + 72 * 3600, SETTLE)).toEqual({ final: true, waitedOut: 'scheduled' });
  });

  it('a callback with legs 707/0 is awaiting a status update (CallKeeper: «в ожидании обновления статуса»)', () => {
    const call = aCall({ serviceType: 'callback', statusFirst: 707, statusSecond: 0, duration: 0 });
    expect(finality(call, T + 86400, SETTLE)).toEqual({ final: false, reason: 'awaiting-status' });
    // 707 on the second leg, or 706/0 («попытка создать новую цепочку») and 708/0 (cancelled), are final
    for (const [first, second] of [
      [200, 707],
      [706, 0],
      [708, 0],
    ]) {
      expect(finality(aCall({ serviceType: 'callback', statusFirst: first, statusSecond: second, duration: 0 }), T + 600, SETTLE)).toEqual({ final: true });
    }
  });

  it('future wins over in-progress', () => {
    const call = aCall({ serviceType: 'callback', statusFirst: 1, statusSecond: 0, callTime: T + 60 });
    expect(finality(call, T, SETTLE)).toEqual({ final: false, reason: 'future' });
  });

  it('in-progress / scheduled callbacks that are recent report the callback state, not settling', () => {
    const call = aCall({ serviceType: 'callback', statusFirst: 2, statusSecond: 0, callTime: T, duration: 0 });
    expect(finality(call, T + 1, SETTLE)).toEqual({ final: false, reason: 'scheduled' });
  });

  it.each([
    [200, 200],
    [1, 200],
    [2, 486],
    [0, 0],
    [3, 0],
  ])('a callback with finished legs %i/%i follows the settle rule', (first, second) => {
    const call = aCall({ serviceType: 'callback', statusFirst: first, statusSecond: second, duration: 0 });
    expect(finality(call, T + 600, SETTLE)).toEqual({ final: true });
    expect(finality(call, T + 599, SETTLE)).toEqual({ final: false, reason: 'settling' });
  });

  it('the 1/0 and 2/0 pairs mean nothing for call tracking or import calls', () => {
    for (const serviceType of ['calltracking', 'import']) {
      const call = aCall({ serviceType, statusFirst: 1, statusSecond: 0, duration: 0 });
      expect(finality(call, T + 600, SETTLE)).toEqual({ final: true });
    }
  });
});
