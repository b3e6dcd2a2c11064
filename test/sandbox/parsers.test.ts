import { describe, expect, it } from 'vitest';
import { CsvSyntaxError, parseCsv } from '../../src/sandbox/csv.js';
import { MultipartError, parseHeaderParams, parseMediaType, parseMultipart } from '../../src/sandbox/multipart.js';

describe('parseCsv (RFC 4180)', () => {
  it('reads plain records with CRLF or LF, with or without a final line break', () => {
    expect(parseCsv('a,b\r\n1,2\r\n')).toEqual([['a', 'b'], ['1', '2']]);
    expect(parseCsv('a,b\n1,2\n')).toEqual([['a', 'b'], ['1', '2']]);
    expect(parseCsv('a,b\n1,2')).toEqual([['a', 'b'], ['1', '2']]);
    expect(parseCsv('')).toEqual([]);
  });

  it('keeps empty fields, including a trailing one and a lone empty line', () => {
    expect(parseCsv('a,,c,\n')).toEqual([['a', '', 'c', '']]);
    expect(parseCsv('a\n\nb\n')).toEqual([['a'], [''], ['b']]);
    expect(parseCsv(',\n')).toEqual([['', '']]);
  });

  it('reads quoted fields: doubled quotes, commas and line breaks inside, UTF-8', () => {
    expect(parseCsv('"Реклама, ""Директ""","a\r\nb","x\ny",""\r\n')).toEqual([['Реклама, "Директ"', 'a\r\nb', 'x\ny', '']]);
    expect(parseCsv('""')).toEqual([['']]);
    expect(parseCsv('"a"')).toEqual([['a']]);
    expect(parseCsv('"😀 ёж",б\n')).toEqual([['😀 ёж', 'б']]);
  });

  it('refuses malformed quoting and stray carriage returns, naming the line', () => {
    expect(() => parseCsv('a,b"c\n')).toThrow(/line 1: a quote inside an unquoted field/);
    expect(() => parseCsv('a\n"x"y\n')).toThrow(/line 2: unexpected "y" after a closing quote/);
    expect(() => parseCsv('a\n"never closed\n')).toThrow(/line 2: a quoted field is never closed/);
    expect(() => parseCsv('a\rb\n')).toThrow(CsvSyntaxError);
    expect(() => parseCsv('"a"\rb')).toThrow(/after a closing quote/);
  });

  it('does not trim spaces: they belong to the field', () => {
    expect(parseCsv(' a , b \n')).toEqual([[' a ', ' b ']]);
  });
});

describe('parseMultipart', () => {
  const body = (text: string): Buffer => Buffer.from(text, 'utf8');

  it('parses parts with names, filenames and binary-safe content', () => {
    const parts = parseMultipart(
      body('--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xyz\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\nContent-Type: text/csv\r\n\r\nx,y\r\n1,2\r\n\r\n--xyz--'),
      'xyz',
    );
    expect(parts.map((p) => [p.name, p.filename, p.data.toString()])).toEqual([
      ['a', null, '1'],
      ['file', 'f.csv', 'x,y\r\n1,2\r\n'],
    ]);
    expect(parts[1]!.headers['content-type']).toBe('text/csv');
  });

  it('accepts a preamble, an epilogue, transport padding and a part content that mentions the boundary mid-line', () => {
    const parts = parseMultipart(body('preamble\r\n--b  \r\nContent-Disposition: form-data; name=file\r\n\r\nsee --b here\r\n--b--\r\nepilogue'), 'b');
    expect(parts[0]!.data.toString()).toBe('see --b here');
  });

  it('unescapes quoted filenames and keeps UTF-8 in them', () => {
    const parts = parseMultipart(body('--b\r\nContent-Disposition: form-data; name="file"; filename="звонки \\"май\\".csv"\r\n\r\nx\r\n--b--\r\n'), 'b');
    expect(parts[0]!.filename).toBe('звонки "май".csv');
  });

  it('refuses what RFC 7578 does not allow', () => {
    expect(() => parseMultipart(body('--b\nContent-Disposition: form-data; name="f"\n\nx\n--b--'), 'b')).toThrow(/bare LF/);
    expect(() => parseMultipart(body('--b\r\nContent-Disposition: form-data; name="f"\nX: y\r\n\r\nx\r\n--b--'), 'b')).toThrow(/bare LF/);
    expect(() => parseMultipart(body('--b\r\nContent-Disposition: attachment; name="f"\r\n\r\nx\r\n--b--'), 'b')).toThrow(/form-data/);
    expect(() => parseMultipart(body('--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--'), 'b')).toThrow(/no name/);
    expect(() => parseMultipart(body('--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nx'), 'b')).toThrow(/closing/);
    expect(() => parseMultipart(body('--b--'), 'b')).toThrow(/no parts/);
    expect(() => parseMultipart(body('nothing here'), 'b')).toThrow(/no "--b" delimiter/);
    expect(() => parseMultipart(body('--b\r\nContent-Disposition: form-data; name="f"'), 'b')).toThrow(MultipartError);
    expect(() => parseMultipart(body('x'), 'bad"boundary')).toThrow(/invalid multipart boundary/);
  });

  it('parses Content-Type values and header parameters', () => {
    expect(parseMediaType('Multipart/Form-Data; boundary="a b"; charset=utf-8')).toEqual({
      type: 'multipart/form-data',
      params: { boundary: 'a b', charset: 'utf-8' },
    });
    expect(parseHeaderParams('form-data; name="a;b"; filename=x.csv')).toEqual({ head: 'form-data', params: { name: 'a;b', filename: 'x.csv' } });
    expect(() => parseHeaderParams('form-data; name="x')).toThrow(/unterminated/);
    expect(() => parseHeaderParams('form-data; name=a; name=b')).toThrow(/twice/);
  });
});
