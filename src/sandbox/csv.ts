/**
 * A strict RFC 4180 CSV reader, the emulator's own (ckym's CSV writer must not judge itself).
 * Comma separator, `"`-quoted fields with `""` for a quote, commas and line breaks allowed inside
 * quotes, records ended by CRLF or LF (a lone CR outside quotes is an error). A final line break
 * does not start an empty record.
 */

export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`CSV line ${line}: ${message}`);
    this.name = 'CsvSyntaxError';
  }
}

export function parseCsv(text: string): string[][] {
  // Fields are sliced out whole (indexOf for quotes, a char-code scan otherwise), not built a character at a time.
  const records: string[][] = [];
  const n = text.length;
  if (n === 0) return records;
  let record: string[] = [];
  let i = 0;
  let line = 1;
  /** Ends the current record after its last field; true when the text ends there. */
  const endRecord = (field: string, next: number): boolean => {
    record.push(field);
    records.push(record);
    record = [];
    i = next;
    return next >= n;
  };

  for (;;) {
    // At the start of a field (i may be n: a final separator leaves an empty last field).
    if (text.charCodeAt(i) === QUOTE) {
      const openedAt = line;
      let field = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) throw new CsvSyntaxError('a quoted field is never closed', openedAt);
        line += countLineFeeds(text, from, q);
        field += text.slice(from, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          field += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // After the closing quote: separator, line break or end.
      if (i >= n) {
        endRecord(field, i);
        return records;
      }
      const next = text.charCodeAt(i);
      if (next === COMMA) {
        record.push(field);
        i += 1;
        continue;
      }
      if (next === LF || (next === CR && text.charCodeAt(i + 1) === LF)) {
        line += 1;
        if (endRecord(field, i + (next === CR ? 2 : 1))) return records;
        continue;
      }
      throw new CsvSyntaxError(`unexpected ${JSON.stringify(text[i])} after a closing quote`, line);
    }
    let end = i;
    while (end < n) {
      const c = text.charCodeAt(end);
      if (c === COMMA || c === LF || c === CR || c === QUOTE) break;
      end += 1;
    }
    const field = text.slice(i, end);
    if (end >= n) {
      endRecord(field, end);
      return records;
    }
    const c = text.charCodeAt(end);
    if (c === QUOTE) throw new CsvSyntaxError('a quote inside an unquoted field (quote the whole field)', line);
    if (c === COMMA) {
      record.push(field);
      i = end + 1;
      continue;
    }
    if (c === CR && text.charCodeAt(end + 1) !== LF) throw new CsvSyntaxError('a carriage return without a line feed', line);
    line += 1;
    if (endRecord(field, end + (c === CR ? 2 : 1))) return records;
  }
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

function countLineFeeds(text: string, from: number, to: number): number {
  let count = 0;
  for (let at = text.indexOf('\n', from); at >= 0 && at < to; at = text.indexOf('\n', at + 1)) count += 1;
  return count;
}
