/**
 * `ckym sync` as text: the progress line on a terminal, the summary (one line under cron, a block per counter on a
 * terminal), the dry run's CSVs and the notes told along the way. Pure: a report in, lines out.
 */
import { duration, table, type Paint } from '../../cli/render.js';
import { csvDocument } from '../../domain/csv.js';
import { byCount } from '../../domain/stats.js';
import type { RetryNotice } from '../../clients/retry.js';
import type { CounterReport, DryRunBatch, ReconcileResult, SyncEvents, SyncReport } from '../../engine/types.js';
import type { FetchWindow } from '../../domain/run.js';
import { localTime, zonedTime } from '../../cli/time.js';
import { newestCallOf, sinceAfter } from '../../domain/adopt.js';
import type { AdoptedCounter, FoundUploads } from '../../engine/adopt.js';

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
    const malformed = sum(c.malformed);
    const keptAside = c.calls.failed + c.conversions.failed;
    const dropped = c.calls.dropped + c.conversions.dropped;
    if (skipped) bits.push(`${skipped} skipped`);
    if (waiting) bits.push(`${waiting} waiting`);
    if (malformed) bits.push(`${malformed} malformed`);
    if (keptAside) bits.push(`${keptAside} refused by Metrica`);
    if (dropped) bits.push(`${dropped} dropped by Metrica`);
    if (c.conversions.held) bits.push(`${c.conversions.held.rows} conversions held`);
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
  const malformed = sum(c.malformed);
  if (malformed > 0) {
    rows.push(['malformed', paint.warn(String(malformed)), paint.dim(`${reasons(c.malformed)} — rows Metrica would refuse: never sent`)]);
  }
  for (const k of [c.calls, c.conversions]) {
    if (k.failed > 0) {
      const what = k === c.calls ? plural(k.failed, 'call') : plural(k.failed, 'conversion');
      rows.push([paint.bad('refused'), paint.bad(String(k.failed)), paint.bad(`${what} kept aside: ${k.refusal ?? ''} — fix the cause, then "ckym sync --retry-failed"`)]);
    }
  }
  const dropped = c.calls.dropped + c.conversions.dropped;
  if (dropped > 0) rows.push(['dropped', paint.warn(String(dropped)), paint.warn('Metrica kept fewer lines than it was sent — see "ckym stats --refresh"')]);
  if (c.conversions.held) {
    rows.push(['held', paint.warn(String(c.conversions.held.rows)), paint.warn(`conversions: Metrica's conversion linking is off — run "ckym counters edit ${c.id} --yes"`)]);
  }
  if (c.error) rows.push([paint.bad('failed'), '', paint.bad(`${c.error.message}`)]);
  return [head, ...table([{ header: '' }, { header: '', align: 'right' }, { header: '' }], rows, { indent: '  ', noHeader: true })];
}

type Told<K extends keyof SyncEvents> = Parameters<NonNullable<SyncEvents[K]>>[0];

/** Metrica kept fewer lines of an upload than it was sent (a warning: it says nothing else about them). */
export function droppedText(d: Told<'onDropped'>): string {
  const what = d.kind === 'call' ? 'calls' : 'conversions';
  return `Metrica kept ${d.kept} of the ${d.rows} ${what} of batch ${d.batchId} (counter ${d.counterId}): it dropped ${d.rows - d.kept} without a word; see "ckym stats --refresh"`;
}

/** Metrica refused a file: split to find its bad rows, or kept aside. */
export function refusedText(r: Told<'onRefused'>): string {
  const what = `${r.kind === 'call' ? 'calls' : 'conversions'} of counter ${r.counterId}`;
  return r.split
    ? `Metrica refused batch ${r.batchId} (${plural(r.rows, 'row')} of ${what}): sent in parts to find the rows it refuses — ${r.reason}`
    : `Metrica refused ${plural(r.rows, 'row')} of ${what} (batch ${r.batchId}): kept aside — ${r.reason}`;
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

/** Rows Metrica refused in this run and that are kept aside, on stderr: one line per kind, with what to do. */
export function refusalTexts(c: CounterReport): string[] {
  const label = `counter ${c.id}${c.name ? ` (${c.name})` : ''}`;
  return [
    [c.calls, 'call'],
    [c.conversions, 'conversion'],
  ]
    .filter(([k]) => (k as CounterReport['calls']).failed > 0)
    .map(([k, what]) => {
      const r = k as CounterReport['calls'];
      return `${label}: ${plural(r.failed, what as string)} kept aside: ${r.refusal ?? 'Metrica refused them'} — fix the cause, then "ckym sync --retry-failed"`;
    });
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
        `# counter ${b.counterId}${b.counterName ? ` (${b.counterName})` : ''} · ${b.kind === 'call' ? 'upload_calls' : 'upload (conversions)'}` +
        `${b.idType === 'yclid' ? ' · client_id_type=YCLID' : ''}${b.segment === 'old' ? ' · before the linking threshold' : ''} · ${b.rows.length} rows\n` +
        `${csvDocument(b.header, b.rows)}\n`,
    )
    .join('');
}

