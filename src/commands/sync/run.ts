import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import Database from 'better-sqlite3';
import { writeDocument, type IO, type Printer } from '../../cli/io.js';
import { parseCounterIds, type GlobalOptions } from '../../cli/setup.js';
import type { SyncFlags } from './index.js';
import { ConfigError, ExitCode } from '../../errors.js';
import { requireCallKeeperKey } from '../../credentials.js';
import { CallKeeperClient } from '../../clients/callkeeper.js';
import { MetrikaClient } from '../../clients/metrika.js';
import { retryPolicy, type RetryNotice } from '../../clients/http.js';
import { Store } from '../../store/store.js';
import { SyncLock } from '../../store/lock.js';
import { sync, type DryRunSink, type SyncReport } from '../../engine/sync.js';
import { zonedTimeToUnix } from '../../domain/timezone.js';
import { csvDocument } from '../../domain/csv.js';
import type { CounterSettings, DeliveryKind, Row } from '../../domain/types.js';
import { commandBase, credentials, parseSince, yandexToken, type CommandBase } from '../shared.js';

interface DryRunBatch {
  counterId: number;
  counterName: string;
  kind: DeliveryKind;
  header: string[];
  rows: Row[];
}

/**
 * A sync streams pages of ≈ 1 MB through JSON.parse, each garbage a moment later; V8 lets the heap grow up to
 * 4× what survived the last full collection before it collects again (≈ 18 MB live → ≈ 100 MB used in a backfill).
 * Growing by 1.5× instead: peak RSS of the 100 000-call backfill 244 → 200 MB for the same time (BENCHMARKS.md).
 * One of the few V8 flags that is read at every collection, so it may be set after start.
 */
function tuneHeapForStreaming(): void {
  v8.setFlagsFromString('--heap-growing-percent=50');
}

/** `ckym sync`: returns the exit code (contract). */
export async function runSyncCommand(flags: SyncFlags, globals: GlobalOptions, io: IO): Promise<number> {
  tuneHeapForStreaming();
  const quiet = Boolean(flags.quiet || flags.json);
  const base = await commandBase(globals, io, { quiet });
  const { printer, loaded, clock } = base;
  const { config } = loaded;

  if (flags.out && !flags.dryRun) throw new ConfigError('--out only goes with --dry-run');
  const counters = selectCounters(loaded.config.counters, parseCounterIds(flags.counter), loaded.filepath, printer);
  let since: number | undefined;
  if (flags.since !== undefined) {
    const parsed = parseSince(flags.since, config.callkeeper.timezone, zonedTimeToUnix);
    if (parsed === null) throw new ConfigError(`--since: expected a date such as 2024-05-01 or 2024-05-01T10:00:00Z; got ${JSON.stringify(flags.since)}`);
    if (parsed > clock.now() / 1000) throw new ConfigError(`--since: ${flags.since} is in the future`);
    since = parsed;
  }

  const creds = credentials(base);
  const apiKey = requireCallKeeperKey(creds);
  const token = flags.dryRun ? null : await yandexToken(base, creds);
  const policy = retryPolicy(config.network);
  const onRetry = (n: RetryNotice) =>
    printer.info(`${n.service}: ${n.reason} — retry ${n.attempt}/${policy.retries} in ${(n.delayMs / 1000).toFixed(1)} s`);
  const callkeeper = new CallKeeperClient({
    baseUrl: base.urls.callkeeper,
    apiKey,
    method: config.callkeeper.method,
    policy,
    onRetry,
  });

  const started = performance.now();
  let report: SyncReport;
  const dryBatches: DryRunBatch[] = [];

  if (flags.dryRun) {
    const scratch = await scratchCopy(base.home.database);
    const store = Store.open(scratch.file);
    const sink: DryRunSink = ({ counter, kind, header, rows }) =>
      dryBatches.push({ counterId: counter.id, counterName: counter.name, kind, header, rows });
    try {
      report = await sync({ config, counters, store, callkeeper, metrika: null, dryRun: sink, clock, policy, events: progress(printer), pid: process.pid }, { since });
    } finally {
      store.close();
      scratch.remove();
    }
  } else {
    const lock = SyncLock.tryAcquire(base.home.lock);
    if (!lock) return alreadyRunning(base, flags);
    const store = Store.open(base.home.database);
    const metrika = new MetrikaClient({ baseUrl: base.urls.metrika, token: token!, policy, onRetry });
    try {
      report = await sync({ config, counters, store, callkeeper, metrika, clock, policy, events: progress(printer), pid: process.pid }, { since });
    } finally {
      store.close();
      lock.release();
    }
  }
  printer.clearStatus();
  const durationMs = Math.round(performance.now() - started);

  if (flags.dryRun && flags.out) writeDryRunFiles(flags.out, io.cwd, dryBatches, printer);
  if (flags.json) {
    writeDocument(io, syncDocument(report, durationMs, flags.dryRun ? dryBatches : null));
  } else {
    if (flags.dryRun && !flags.out) printDryRun(dryBatches, io);
    for (const c of report.counters) if (c.error) printer.error(`counter ${c.id}${c.name ? ` (${c.name})` : ''}: ${c.error.message}`);
    if (!flags.quiet || report.exitCode !== ExitCode.ok) {
      const line = summaryLine(report, durationMs, Boolean(flags.dryRun));
      if (flags.dryRun) printer.info(line);
      else printer.out(line);
    }
  }
  return report.exitCode;
}

