import { describe, expect, it } from 'vitest';
import { callHeader, callRow, conversionHeader, conversionRow, deliveryKinds, fitRow, headerOf } from '../../src/domain/rows.js';
import { decideDeliveries } from '../../src/domain/deliveries.js';
import { aCall, aCounter } from './builders.js';

describe('deliveryKinds: what a counter delivers', () => {
  it('its calls always; conversions too when it has a goal (a blank goal is none)', () => {
    expect(deliveryKinds(aCounter())).toEqual(['call']);
    expect(deliveryKinds(aCounter({ goal: '   ' }))).toEqual(['call']);
    expect(deliveryKinds(aCounter({ goal: 'call' }))).toEqual(['call', 'conversion']);
  });

  it('is what decideDeliveries decides for, kind by kind', () => {
    for (const counter of [aCounter(), aCounter({ goal: 'calltracking_call_order' })]) {
      expect(decideDeliveries(aCall(), counter, { final: true }).map((d) => d.kind)).toEqual(deliveryKinds(counter));
      expect(decideDeliveries(aCall(), counter, { final: false, reason: 'settling' }).map((d) => d.kind)).toEqual(deliveryKinds(counter));
    }
  });
});

describe('headerOf: the CSV header of a batch', () => {
  it('per kind, with Price and Currency when the counter sets a price', () => {
    const plain = aCounter({ goal: 'call' });
    const priced = aCounter({ goal: 'call', price: 1500, currency: 'USD' });
    expect(headerOf(plain, 'call')).toEqual(callHeader(plain));
    expect(headerOf(plain, 'conversion')).toEqual(['ClientId', 'Target', 'DateTime']);
    expect(headerOf(priced, 'call').slice(-2)).toEqual(['Price', 'Currency']);
    expect(headerOf(priced, 'conversion')).toEqual(['ClientId', 'Target', 'DateTime', 'Price', 'Currency']);
    expect(headerOf(priced, 'conversion')).toEqual(conversionHeader(priced));
  });

  it('has as many columns as the rows decided for the same counter', () => {
    for (const counter of [aCounter({ goal: 'call' }), aCounter({ goal: 'call', price: 0 })]) {
      expect(callRow(aCall(), counter)).toHaveLength(headerOf(counter, 'call').length);
      expect(conversionRow(aCall(), counter)).toHaveLength(headerOf(counter, 'conversion').length);
    }
  });
});

describe('fitRow: a row decided under an older price setting, fitted to the batch it goes out in', () => {
  const before = aCounter({ goal: 'call' });
  const now = aCounter({ goal: 'call', price: 1500.5, currency: 'EUR' });

  it('a row of the same shape is left as it is', () => {
    const row = callRow(aCall(), now);
    expect(fitRow(row, headerOf(now, 'call'), now)).toBe(row);
  });

  it('a price added since: the counter\'s current Price and Currency are added, every other cell kept', () => {
    const row = callRow(aCall(), before);
    const fitted = fitRow(row, headerOf(now, 'call'), now);
    expect(fitted).toEqual([...row, '1500.5', 'EUR']);
    expect(fitted).toEqual(callRow(aCall(), now));
    const conversion = conversionRow(aCall(), before)!;
    expect(fitRow(conversion, headerOf(now, 'conversion'), now)).toEqual(conversionRow(aCall(), now));
  });

  it('a price of 0 is a price; prices are written as Metrica\'s decimals', () => {
    const free = aCounter({ price: 0 });
    expect(fitRow(callRow(aCall(), before), headerOf(free, 'call'), free).slice(-2)).toEqual(['0', 'RUB']);
    const tiny = aCounter({ price: 1e-7 });
    expect(fitRow(callRow(aCall(), before), headerOf(tiny, 'call'), tiny).slice(-2)).toEqual(['0.0000001', 'RUB']);
  });

  it('a price removed since: Price and Currency are cut off', () => {
    const row = callRow(aCall(), now);
    expect(fitRow(row, headerOf(before, 'call'), before)).toEqual(callRow(aCall(), before));
  });

  it('a header that has Price while the counter no longer sets one gets an empty Price, never a stale one', () => {
    const row = callRow(aCall(), before);
    expect(fitRow(row, headerOf(now, 'call'), before).slice(-2)).toEqual(['', 'RUB']);
  });

  it('does not change the row it was given', () => {
    const row = callRow(aCall(), before);
    const copy = [...row];
    fitRow(row, headerOf(now, 'call'), now);
    expect(row).toEqual(copy);
  });
});
