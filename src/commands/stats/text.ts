/**
 * `ckym stats` as text: per-counter blocks, the per-day table with a bar chart, uploads, last runs.
 * Pure: a report in, lines out.
 */
import { bar, duration, table, truncate, type ChartStyle, type Paint } from '../../cli/render.js';
import { byCount, totalOfDays, type CounterStats, type StatsReport, type UploadStats } from '../../domain/stats.js';
import type { RefreshResult } from './refresh.js';
import { localTime } from '../../cli/time.js';

export interface TextOptions {
  paint: Paint;
  style: ChartStyle;
  refresh: RefreshResult | null;
  /** `--counter`: the runs shown are those that uploaded for these counters, with their counts. */
  only?: readonly number[] | undefined;
}

const reasons = (map: Record<string, number>): string =>
  byCount(map)
    .map(([r, n]) => `${r} ${n}`)
    .join(' · ');

function counterBlock(c: CounterStats, o: TextOptions): string[] {
  const { paint } = o;
  const label = c.configured ? c.name : '(not in the config)';
  const flags = c.enabled === false ? paint.dim(' (disabled)') : '';
  const lines = [paint.bold(`${c.id}${label ? `  ${label}` : ''}`) + flags];
  const rows: string[][] = [];
  const late = c.calls.sentOlderThan21Days;
  rows.push([
    'calls sent',
    String(c.calls.sent),
    late > 0 ? paint.warn(`${late} older than 21 days at upload: in the call reports, not linked to visits`) : '',
  ]);
  if (c.goal !== null || c.conversions.sent + c.conversions.pending + c.conversions.batched + c.conversions.failed > 0) {
    const goals = Object.keys(c.conversions.byGoal).length > 0 ? reasons(c.conversions.byGoal) : c.goal ? `goal ${c.goal}` : '';
    const noClient = c.conversions.skippedByReason['no-client-id'] ?? 0;
    rows.push([
      'conversions sent',
      String(c.conversions.sent),
      [goals, noClient > 0 ? `${noClient} taken calls had no ClientID` : ''].filter(Boolean).join(' · '),
    ]);
    const lateConv = c.conversions.sentOlderThan21Days;
    if (lateConv > 0) rows.push(['', '', paint.warn(`${lateConv} conversions older than 21 days at upload`)]);
  }
  rows.push(['skipped', String(c.calls.skipped), reasons(c.calls.skippedByReason)]);
  if (c.calls.waiting + c.conversions.waiting > 0) rows.push(['waiting', String(c.calls.waiting), reasons(c.calls.waitingByReason)]);
  if (c.calls.decidedAfterMaxWait > 0) {
    rows.push(['waited out', String(c.calls.decidedAfterMaxWait), `decided as they stood after sync.maxWaitHours · ${reasons(c.calls.decidedAfterMaxWaitByReason)}`]);
  }
  const pendingCalls = c.calls.pending + c.calls.batched;
  const pendingConv = c.conversions.pending + c.conversions.batched;
  if (pendingCalls + pendingConv > 0) {
    rows.push(['pending', String(pendingCalls), pendingConv > 0 ? `${pendingConv} conversions` : '']);
  }
  const malformed = c.calls.malformed + c.conversions.malformed;
  if (malformed > 0) {
    rows.push([
      'malformed',
      paint.warn(String(c.calls.malformed)),
      paint.warn(
        `${reasons(c.calls.malformedByReason) || reasons(c.conversions.malformedByReason)} — rows Metrica would refuse, never sent` +
          (c.conversions.malformed > 0 ? `; ${c.conversions.malformed} conversions` : ''),
      ),
    ]);
  }
  const failed = c.calls.failed + c.conversions.failed;
  if (failed > 0) {
    rows.push([
      paint.bad('failed'),
      paint.bad(String(c.calls.failed)),
      paint.bad(
        `kept aside: Metrica refused them (see the uploads below)${c.conversions.failed > 0 ? `; ${c.conversions.failed} conversions` : ''} — fix the cause, then "ckym sync --retry-failed"`,
      ),
    ]);
  }
  lines.push(...table([{ header: '' }, { header: '', align: 'right' }, { header: '' }], rows, { indent: '  ', noHeader: true }));
  return lines;
}

function dayTable(report: StatsReport, o: TextOptions): string[] {
  const max = Math.max(0, ...report.days.map((d) => d.calls.sent));
  const rows = report.days.map((d) => [
    d.date,
    String(d.calls.sent),
    String(d.conversions.sent),
    String(d.calls.skipped),
    String(d.calls.waiting),
    o.paint.ok(bar(d.calls.sent, max, 24, o.style)),
  ]);
  const total = totalOfDays(report.days);
  const lines = table(
    [
      { header: 'date' },
      { header: 'calls', align: 'right' },
      { header: 'conv', align: 'right' },
      { header: 'skipped', align: 'right' },
      { header: 'waiting', align: 'right' },
      { header: 'calls sent' },
    ],
    [...rows, [o.paint.bold('total'), String(total.calls.sent), String(total.conversions.sent), String(total.calls.skipped), String(total.calls.waiting), '']],
    { indent: '  ', rule: o.style, paint: o.paint },
  );
  return lines;
}