function selectCounters(
  all: CounterSettings[],
  wanted: number[] | undefined,
  file: string | null,
  printer: Printer,
): CounterSettings[] {
  if (all.length === 0) {
    throw new ConfigError(
      file ? `${file}: no counters configured; run "ckym counters add"` : 'no config file found; run "ckym counters add" or pass --config PATH',
    );
  }
  if (!wanted) {
    const enabled = all.filter((c) => c.enabled);
    if (enabled.length === 0) throw new ConfigError(`${file}: every counter has "enabled": false; nothing to sync`);
    return enabled;
  }
  return wanted.map((id) => {
    const counter = all.find((c) => c.id === id);
    if (!counter) {
      throw new ConfigError(`--counter ${id}: not in the config (configured: ${all.map((c) => c.id).join(', ')}); run "ckym counters add ${id}"`);
    }
    if (!counter.enabled) printer.warn(`counter ${id} is disabled in the config; syncing it because --counter names it`);
    return counter;
  });
}

/** A dry run works on a copy of the database, so it decides exactly like a real run and changes nothing. */
async function scratchCopy(database: string): Promise<{ file: string; remove: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-dry-run-'));
  const file = path.join(dir, 'ckym.db');
  if (fs.existsSync(database)) {
    const source = new Database(database, { readonly: true, fileMustExist: true });
    try {
      await source.backup(file);
    } finally {
      source.close();
    }
  }
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function alreadyRunning(base: CommandBase, flags: SyncFlags): number {
  let detail = '';
  if (fs.existsSync(base.home.database)) {
    try {
      const store = Store.open(base.home.database, { readonly: true });
      const running = store.runningRun();
      store.close();
      if (running) detail = ` (pid ${running.pid}, started ${new Date(running.startedAt).toISOString()})`;
    } catch {
      // the message is fine without the detail
    }
  }
  const message = `another ckym sync is already running${detail}; this one has nothing to do`;
  if (flags.json) {
    writeDocument(base.io, { version: 1, command: 'sync', skipped: 'another sync is running', exitCode: 0 });
    base.printer.info(message);
  } else if (!flags.quiet) {
    base.printer.out(message);
  }
  return ExitCode.ok;
}

function progress(printer: Printer) {
  return {
    onWindow: ({ from, to }: { from: number; to: number }) =>
      printer.status(`fetching calls ${iso(from)} … ${iso(to)}`),
    onPage: ({ page, fetched }: { page: number; fetched: number }) =>
      printer.status(`fetched page ${page + 1} · ${fetched} calls`),
    onMalformed: (problem: string) => printer.warn(`a call from CallKeeper was skipped: ${problem}`),
    onReconciled: (r: { batchId: number; counterId: number; result: string; rows: number }) =>
      printer.info(
        r.result === 'sent'
          ? `batch ${r.batchId} (counter ${r.counterId}) was interrupted but Metrica has it: recorded as sent (${r.rows} rows)`
          : `batch ${r.batchId} (counter ${r.counterId}) was interrupted before Metrica got it: its ${r.rows} rows go out again`,
      ),
    onBatch: ({ counterId, kind, rows }: { counterId: number; kind: string; rows: number }) =>
      printer.status(`uploading ${rows} ${kind === 'call' ? 'calls' : 'conversions'} to counter ${counterId}`),
  };
}

const iso = (unix: number) => new Date(unix * 1000).toISOString().replace('.000Z', 'Z');

export function summaryLine(report: SyncReport, durationMs: number, dryRun: boolean): string {
  const parts = [
    `${dryRun ? 'dry run' : 'sync'}: fetched ${report.fetched} calls (${report.newCalls} new) in ${report.pages} page${report.pages === 1 ? '' : 's'}`,
  ];
  if (report.malformed > 0) parts.push(`${report.malformed} malformed`);
  for (const c of report.counters) {
    const label = `${c.id}${c.name ? ` ${c.name}` : ''}`;
    if (c.error) {
      parts.push(`${label}: FAILED`);
      continue;
    }
    const verb = dryRun ? 'would send' : 'sent';
    const skipped = Object.values(c.skipped).reduce((s, n) => s + (n ?? 0), 0);
    const waiting = Object.values(c.waiting).reduce((s, n) => s + (n ?? 0), 0);
    const bits = [`${verb} ${c.calls.sent} call${c.calls.sent === 1 ? '' : 's'}`];
    if (c.conversions.sent > 0 || c.conversions.batchId !== null) bits.push(`${c.conversions.sent} conversions`);
    if (skipped) bits.push(`${skipped} skipped`);
    if (waiting) bits.push(`${waiting} waiting`);
    parts.push(`${label}: ${bits.join(', ')}`);
  }
  parts.push(`${(durationMs / 1000).toFixed(1)} s`);
  return parts.join(' · ');
}

/** The `--json` document (version 1). */
export function syncDocument(report: SyncReport, durationMs: number, dryBatches: DryRunBatch[] | null) {
  return {
    version: 1,
    command: 'sync',
    dryRun: dryBatches !== null,
    runId: dryBatches ? null : report.runId,
    outcome: report.outcome,
    exitCode: report.exitCode,
    durationMs,
    window: { from: iso(report.window.from), to: iso(report.window.to) },
    fetched: { pages: report.pages, calls: report.fetched, new: report.newCalls, malformed: report.malformed },
    reconciled: report.reconciled,
    counters: report.counters.map((c) => ({
      id: c.id,
      name: c.name,
      calls: c.calls,
      conversions: c.conversions,
      skipped: c.skipped,
      waiting: c.waiting,
      error: c.error,
    })),
    ...(dryBatches
      ? {
          batches: dryBatches.map((b) => ({
            counterId: b.counterId,
            kind: b.kind,
            rows: b.rows.length,
            csv: csvDocument(b.header, b.rows),
          })),
        }
      : {}),
  };
}

function printDryRun(batches: DryRunBatch[], io: IO): void {
  for (const b of batches) {
    io.stdout.write(`# counter ${b.counterId}${b.counterName ? ` (${b.counterName})` : ''} · ${b.kind === 'call' ? 'upload_calls' : 'upload (conversions)'} · ${b.rows.length} rows\n`);
    io.stdout.write(csvDocument(b.header, b.rows));
    io.stdout.write('\n');
  }
}

function writeDryRunFiles(dir: string, cwd: string, batches: DryRunBatch[], printer: Printer): void {
  const target = path.resolve(cwd, dir);
  fs.mkdirSync(target, { recursive: true });
  for (const b of batches) {
    const file = path.join(target, `${b.counterId}-${b.kind === 'call' ? 'calls' : 'conversions'}.csv`);
    fs.writeFileSync(file, csvDocument(b.header, b.rows));
    printer.info(`wrote ${file} (${b.rows.length} rows)`);
  }
}
