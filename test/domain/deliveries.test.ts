import { describe, expect, it } from 'vitest';
import { decideDeliveries } from '../../src/domain/deliveries.js';
import { callRow, conversionRow } from '../../src/domain/rows.js';
import type { Finality, WaitReason } from '../../src/domain/types.js';
import { NOON_MSK, aCall, aCounter } from './builders.js';

const FINAL: Finality = { final: true };

describe('decideDeliveries', () => {
  it('a final, taken call for a counter without a goal: one pending call row', () => {
    const call = aCall();
    const counter = aCounter();
    expect(decideDeliveries(call, counter, FINAL)).toEqual([{ kind: 'call', state: 'pending', row: callRow(call, counter), idType: 'clientId' }]);
  });

  it('with a goal: a pending call row and a pending conversion row', () => {
    const call = aCall();
    const counter = aCounter({ goal: 'calltracking_call_order' });
    expect(decideDeliveries(call, counter, FINAL)).toEqual([
      { kind: 'call', state: 'pending', row: callRow(call, counter), idType: 'clientId' },
      { kind: 'conversion', state: 'pending', row: ['1714510800123456789', 'calltracking_call_order', '1714554000'], idType: 'clientId' },
    ]);
    expect(conversionRow(call, counter)).toEqual(['1714510800123456789', 'calltracking_call_order', '1714554000']);
  });

  it('with a goal but no ClientID: the call is sent, the conversion skipped as no-client-id', () => {
    const call = aCall({ clientId: '' });
    const counter = aCounter({ goal: 'call' });
    expect(decideDeliveries(call, counter, FINAL)).toEqual([
      { kind: 'call', state: 'pending', row: callRow(call, counter), idType: 'clientId' },
      { kind: 'conversion', state: 'skipped', reason: 'no-client-id' },
    ]);
  });

  it.each<WaitReason>(['in-progress', 'scheduled', 'settling', 'future'])('not final (%s): every kind waits', (reason) => {
    const fin: Finality = { final: false, reason };
    expect(decideDeliveries(aCall(), aCounter(), fin)).toEqual([{ kind: 'call', state: 'waiting', reason }]);
    expect(decideDeliveries(aCall(), aCounter({ goal: 'call' }), fin)).toEqual([
      { kind: 'call', state: 'waiting', reason },
      { kind: 'conversion', state: 'waiting', reason },
    ]);
  });

  it('waiting wins over skipping: a call the counter would skip still waits until final', () => {
    const counter = aCounter({ callType: 'callback', goal: 'call' });
    expect(decideDeliveries(aCall({ serviceType: 'calltracking' }), counter, { final: false, reason: 'settling' })).toEqual([
      { kind: 'call', state: 'waiting', reason: 'settling' },
      { kind: 'conversion', state: 'waiting', reason: 'settling' },
    ]);
  });

  it.each([
    [{ callType: 'callback' as const }, {}, 'call-type'],
    [{ minDuration: 200 }, {}, 'min-duration'],
    [{ status: 'unsuccessful' as const }, {}, 'status'],
    [{ uniqueness: 'unique' as const }, { unique: false }, 'uniqueness'],
    [{ sites: ['other.example'] }, {}, 'site'],
  ])('final but skipped (%j): every kind skipped with %s', (settings, callFields, reason) => {
    const call = aCall(callFields);
    expect(decideDeliveries(call, aCounter(settings), FINAL)).toEqual([{ kind: 'call', state: 'skipped', reason }]);
    expect(decideDeliveries(call, aCounter({ ...settings, goal: 'call' }), FINAL)).toEqual([
      { kind: 'call', state: 'skipped', reason },
      { kind: 'conversion', state: 'skipped', reason },
    ]);
  });

  it('a skip reason wins over no-client-id', () => {
    const call = aCall({ clientId: '', status: 'fail' });
    expect(decideDeliveries(call, aCounter({ status: 'successful', goal: 'call' }), FINAL)).toEqual([
      { kind: 'call', state: 'skipped', reason: 'status' },
      { kind: 'conversion', state: 'skipped', reason: 'status' },
    ]);
  });

  it('rows carry the counter price', () => {
    const counter = aCounter({ goal: 'call', price: 500, currency: 'RUB' });
    const [callDelivery, conversionDelivery] = decideDeliveries(aCall(), counter, FINAL);
    expect(callDelivery).toMatchObject({ state: 'pending' });
    expect(callDelivery?.state === 'pending' && callDelivery.row.slice(-2)).toEqual(['500', 'RUB']);
    expect(conversionDelivery).toEqual({
      kind: 'conversion',
      state: 'pending',
      row: ['1714510800123456789', 'call', '1714554000', '500', 'RUB'],
      idType: 'clientId',
    });
  });

  it('no ClientID, but a yclid in the landing URL: call and conversion go in the Yclid file', () => {
    const call = aCall({ clientId: '', entryPointQuery: 'https://shop.example/?utm_source=yandex&yclid=5417289076543210987' });
    const counter = aCounter({ goal: 'call' });
    expect(decideDeliveries(call, counter, FINAL)).toEqual([
      { kind: 'call', state: 'pending', row: callRow(call, counter), idType: 'yclid' },
      { kind: 'conversion', state: 'pending', row: ['5417289076543210987', 'call', '1714554000'], idType: 'yclid' },
    ]);
    expect(callRow(call, counter).slice(0, 3)).toEqual(['5417289076543210987', '1714554000', '0']);
    // a counter that uses ClientIDs only: a static call, no conversion
    const clientOnly = aCounter({ goal: 'call', identifiers: ['clientId'] });
    expect(decideDeliveries(call, clientOnly, FINAL)).toEqual([
      { kind: 'call', state: 'pending', row: callRow(call, clientOnly), idType: 'clientId' },
      { kind: 'conversion', state: 'skipped', reason: 'no-client-id' },
    ]);
    expect(callRow(call, clientOnly).slice(0, 3)).toEqual(['', '1714554000', '1']);
  });

  it('a taken call whose row Metrica would refuse is malformed, with the reason, for every kind; never pending', () => {
    const counter = aCounter({ goal: 'call' });
    const window = { from: NOON_MSK - 86_400, to: NOON_MSK + 3600 };
    const checks = { window, now: NOON_MSK + 3600 };
    const malformed = (reason: string) => [
      { kind: 'call', state: 'malformed', reason },
      { kind: 'conversion', state: 'malformed', reason },
    ];
    expect(decideDeliveries(aCall({ callTime: -10_800 }), counter, FINAL, checks)).toEqual(malformed('datetime-before-2000'));
    expect(decideDeliveries(aCall({ callTime: NOON_MSK - 2 * 86_400 }), counter, FINAL, checks)).toEqual(malformed('datetime-outside-window'));
    expect(decideDeliveries(aCall({ clientId: '1714-51' }), counter, FINAL, checks)).toEqual(malformed('client-id-malformed'));
    expect(decideDeliveries(aCall({ clientId: '18446744073709551616' }), counter, FINAL, checks)).toEqual(malformed('client-id-malformed'));
    // inside the window, a good ClientID: pending
    expect(decideDeliveries(aCall(), counter, FINAL, checks).map((d) => d.state)).toEqual(['pending', 'pending']);
    // a call the counter does not take is skipped, however odd its time
    expect(decideDeliveries(aCall({ callTime: -10_800, status: 'fail' }), aCounter({ status: 'successful' }), FINAL, checks)).toEqual([
      { kind: 'call', state: 'skipped', reason: 'status' },
    ]);
    // no identifier at all: the conversion is skipped as before, the call alone is malformed
    expect(decideDeliveries(aCall({ clientId: '', callTime: -10_800 }), counter, FINAL, checks)).toEqual([
      { kind: 'call', state: 'malformed', reason: 'datetime-before-2000' },
      { kind: 'conversion', state: 'skipped', reason: 'no-client-id' },
    ]);
  });
});
