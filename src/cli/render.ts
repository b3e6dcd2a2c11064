/**
 * Text building blocks for terminal output: aligned tables and bar charts. Pure: strings in, lines out (the command layer's, not the core's).
 * Colour comes in as a `Paint` (identity functions when colour is off), so nothing here knows about TTYs.
 */

/** How to colour a piece of text. `plainPaint` leaves everything as is. */
export interface Paint {
  ok(text: string): string;
  bad(text: string): string;
  warn(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

const same = (text: string): string => text;
export const plainPaint: Paint = { ok: same, bad: same, warn: same, dim: same, bold: same };

/** `unicode`: block characters (eighths of a cell); `ascii`: `#` only, for plain terminals and logs. */
export type ChartStyle = 'unicode' | 'ascii';

const ANSI = /\u001b\[[0-9;]*m/g;

/** Columns a string takes on a terminal: ANSI colour codes take none, combining marks none, the rest one. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text.replace(ANSI, '')) {
    if (/\p{Mn}/u.test(ch)) continue;
    width += 1;
  }
  return width;
}

/** Cuts `text` to `max` columns, ending with `…` when it was longer. */
export function truncate(text: string, max: number): string {
  if (max <= 0) return '';
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

export interface TableOptions {
  /** Put before every line. Default ''. */
  indent?: string;
  /** Between columns. Default two spaces. */
  gap?: string;
  /** A rule under the header: `─` (unicode) or `-` (ascii); none when absent. */
  rule?: ChartStyle;
  paint?: Paint;
  /** Hide the header line (a key–value list). */
  noHeader?: boolean;
}

/**
 * An aligned table. Cells may carry colour codes (widths ignore them). Trailing spaces are trimmed, so the
 * last column can be free text (an error, a chart).
 */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[], options: TableOptions = {}): string[] {
  const indent = options.indent ?? '';
  const gap = options.gap ?? '  ';
  const paint = options.paint ?? plainPaint;
  const widths = columns.map((c, i) =>
    Math.max(options.noHeader ? 0 : displayWidth(c.header), ...rows.map((r) => displayWidth(r[i] ?? ''))),
  );
  const line = (cells: readonly string[]) =>
    (indent + columns.map((c, i) => pad(cells[i] ?? '', widths[i]!, c.align ?? 'left')).join(gap)).replace(/\s+$/, '');
  const out: string[] = [];
  if (!options.noHeader) {
    out.push(paint.dim(line(columns.map((c) => c.header))));
    if (options.rule) {
      const ch = options.rule === 'unicode' ? '─' : '-';
      out.push(paint.dim(indent + widths.map((w) => ch.repeat(w)).join(gap)));
    }
  }
  for (const r of rows) out.push(line(r));
  return out;
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/**
 * A horizontal bar for `value` out of `max`, at most `width` cells. Unicode bars resolve eighths of a cell;
 * any value above zero shows at least a sliver, so "a few" never looks like "none".
 */
export function bar(value: number, max: number, width: number, style: ChartStyle = 'unicode'): string {
  if (!(value > 0) || !(max > 0) || width <= 0) return '';
  const cells = (Math.min(value, max) / max) * width;
  if (style === 'ascii') return '#'.repeat(Math.max(1, Math.round(cells)));
  const eighths = Math.max(1, Math.round(cells * 8));
  return '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8]!;
}

export interface BarChartItem {
  label: string;
  value: number;
}

export interface BarChartOptions {
  /** Cells for the longest bar. Default 30. */
  width?: number;
  style?: ChartStyle;
  paint?: Paint;
  indent?: string;
}

/** `label │████▍ 123` per item, bars scaled to the largest value. */
export function barChart(items: readonly BarChartItem[], options: BarChartOptions = {}): string[] {
  const width = options.width ?? 30;
  const style = options.style ?? 'unicode';
  const paint = options.paint ?? plainPaint;
  const indent = options.indent ?? '';
  const max = Math.max(0, ...items.map((i) => i.value));
  const labelWidth = Math.max(0, ...items.map((i) => displayWidth(i.label)));
  const numberWidth = Math.max(1, ...items.map((i) => String(i.value).length));
  const axis = style === 'unicode' ? '│' : '|';
  return items.map((item) => {
    const b = bar(item.value, max, width, style);
    return `${indent}${pad(item.label, labelWidth, 'left')} ${paint.dim(axis)}${paint.ok(b)}${' '.repeat(
      Math.max(0, width - displayWidth(b)),
    )} ${String(item.value).padStart(numberWidth)}`.replace(/\s+$/, '');
  });
}

/** `1.2 s`, `850 ms`, `3 min 4 s`. */
export function duration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}
