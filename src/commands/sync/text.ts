/**
 * `ckym sync` as text: the progress line on a terminal, the summary (one line under cron, a block per counter on a
 * terminal), the dry run's CSVs and the notes told along the way. Pure: a report in, lines out.
 */
import { duration, table, type Paint } from '../../cli/render.js';
import { csvDocument } from '../../domain/csv.js';
import { byCount } from '../../domain/stats.js';
import type { RetryNotice } from '../../clients/retry.js';
import type { CounterReport, DryRunBatch, ReconcileResult, SyncReport } from '../../engine/types.js';
import type { FetchWindow } from '../../domain/run.js';
import { localTime } from '../../cli/time.js';

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
const sum = (counts: Partial<Record<string, number>>): number => Object.values(counts).reduce<number>((s, n) => s + (n ?? 0), 0);
const reasons = (counts: Partial<Record<string, number>>): string =>
  byCount(counts as Record<string, number>)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(' · ');

/** The summary under cron (no terminal): one line — scripts and the README match it. */
export function summaryLine(report: SyncReport, durationMs: number, dryRun: boolean): string {
  const parts = [
    `${dryRun ? 'dry run' : 'sync'}: fetched ${report.fetched} calls (${report.newCalls} new) in ${plural(report.pages, 'page')}`,
  ];
  if (report.malformed > 0) parts.push(`${report.malformed} malformed`);
  for (const c of report.counters) {
    const label = `${c.id}${c.name ? ` ${c.name}` : ''}`;
    if (c.error) {
      parts.push(`${label}: FAILED`);
      continue;
    }
    const bits = [`${dryRun ? 'would send' : 'sent'} ${plural(c.calls.sent, 'call')}`];
    if (c.conversions.sent > 0 || c.conversions.batchId !== null) bits.push(`${c.conversions.sent} conversions`);
    const skipped = sum(c.skipped);
    const waiting = sum(c.waiting);
    if (skipped) bits.push(`${skipped} skipped`);
    if (waiting) bits.push(`${waiting} waiting`);
    parts.push(`${label}: ${bits.join(', ')}`);
  }
  parts.push(`${(durationMs / 1000).toFixed(1)} s`);
  return parts.join(' · ');
}

export interface SummaryOptions {
  durationMs: number;
  dryRun: boolean;
  paint: Paint;
}

/** The summary on a terminal: a headline, then a few aligned lines per counter. */
export function summaryLines(report: SyncReport, o: SummaryOptions): string[] {
  const { paint } = o;
  const fetched = [`fetched ${plural(report.fetched, 'call')} (${report.newCalls} new) in ${plural(report.pages, 'page')}`];
  if (report.malformed > 0) fetched.push(paint.warn(`${report.malformed} malformed`));
  if (report.reconciled.length > 0) fetched.push(`${plural(report.reconciled.length, 'interrupted batch', 'interrupted batches')} settled`);
  const lines = [`${paint.bold(o.dryRun ? 'dry run' : 'sync')} · ${fetched.join(' · ')} · ${duration(o.durationMs)}`];
  for (const c of report.counters) lines.push('', ...counterLines(c, o));
  return lines;
}

function counterLines(c: CounterReport, { dryRun, paint }: SummaryOptions): string[] {
  const head = paint.bold(`${c.id}${c.name ? `  ${c.name}` : ''}`);
  const rows: string[][] = [];
  const count = (n: number) => (n > 0 ? paint.ok(String(n)) : String(n));
  rows.push([dryRun ? 'would send' : 'sent', count(c.calls.sent), c.calls.sent === 1 ? 'call' : 'calls']);
  if (c.conversions.sent > 0 || c.conversions.batchId !== null) {
    rows.push(['', count(c.conversions.sent), c.conversions.sent === 1 ? 'conversion' : 'conversions']);
  }
  const skipped = sum(c.skipped);
  if (skipped > 0) rows.push(['skipped', String(skipped), paint.dim(reasons(c.skipped))]);
  const waiting = sum(c.waiting);
  if (waiting > 0) rows.push(['waiting', paint.warn(String(waiting)), paint.dim(`${reasons(c.waiting)} — sent once final`)]);
  const late = c.calls.late + c.conversions.late;
  if (late > 0) {
    const what = c.conversions.late > 0 ? `${plural(c.calls.late, 'call')} and ${plural(c.conversions.late, 'conversion')}` : plural(late, 'call');
    rows.push([
      'too old',
      paint.warn(String(late)),
      paint.warn(`${what} over 21 days old: in the call reports, but not linked to visits`),
    ]);
  }
  if (c.error) rows.push([paint.bad('failed'), '', paint.bad(`${c.error.message}`)]);
  return [head, ...table([{ header: '' }, { header: '', align: 'right' }, { header: '' }], rows, { indent: '  ', noHeader: true })];
}

/** The status line while calls are fetched: the calls so far and the date reached; with `--since`, percent and time left. */
export function progressText(p: {
  window: FetchWindow;
  fetched: number;
  reached: number | null;
  elapsedMs: number;
  backfill: boolean;
  timeZone: string;
}): string {
  const parts = [`fetching calls · ${plural(p.fetched, 'call')} so far`];
  if (p.reached !== null) parts.push(`reached ${localTime(p.reached * 1000, p.timeZone)}`);
  const span = p.window.to - p.window.from;
  if (p.backfill && p.reached !== null && span > 0) {
    const done = Math.min(1, Math.max(0, (p.reached - p.window.from) / span));
    parts.push(`${Math.floor(done * 100)}%`);
    if (done >= 0.01 && done < 1) parts.push(`about ${duration(Math.round((p.elapsedMs * (1 - done)) / done))} left`);
  }
  return parts.join(' · ');
}

/** The status line once the window is known. */
export function windowText(window: FetchWindow, timeZone: string): string {
  return `fetching calls ${localTime(window.from * 1000, timeZone)} … ${localTime(window.to * 1000, timeZone)} (${timeZone})`;
}

/** What happened to a batch an earlier run left unfinished. */
export function reconciledText(r: ReconcileResult): string {
  return r.result === 'sent'
    ? `batch ${r.batchId} (counter ${r.counterId}) was interrupted but Metrica has it: recorded as sent (${r.rows} rows)`
    : `batch ${r.batchId} (counter ${r.counterId}) was interrupted before Metrica got it: its ${r.rows} rows go out again`;
}

/** A wait before a retry, on stderr. */
export function retryText(n: RetryNotice, retries: number): string {
  return `${n.service}: ${n.reason} — retry ${n.attempt}/${retries} in ${(n.delayMs / 1000).toFixed(1)} s`;
}

/** A counter that failed, on stderr. */
export function counterErrorText(c: CounterReport): string {
  return `counter ${c.id}${c.name ? ` (${c.name})` : ''}: ${c.error?.message ?? ''}`;
}

/** The dry run's batches as they would have been uploaded: a comment line, then the CSV. */
export function dryRunText(batches: readonly DryRunBatch[]): string {
  return batches
    .map(
      (b) =>
        `# counter ${b.counterId}${b.counterName ? ` (${b.counterName})` : ''} · ${b.kind === 'call' ? 'upload_calls' : 'upload (conversions)'} · ${b.rows.length} rows\n` +
        `${csvDocument(b.header, b.rows)}\n`,
    )
    .join('');
}

/** The file a dry run writes a batch into, inside `--out`. */
export function dryRunFileName(b: DryRunBatch): string {
  return `${b.counterId}-${b.kind === 'call' ? 'calls' : 'conversions'}.csv`;
}
