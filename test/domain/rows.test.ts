import { describe, expect, it } from 'vitest';
import {
  callHeader,
  callRow,
  conversionHeader,
  conversionRow,
  formatDecimal,
  idTypesOf,
  tagText,
} from '../../src/domain/rows.js';
import { aCall, aCounter, NOON_MSK } from './builders.js';

describe('callHeader / conversionHeader', () => {
  it('without a price', () => {
    expect(callHeader(aCounter())).toEqual([
      'ClientId',
      'DateTime',
      'StaticCall',
      'PhoneNumber',
      'TalkDuration',
      'CallMissed',
      'FirstTimeCaller',
      'Tag',
      'URL',
      'CallTrackerURL',
    ]);
    expect(conversionHeader(aCounter())).toEqual(['ClientId', 'Target', 'DateTime']);
  });

  it('with a price (0 is a price too)', () => {
    expect(callHeader(aCounter({ price: 0 })).slice(-3)).toEqual(['CallTrackerURL', 'Price', 'Currency']);
    expect(conversionHeader(aCounter({ price: 1500 }))).toEqual(['ClientId', 'Target', 'DateTime', 'Price', 'Currency']);
  });

  it('returns a fresh array each time', () => {
    const header = callHeader(aCounter());
    header.push('X');
    expect(callHeader(aCounter())).toHaveLength(10);
  });
});

describe('callRow', () => {
  it('maps a linked, successful, first-time call', () => {
    expect(callRow(aCall(), aCounter())).toEqual([
      '1714510800123456789',
      String(NOON_MSK),
      '0',
      '+79991234567',
      '152',
      '0',
      '1',
      'Директ',
      'https://shop.example/catalog',
      'https://ckct.ru/record/1001.mp3',
    ]);
  });

  it('maps a missed, repeat call without a ClientID as static', () => {
    const call = aCall({ clientId: '', status: 'fail', unique: false, duration: 0, tags: [], callPage: '', recordUrl: '' });
    expect(callRow(call, aCounter())).toEqual([
      '',
      '1714554000',
      '1',
      '+79991234567',
      '0',
      '1',
      '0',
      '',
      'https://shop.example/',
      '',
    ]);
  });

  it('CallMissed is 1 only for status fail', () => {
    expect(callRow(aCall({ status: 'success' }), aCounter())[5]).toBe('0');
    expect(callRow(aCall({ status: 'fail' }), aCounter())[5]).toBe('1');
    expect(callRow(aCall({ status: '' }), aCounter())[5]).toBe('0');
  });

  it('URL falls back from callPage to entryPoint, then empty', () => {
    expect(callRow(aCall({ callPage: 'https://a/', entryPoint: 'https://b/' }), aCounter())[8]).toBe('https://a/');
    expect(callRow(aCall({ callPage: '', entryPoint: 'https://b/' }), aCounter())[8]).toBe('https://b/');
    expect(callRow(aCall({ callPage: '', entryPoint: '' }), aCounter())[8]).toBe('');
  });

  it('appends Price and Currency when the counter sets a price', () => {
    const row = callRow(aCall(), aCounter({ price: 1234.5, currency: 'RUB' }));
    expect(row).toHaveLength(12);
    expect(row.slice(-2)).toEqual(['1234.5', 'RUB']);
    expect(callRow(aCall(), aCounter({ price: 0, currency: 'USD' })).slice(-2)).toEqual(['0', 'USD']);
    expect(callRow(aCall(), aCounter({ price: null }))).toHaveLength(10);
  });
});

describe('formatDecimal', () => {
  it.each([
    [1500, '1500'],
    [1234.5, '1234.5'],
    [0, '0'],
    [-0, '0'],
    [0.99, '0.99'],
    [1234567.89, '1234567.89'],
    [1e-7, '0.0000001'],
    [1.23e-7, '0.000000123'],
    [1e21, '1000000000000000000000'],
    [1.5e21, '1500000000000000000000'],
    [-2.5e-8, '-0.000000025'],
    [Number.NaN, ''],
    [Number.POSITIVE_INFINITY, ''],
  ])('%d → %j', (n, expected) => {
    expect(formatDecimal(n)).toBe(expected);
  });
});

