import { describe, expect, it } from 'vitest';
import { csvDocument, csvLine, csvLines } from '../../src/domain/csv.js';
import { callHeader, callRow } from '../../src/domain/rows.js';
import { aCall, aCounter } from './builders.js';

/** A small RFC 4180 reader, written here so the test does not agree with the writer by construction. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        field += c;
      }
      i += 1;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += c;
    i += 1;
  }
  if (quoted) throw new Error('unterminated quote');
  if (field !== '' || record.length > 0) throw new Error('last record has no newline');
  return records;
}

describe('csvLine', () => {
  it('writes plain fields unquoted, comma-separated, LF-terminated', () => {
    expect(csvLine(['a', '', 'c d', 'Директ'])).toBe('a,,c d,Директ\n');
  });

  it('quotes only what needs it and doubles quotes', () => {
    expect(csvLine(['a,b'])).toBe('"a,b"\n');
    expect(csvLine(['say "hi"'])).toBe('"say ""hi"""\n');
    expect(csvLine(['two\nlines'])).toBe('"two\nlines"\n');
    expect(csvLine(['cr\rhere'])).toBe('"cr\rhere"\n');
    expect(csvLine(['Реклама, "Директ"', 'x'])).toBe('"Реклама, ""Директ""",x\n');
  });

  it('writes an empty row as an empty line', () => {
    expect(csvLine([])).toBe('\n');
  });
});

describe('csvLines', () => {
  it('is csvLine of each row, joined', () => {
    const rows = [['a', '', 'c d', 'Директ'], [], ['a,b', 'say "hi"'], ['two\nlines', 'cr\rhere'], ['Реклама, "Директ"', 'x'], ['', '']];
    expect(csvLines(rows)).toBe(rows.map((r) => csvLine(r)).join(''));
    expect(parseCsv(csvLines(rows))).toEqual(rows.map((r) => (r.length === 0 ? [''] : r)));
    expect(csvLines([])).toBe('');
  });
});

describe('csvDocument', () => {
  it('writes the header then one line per row', () => {
    expect(csvDocument(['A', 'B'], [['1', '2'], ['3', '']])).toBe('A,B\n1,2\n3,\n');
  });

  it('writes only the header when there are no rows', () => {
    expect(csvDocument(['A', 'B'], [])).toBe('A,B\n');
  });

  it('accepts any iterable of rows', () => {
    function* rows() {
      yield ['1'];
      yield ['2'];
    }
    expect(csvDocument(['A'], rows())).toBe('A\n1\n2\n');
  });

  it('round-trips commas, quotes, newlines and Cyrillic through a call upload', () => {
    const counter = aCounter({ price: 1500, currency: 'RUB' });
    const tricky = aCall({
      tags: ['Реклама, "Директ"', 'многострочный\nтег'],
      callPage: 'https://shop.example/search?q=a,b&x="y"',
    });
    const plain = aCall({ id: 'u-2', clientId: '', tags: [] });
    const header = callHeader(counter);
    const rows = [callRow(tricky, counter), callRow(plain, counter)];
    const text = csvDocument(header, rows);

    expect(text.split('\n')[0]).toBe(
      'ClientId,DateTime,StaticCall,PhoneNumber,TalkDuration,CallMissed,FirstTimeCaller,Tag,URL,CallTrackerURL,Price,Currency',
    );
    expect(text).toContain('"Реклама, ""Директ"", многострочный\nтег"');
    expect(parseCsv(text)).toEqual([header, ...rows]);
    expect(parseCsv(text)[1]![7]).toBe('Реклама, "Директ", многострочный\nтег');
    expect(parseCsv(text)[1]![8]).toBe('https://shop.example/search?q=a,b&x="y"');
  });

  it('keeps UTF-8 text as is (no BOM, no escaping)', () => {
    const text = csvDocument(['Tag'], [['Звонок с сайта']]);
    expect(text).toBe('Tag\nЗвонок с сайта\n');
    expect(text.charCodeAt(0)).toBe('T'.charCodeAt(0));
  });
});
