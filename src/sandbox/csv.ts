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
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let line = 1;
  const n = text.length;
  /** true right after a separator or at the start of a record: a field is pending. */
  let atFieldStart = true;
  /** true once the current record has consumed any character. */
  let started = false;

  const endField = (): void => {
    record.push(field);
    field = '';
  };
  const endRecord = (): void => {
    endField();
    records.push(record);
    record = [];
    atFieldStart = true;
    started = false;
  };

  while (i < n) {
    const ch = text[i]!;
    started = true;
    if (atFieldStart && ch === '"') {
      // Quoted field.
      i += 1;
      const openedAt = line;
      for (;;) {
        if (i >= n) throw new CsvSyntaxError('a quoted field is never closed', openedAt);
        const c = text[i]!;
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        if (c === '\n') line += 1;
        field += c;
        i += 1;
      }
      // After the closing quote: separator, line break or end.
      const next = text[i];
      if (next === undefined) break;
      if (next === ',') {
        endField();
        i += 1;
        atFieldStart = true;
        continue;
      }
      if (next === '\n' || (next === '\r' && text[i + 1] === '\n')) {
        i += next === '\r' ? 2 : 1;
        line += 1;
        endRecord();
        continue;
      }
      throw new CsvSyntaxError(`unexpected ${JSON.stringify(next)} after a closing quote`, line);
    }
    atFieldStart = false;
    if (ch === ',') {
      endField();
      atFieldStart = true;
      i += 1;
      continue;
    }
    if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] !== '\n') throw new CsvSyntaxError('a carriage return without a line feed', line);
      i += ch === '\r' ? 2 : 1;
      line += 1;
      endRecord();
      continue;
    }
    if (ch === '"') throw new CsvSyntaxError('a quote inside an unquoted field (quote the whole field)', line);
    field += ch;
    i += 1;
  }
  // Text not ending in a line break: flush the last record (but not after a final line break).
  if (started) endRecord();
  return records;
}
