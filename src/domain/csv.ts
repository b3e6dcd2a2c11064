/**
 * CSV text for Metrica uploads: UTF-8, comma-separated, LF records, fields quoted only when needed
 * (a comma, a quote, CR or LF inside), quotes doubled — RFC 4180. Built with csv-stringify, as the
 * project decided; measured (BENCHMARKS.md): ≈ 2–4 µs a line, a few percent of a backfill. An upload's rows are handed
 * to it a chunk at a time (`csvLines`): each call normalises its options anew, which a line per call paid per row
 * (≈ 1.6 KB of garbage a row, 0.2 GB in a 100 000-call backfill).
 */
import { stringify } from 'csv-stringify/sync';
import type { Row } from './types.js';

const OPTIONS = {
  delimiter: ',',
  quote: '"',
  escape: '"',
  record_delimiter: '\n',
  // An explicit record_delimiter turns off quoting of CR/LF inside fields unless this says otherwise.
  quote_record_delimiter: true,
  eof: true,
} as const;

/** One CSV record, ending with "\n". */
export function csvLine(row: Row): string {
  return stringify([row], OPTIONS);
}

/** Many CSV records, each ending with "\n": the same text as `csvLine` of each row, joined. */
export function csvLines(rows: Row[]): string {
  return stringify(rows, OPTIONS);
}

/** A whole CSV file: the header line, then one line per row. */
export function csvDocument(header: string[], rows: Iterable<Row>): string {
  return stringify([header, ...rows], OPTIONS);
}