/** The file a dry run writes a batch into, inside `--out`. */
export function dryRunFileName(b: DryRunBatch): string {
  return `${b.counterId}-${b.kind === 'call' ? 'calls' : 'conversions'}${b.idType === 'yclid' ? '-yclid' : ''}${b.segment === 'old' ? '-old' : ''}.csv`;
}

// ── a new or lost database (Metrica's uploadings list as the record) ──

const label = (f: { counterId: number; name: string }): string => `counter ${f.counterId}${f.name ? ` (${f.name})` : ''}`;
const when = (unix: number | null, timeZone: string): string => (unix === null ? 'an unknown time' : zonedTime(unix * 1000, timeZone));

/** `--since` as the user would type it: the first whole minute after `newestCall`, in the account's zone. */
export function sinceSuggestion(newestCall: number, timeZone: string): string {
  return localTime(sinceAfter(newestCall) * 1000, timeZone).replace(' ', 'T');
}

/**
 * The stop (exit 2): per counter, when ckym's last upload to it was and the newest call those uploads hold; then the
 * two ways on. Lines after the first that start with spaces continue it (`ckym: ` is put before the others).
 */
export function priorUploadsText(found: readonly FoundUploads[], timeZone: string, form: 'lines' | 'one line' = 'lines'): string {
  const lines = found.map(
    (f) =>
      `${label(f)} has no history in this database, but Metrica already holds ${plural(f.prior.uploads, 'upload')} by ckym to it ` +
      `(installation ${f.prior.installations.join(', ')}): the last on ${when(f.prior.lastUpload, timeZone)}, holding calls up to ${when(f.prior.newestCall, timeZone)}`,
  );
  const newest = newestCallOf(found);
  const since = newest === null ? 'DATE' : sinceSuggestion(newest, timeZone);
  const ways = [
    ['ckym sync --adopt', '# calls up to then are taken as sent (Metrica has them): nothing goes twice'],
    [`ckym sync --since ${since}`, `# or start where you choose${newest === null ? ': a time after the last call they hold' : ' (here: just after the last call they hold)'}`],
  ];
  if (form === 'one line') {
    return `${lines.join('; ')}; a new (or lost) database would send those calls again, so nothing was fetched or sent: run "${ways[0]![0]}", or "${ways[1]![0]}"`;
  }
  const width = Math.max(...ways.map(([command]) => command!.length));
  lines.push(
    'a new (or lost) database would send those calls again, so nothing was fetched or sent. Go on with one of:',
    ...ways.map(([command, why]) => `  ${command!.padEnd(width)}  ${why}`),
  );
  return lines.join('\n');
}

/** `--adopt` took a counter over: what is now taken as sent. */
export function adoptedText(a: AdoptedCounter, timeZone: string): string {
  const { call, conversion } = a.floors;
  const upTo =
    call !== undefined && conversion !== undefined && call !== conversion
      ? `calls up to ${when(call, timeZone)} and conversions up to ${when(conversion, timeZone)}`
      : `calls up to ${when(call ?? conversion ?? null, timeZone)}`;
  return `${label(a)}: --adopt: Metrica holds ${plural(a.prior.uploads, 'upload')} by ckym to it; ${upTo} are taken as sent and never sent again`;
}

/** `--since` on a counter unknown to this database that ckym uploaded to: said as a warning when the two overlap. */
export function sinceOverlapText(f: FoundUploads & { since: number }, timeZone: string): string | null {
  if (f.prior.newestCall === null || f.since > f.prior.newestCall) return null;
  return (
    `${label(f)}: --since ${when(f.since, timeZone)} starts before the last call ckym's earlier uploads to it hold ` +
    `(${when(f.prior.newestCall, timeZone)}): calls between the two that were uploaded then are sent again (--adopt would not)`
  );
}