describe('tagText', () => {
  const callback = aCall({ serviceType: 'callback', tags: ['Директ', 'SEO'] });
  const incoming = aCall({ serviceType: 'calltracking', tags: ['Директ', 'SEO'] });
  const imported = aCall({ serviceType: 'import', tags: ['Директ', 'SEO'] });

  it('source call passes the call tags joined with ", "', () => {
    const counter = aCounter({ tags: { source: 'call' } });
    expect(tagText(incoming, counter)).toBe('Директ, SEO');
    expect(tagText(callback, counter)).toBe('Директ, SEO');
    expect(tagText(imported, counter)).toBe('Директ, SEO');
    expect(tagText(aCall({ tags: [] }), counter)).toBe('');
  });

  it('source none passes no tags', () => {
    const counter = aCounter({ tags: { source: 'none' } });
    expect(tagText(incoming, counter)).toBe('');
    expect(tagText(callback, counter)).toBe('');
  });

  it('include keeps only listed tags, trimmed and case-insensitive, in the call order', () => {
    const counter = aCounter({ tags: { source: 'call', include: [' seo ', 'директ', 'Not on the call'] } });
    expect(tagText(aCall({ tags: ['SEO', 'Органика', 'Директ'] }), counter)).toBe('SEO, Директ');
    expect(tagText(aCall({ tags: ['Органика'] }), counter)).toBe('');
  });

  it('an include list of blanks counts as empty', () => {
    const counter = aCounter({ tags: { source: 'call', include: ['', '  '] } });
    expect(tagText(incoming, counter)).toBe('Директ, SEO');
  });

  it('drops blank tags', () => {
    expect(tagText(aCall({ tags: ['', 'SEO', '  ', 'Директ', ''] }), aCounter())).toBe('SEO, Директ');
    expect(tagText(aCall({ tags: [' ', ''] }), aCounter())).toBe('');
  });

  it('deduplicates, keeping the first occurrence', () => {
    const counter = aCounter();
    expect(tagText(aCall({ tags: ['SEO', 'Директ', 'SEO', ' Директ '] }), counter)).toBe('SEO, Директ');
  });

  it('the fixed callback text replaces the tags of callbacks only', () => {
    const counter = aCounter({ tags: { source: 'call', callback: 'Обратный звонок' } });
    expect(tagText(callback, counter)).toBe('Обратный звонок');
    expect(tagText(incoming, counter)).toBe('Директ, SEO');
    expect(tagText(imported, counter)).toBe('Директ, SEO');
  });

  it('the fixed incoming text replaces the tags of call-tracking calls only', () => {
    const counter = aCounter({ tags: { source: 'call', incoming: 'Входящий' } });
    expect(tagText(incoming, counter)).toBe('Входящий');
    expect(tagText(callback, counter)).toBe('Директ, SEO');
    expect(tagText(imported, counter)).toBe('Директ, SEO');
  });

  it('fixed texts win over source none and include', () => {
    const counter = aCounter({ tags: { source: 'none', include: ['SEO'], callback: 'CB', incoming: 'IN' } });
    expect(tagText(callback, counter)).toBe('CB');
    expect(tagText(incoming, counter)).toBe('IN');
    expect(tagText(imported, counter)).toBe('');
  });

  it('a blank fixed text means "use source"', () => {
    const counter = aCounter({ tags: { source: 'call', callback: '   ', incoming: '' } });
    expect(tagText(callback, counter)).toBe('Директ, SEO');
    expect(tagText(incoming, counter)).toBe('Директ, SEO');
  });

  it('a fixed text of spaces only means "use source" for either type', () => {
    const counter = aCounter({ tags: { source: 'call', callback: '', incoming: ' \t ' } });
    expect(tagText(incoming, counter)).toBe('Директ, SEO');
    expect(tagText(callback, counter)).toBe('Директ, SEO');
  });

  it('a fixed text is sent trimmed', () => {
    const counter = aCounter({ tags: { source: 'call', callback: '  Обратный звонок ', incoming: ' Входящий  ' } });
    expect(tagText(callback, counter)).toBe('Обратный звонок');
    expect(tagText(incoming, counter)).toBe('Входящий');
  });

  it('lands in the Tag column', () => {
    expect(callRow(callback, aCounter({ tags: { callback: 'CB' } }))[7]).toBe('CB');
  });
});

describe('conversionRow', () => {
  it('is null without a goal', () => {
    expect(conversionRow(aCall(), aCounter({ goal: '' }))).toBeNull();
    expect(conversionRow(aCall(), aCounter({ goal: '   ' }))).toBeNull();
  });

  it('is null for a call without a ClientID', () => {
    expect(conversionRow(aCall({ clientId: '' }), aCounter({ goal: 'calltracking_call_order' }))).toBeNull();
  });

  it('holds ClientId, Target and DateTime', () => {
    expect(conversionRow(aCall(), aCounter({ goal: 'calltracking_call_order' }))).toEqual([
      '1714510800123456789',
      'calltracking_call_order',
      '1714554000',
    ]);
  });

  it('sends the goal identifier trimmed', () => {
    expect(conversionRow(aCall(), aCounter({ goal: '  calltracking_call_order ' }))![1]).toBe('calltracking_call_order');
  });

  it('adds Price and Currency when the counter sets a price', () => {
    expect(conversionRow(aCall(), aCounter({ goal: 'call', price: 99.9, currency: 'EUR' }))).toEqual([
      '1714510800123456789',
      'call',
      '1714554000',
      '99.9',
      'EUR',
    ]);
  });
});

describe('idTypesOf: the files a counter\'s batches of a kind may go in (mutation testing)', () => {
  it('calls always have the ClientId file (static calls go there), then the counter\'s identifiers; conversions only those', () => {
    expect(idTypesOf(aCounter({ identifiers: ['yclid'] }), 'call')).toEqual(['clientId', 'yclid']);
    expect(idTypesOf(aCounter({ identifiers: ['yclid'] }), 'conversion')).toEqual(['yclid']);
    expect(idTypesOf(aCounter({ identifiers: ['yclid', 'clientId'] }), 'conversion')).toEqual(['yclid', 'clientId']);
    expect(idTypesOf(aCounter({ identifiers: ['clientId', 'yclid'] }), 'call')).toEqual(['clientId', 'yclid']);
  });
});
