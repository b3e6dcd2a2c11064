/**
 * CSV text for Metrica uploads: UTF-8, comma-separated, LF records, fields quoted only when needed
 * (a comma, a quote, CR or LF inside), quotes doubled — RFC 4180.
 *
 * Written out by hand rather than with a CSV library: a backfill writes hundreds of thousands of
 * lines, and a per-line stringifier (options normalised, a transform set up for every call) cost
 * more than everything else in the upload.
 */
import type { Row } from './types.js';

const NEEDS_QUOTES = /[",\r\n]/;

function field(cell: string): string {
  return NEEDS_QUOTES.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}

/** One CSV record, ending with "\n". */
export function csvLine(row: Row): string {
  let line = '';
  for (let i = 0; i < row.length; i++) line += i === 0 ? field(row[i]!) : `,${field(row[i]!)}`;
  return `${line}\n`;
}

/** A whole CSV file: the header line, then one line per row. */
export function csvDocument(header: string[], rows: Iterable<Row>): string {
  let text = csvLine(header);
  for (const row of rows) text += csvLine(row);
  return text;
}
