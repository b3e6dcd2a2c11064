import { describe, expect, it } from 'vitest';
import { DEFAULT_IDENTIFIERS, IDENTIFIER_TYPES, identifierOf, wellFormedId, yclidOf } from '../../src/domain/identifiers.js';
import { aCall } from './builders.js';

describe('identifiers (12.8): which identifier a call\'s rows carry', () => {
  it('yclidOf: the first well-formed yclid= of entryPointQuery, then entryPoint, then callPage', () => {
    const none = { entryPointQuery: '', entryPoint: '', callPage: '' };
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?utm_source=yandex&yclid=5417289076543210987&utm_medium=cpc' })).toBe('5417289076543210987');
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=123#top' })).toBe('123');
    expect(yclidOf({ ...none, entryPoint: 'https://shop.example/?yclid=77' })).toBe('77');
    expect(yclidOf({ ...none, callPage: 'https://shop.example/p?a=1&yclid=88' })).toBe('88');
    // not a yclid: no query, another parameter, not digits, zero, over 2^64 - 1
    for (const url of ['https://shop.example/yclid=1', 'https://shop.example/?xyclid=1', 'https://shop.example/?yclid=abc', 'https://shop.example/?yclid=0', 'https://shop.example/?yclid=18446744073709551616', 'https://shop.example/?yclid=%ZZ']) {
      expect(yclidOf({ ...none, entryPointQuery: url }), url).toBe('');
    }
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=abc', entryPoint: 'https://shop.example/?yclid=9' })).toBe('9');
  });

  it('identifierOf: the first of the counter\'s identifiers the call has', () => {
    const both = aCall({ entryPointQuery: 'https://shop.example/?yclid=555' });
    expect(identifierOf(both, ['clientId', 'yclid'])).toEqual({ type: 'clientId', value: '1714510800123456789' });
    expect(identifierOf(both, ['yclid', 'clientId'])).toEqual({ type: 'yclid', value: '555' });
    const yclidOnly = aCall({ clientId: '', entryPointQuery: 'https://shop.example/?yclid=555' });
    expect(identifierOf(yclidOnly, ['clientId', 'yclid'])).toEqual({ type: 'yclid', value: '555' });
    expect(identifierOf(yclidOnly, ['clientId'])).toBeNull();
    expect(identifierOf(aCall({ clientId: '' }), ['clientId', 'yclid'])).toBeNull();
    // a malformed ClientID is still the call's ClientID: validation finds it
    expect(identifierOf(aCall({ clientId: 'abc' }), ['clientId', 'yclid'])).toEqual({ type: 'clientId', value: 'abc' });
  });

  it('wellFormedId: 1 to 20 digits, at most 2^64 - 1', () => {
    expect(wellFormedId('1')).toBe(true);
    expect(wellFormedId('18446744073709551615')).toBe(true);
    for (const bad of ['', '18446744073709551616', '123456789012345678901', '-1', '1.5', '1e5', ' 1']) expect(wellFormedId(bad), bad).toBe(false);
  });
});

describe('identifiers at their edges (mutation testing)', () => {
  const none = { entryPointQuery: '', entryPoint: '', callPage: '' };
  it('a parameter without "=" is passed over, a value is decoded and trimmed, a yclid only of zeros is none', () => {
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclidX&yclid=5' })).toBe('5');
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=%20123%20' })).toBe('123');
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=+123+' })).toBe('123');
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=000', entryPoint: 'https://shop.example/?yclid=100' })).toBe('100');
  });
});

describe('identifiers: the lists and the query reader (mutation testing)', () => {
  const none = { entryPointQuery: '', entryPoint: '', callPage: '' };

  it('the identifier types, and the default order: ClientID first, then yclid', () => {
    expect(IDENTIFIER_TYPES).toEqual(['clientId', 'yclid']);
    expect(DEFAULT_IDENTIFIERS).toEqual(['clientId', 'yclid']);
  });

  it('a text without "?" has no query, even when it reads like one; a "?" first is a query', () => {
    expect(yclidOf({ ...none, entryPointQuery: 'yclid=5' })).toBe('');
    expect(yclidOf({ ...none, entryPointQuery: '?yclid=5' })).toBe('5');
  });

  it('a "#" before the "?" is not the end of the query', () => {
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/#top?yclid=6' })).toBe('6');
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?a=1#yclid=6' })).toBe('');
  });

  it('only the first yclid= of a text counts: one that does not decode (or is no number) hides a later one of that text', () => {
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=%ZZ&yclid=5' })).toBe('');
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=abc&yclid=5' })).toBe('');
    // … but not a well-formed one of the next text
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=%ZZ', entryPoint: 'https://shop.example/?yclid=7' })).toBe('7');
  });

  it('"+" decodes to a space, so digits around it are no number; a leading zero is not all zeros', () => {
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=1+2' })).toBe('');
    expect(yclidOf({ ...none, entryPointQuery: 'https://shop.example/?yclid=0123' })).toBe('0123');
  });
});