const PROBLEM_TEXT: Record<string, string> = {
  'linkage-failure': 'Metrica could not link these calls (LINKAGE_FAILURE)',
  'lines-dropped': 'Metrica kept fewer lines than it was sent (it drops rows it cannot use without a word)',
  rejected: 'Metrica refused the file; its rows are kept aside until "ckym sync --retry-failed"',
};

/** The file's kind, with its identifier type and segment when they are not the usual: `calls`, `calls yclid`, `conversions old`. */
function fileKind(u: UploadStats): string {
  return [u.kind === 'call' ? 'calls' : 'conversions', u.idType === 'yclid' ? 'yclid' : '', u.segment === 'old' ? 'old' : ''].filter(Boolean).join(' ');
}

function uploadsTable(uploads: UploadStats[], report: StatsReport, o: TextOptions): string[] {
  const { paint } = o;
  const rows = uploads.map((u) => {
    const m = u.metrika;
    const status = m?.status ?? '';
    // What Metrica kept of the rows sent (its line_quantity).
    const lines = m && m.lineQuantity !== null ? String(m.lineQuantity) : '';
    const split = m && (m.staticCalls !== null || m.dynamicCalls !== null) ? `${m.staticCalls ?? '?'}/${m.dynamicCalls ?? '?'}` : '';
    return [
      String(u.batchId),
      localTime(u.createdAt * 1000, report.timeZone),
      String(u.counterId),
      fileKind(u),
      String(u.rows),
      u.status === 'sent' ? u.status : u.status === 'rejected' ? paint.bad(u.status) : paint.warn(u.status),
      u.uploadingId === null ? '' : String(u.uploadingId),
      u.problems.includes('linkage-failure') ? paint.bad(`${status} ✗`) : status,
      u.problems.includes('lines-dropped') ? paint.warn(`${lines} !`) : lines,
      split,
      u.error ? truncate(u.error.replace(/\s+/g, ' '), 60) : '',
    ];
  });
  const out = table(
    [
      { header: 'batch', align: 'right' },
      { header: 'created' },
      { header: 'counter' },
      { header: 'kind' },
      { header: 'sent', align: 'right' },
      { header: 'status' },
      { header: 'uploading' },
      { header: 'Metrica' },
      { header: 'kept', align: 'right' },
      { header: 'static/dyn' },
      { header: 'error' },
    ],
    rows,
    { indent: '  ', rule: o.style, paint },
  );
  for (const u of uploads) {
    for (const p of u.problems) out.push(paint.bad(`  ! batch ${u.batchId} (counter ${u.counterId}): ${PROBLEM_TEXT[p]}`));
  }
  return out;
}

function runsTable(report: StatsReport, o: TextOptions): string[] {
  const rows = report.runs.map((r) => [
    localTime(r.startedAt, report.timeZone),
    duration(r.durationMs),
    String(r.fetched),
    String(r.sentCalls),
    String(r.sentConversions),
    String(r.skipped),
    r.outcome === 'ok' ? r.outcome : r.outcome === 'running' ? o.paint.warn(r.outcome) : o.paint.bad(r.outcome),
    r.error ? truncate(r.error.replace(/\s+/g, ' '), 70) : '',
  ]);
  return table(
    [
      { header: 'started' },
      { header: 'took', align: 'right' },
      { header: 'fetched', align: 'right' },
      { header: 'calls', align: 'right' },
      { header: 'conv', align: 'right' },
      { header: 'skipped', align: 'right' },
      { header: 'outcome' },
      { header: 'error' },
    ],
    rows,
    { indent: '  ', rule: o.style, paint: o.paint },
  );
}

/** The whole report as lines. */
export function statsText(report: StatsReport, o: TextOptions): string[] {
  const { paint } = o;
  const scope = report.since === null ? 'all calls so far' : `calls since ${localTime(report.since * 1000, report.timeZone)}`;
  const out: string[] = [paint.bold(`Sent to Yandex Metrica — ${scope} (times in ${report.timeZone})`), ''];
  if (report.counters.length === 0) out.push('  no counters configured and none in the database', '');
  for (const c of report.counters) out.push(...counterBlock(c, o), '');

  out.push(paint.bold(`Per day, by call time (last ${report.days.length} days)`));
  out.push(...dayTable(report, o), '');

  if (o.refresh) {
    const r = o.refresh;
    const parts = [`asked Metrica about ${r.checked} upload${r.checked === 1 ? '' : 's'}`];
    if (r.changed.length > 0) parts.push(`${r.changed.length} changed status`);
    if (r.errors.length > 0) parts.push(`${r.errors.length} could not be read`);
    out.push(`Refreshed: ${parts.join(', ')}`);
    for (const e of r.errors) out.push(paint.warn(`  ! batch ${e.batchId}: ${e.message}`));
    if (r.unavailable) out.push(paint.bad(`  ✗ stopped: ${r.unavailable}`));
    out.push('');
  }
  out.push(paint.bold('Uploads, newest first'));
  if (report.uploads.length === 0) out.push('  none yet');
  else out.push(...uploadsTable(report.uploads, report, o));
  out.push('');

  const some = o.only && o.only.length > 0 ? o.only.join(', ') : null;
  out.push(paint.bold(some ? `Last runs that uploaded for ${some} (calls and conv: its own; fetched and skipped: the run's)` : 'Last runs'));
  if (report.runs.length === 0) out.push('  none yet');
  else out.push(...runsTable(report, o));
  return out;
}
