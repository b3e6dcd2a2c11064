import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { terminalSafe, writeDocument, type IO, type Printer } from '../../cli/io.js';
import { parseCounterIds, type GlobalOptions } from '../../cli/setup.js';
import { ConfigError, ExitCode, LocalError } from '../../errors.js';
import { UploadsInMetrica } from '../../engine/adopt.js';
import { newestCallOf } from '../../domain/adopt.js';
import { requireCallKeeperKey } from '../../credentials.js';
import { CallKeeperClient } from '../../clients/callkeeper.js';
import { MetrikaClient } from '../../clients/metrika.js';
import { RetryBudget, retryPolicy, type RetryNotice } from '../../clients/retry.js';
import { Store } from '../../store/store.js';
import { SyncLock } from '../../store/lock.js';
import { fileProblem, openToOthers, writePrivateFile } from '../../files.js';
import { sync } from '../../engine/run.js';
import { DryRunUploader, MetricaUploader } from '../../engine/upload.js';
import type { DryRunBatch, SyncEvents, SyncReport, Uploader } from '../../engine/types.js';
import { zonedTimeToUnix } from '../../domain/timezone.js';
import { csvDocument } from '../../domain/csv.js';
import type { CounterSettings } from '../../domain/types.js';
import { commandBase, credentials, paintFor, parseSince, yandexToken, type CommandBase } from '../shared.js';
import type { SyncFlags } from './flags.js';
import { priorUploadsDocument, skippedDocument, syncDocument } from './document.js';
import {
  adoptedText,
  priorUploadsText,
  sinceOverlapText,
  sinceSuggestion,
  counterErrorText,
  droppedText,
  dryRunFileName,
  refusalTexts,
  refusedText,
  dryRunText,
  progressText,
  reconciledText,
  retryText,
  summaryLine,
  summaryLines,
  windowText,
} from './text.js';

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
  // A dry run uploads nothing, but reads Metrica's uploadings lists as the real run would (for a counter this database
  // does not know) when a Yandex token is at hand — never refreshing it: a preview changes nothing.
  const readToken = token ?? creds.yandexToken;
  // One retry budget for the whole run, shared by both services (network.giveUpSeconds).
  const policy = retryPolicy(config.network);
  const retry = { policy, budget: new RetryBudget(policy.giveUpMs), onRetry: (n: RetryNotice) => printer.info(retryText(n, policy.retries)) };
  const callkeeper = new CallKeeperClient({ baseUrl: base.urls.callkeeper, apiKey, method: config.callkeeper.method, ...retry });

  let lock: SyncLock | null = null;
  if (!flags.dryRun) {
    lock = SyncLock.tryAcquire(base.home.lock);
    if (!lock) return alreadyRunning(base, flags);
  }
  const started = performance.now();
  let report: SyncReport;
  let dryRun: DryRunUploader | null = null;
  // A dry run works on a private copy of the database: it decides exactly like a real run and changes nothing.
  const store = flags.dryRun ? await Store.openCopy(base.home.database) : Store.open(base.home.database);
  const mode = openToOthers(base.home.database);
  if (mode) {
    printer.warn(`database ${base.home.database} is readable by other users (mode ${mode}) and holds callers' phone numbers; run "chmod 600 ${base.home.database}*"`);
  }
  try {
    let uploader: Uploader;
    const metrika = readToken === null ? undefined : new MetrikaClient({ baseUrl: base.urls.metrika, token: readToken, ...retry });
    if (token === null || !metrika) {
      uploader = dryRun = new DryRunUploader(store);
    } else {
      uploader = new MetricaUploader({ store, metrika, clock, confirmGraceMinutes: config.sync.confirmGraceMinutes });
    }
    const events = progress(printer, config.callkeeper.timezone, since !== undefined);
    report = await sync(
      { config, counters, store, callkeeper, uploader, uploadings: metrika, clock, events, pid: process.pid },
      { since, retryFailed: flags.retryFailed, adopt: flags.adopt },
    );
  } catch (error) {
    if (!(error instanceof UploadsInMetrica)) throw error;
    throw priorUploadsStop(error, base, flags);
  } finally {
    store.close();
    lock?.release();
  }
  printer.clearStatus();
  const durationMs = Math.round(performance.now() - started);
  if (flags.adopt && report.adopted.length === 0) {
    printer.info("--adopt: nothing to adopt — every counter of this run is known to this database, or Metrica's lists hold no upload by ckym to it");
  }

  const dryBatches = dryRun?.batches ?? null;
  if (dryBatches && flags.out) writeDryRunFiles(flags.out, io.cwd, dryBatches, printer);
  if (flags.json) {
    writeDocument(io, syncDocument(report, durationMs, dryBatches));
    return report.exitCode;
  }
  // The CSV's cells are CallKeeper's text (tags, pages): on a terminal, made as safe as every other line.
  if (dryBatches && !flags.out) io.stdout.write(terminalSafe(dryRunText(dryBatches), false));
  for (const c of report.counters) {
    if (c.error) printer.error(counterErrorText(c));
    for (const line of refusalTexts(c)) printer.error(line);
  }
  if (flags.quiet && report.exitCode === ExitCode.ok) return report.exitCode;
  // A person at a terminal gets a few aligned lines per counter; cron and pipes get the one line scripts match.
  const dry = Boolean(flags.dryRun);
  const summary = (dry ? io.stderr : io.stdout).isTTY
    ? summaryLines(report, { durationMs, dryRun: dry, paint: paintFor(printer.color) })
    : [summaryLine(report, durationMs, dry)];
  for (const line of summary) {
    // A dry run's stdout is the CSV: its summary goes to stderr.
    if (dry) printer.info(line);
    else printer.out(line);
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

/**
 * The stop of a new or lost database, said with times in the account's zone: the error `main` prints (exit 2), and
 * under --json the document that says it (main then prints no other).
 */
function priorUploadsStop(stop: UploadsInMetrica, base: CommandBase, flags: SyncFlags): ConfigError {
  const timeZone = base.loaded.config.callkeeper.timezone;
  base.printer.clearStatus();
  const message = priorUploadsText(stop.found, timeZone);
  if (flags.json) {
    const newest = newestCallOf(stop.found);
    const oneLine = priorUploadsText(stop.found, timeZone, 'one line');
    writeDocument(base.io, priorUploadsDocument(stop, oneLine, newest === null ? null : sinceSuggestion(newest, timeZone)));
  }
  return new ConfigError(message);
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
    writeDocument(base.io, skippedDocument());
    base.printer.info(message);
  } else if (!flags.quiet) {
    base.printer.out(message);
  }
  return ExitCode.ok;
}

/** The engine's events as a status line on a terminal (nothing under cron), and the notes worth a line anywhere. */
function progress(printer: Printer, timeZone: string, backfill: boolean): SyncEvents {
  const started = performance.now();
  let window = { from: 0, to: 0 };
  return {
    onWindow: (w) => {
      window = w;
      printer.status(windowText(w, timeZone));
    },
    onPage: ({ fetched, reached }) =>
      printer.status(progressText({ window, fetched, reached, elapsedMs: performance.now() - started, backfill, timeZone })),
    onMalformed: (problem) => printer.warn(`a call from CallKeeper was skipped: ${problem}`),
    onReconciled: (r) => printer.info(reconciledText(r)),
    // What needs the user: said even under --quiet (a warning), once a run.
    onHeld: (held) => printer.warn(held.message),
    onDropped: (d) => printer.warn(droppedText(d)),
    onRefused: (r) => printer.info(refusedText(r)),
    onRequeued: (r) => printer.info(`put ${r.rows} refused row${r.rows === 1 ? '' : 's'} of counter ${r.counterId} back in line (--retry-failed)`),
    onAdopted: (a) => printer.info(adoptedText(a, timeZone)),
    onPriorUploads: (f) => {
      const overlap = sinceOverlapText(f, timeZone);
      if (overlap) printer.warn(overlap);
    },
    onPriorUnchecked: ({ counterIds }) =>
      printer.warn(
        `dry run without a Yandex token: Metrica's uploadings list of counter ${counterIds.join(', ')} (unknown to this database) was not read; ` +
          'if ckym uploaded to it before, the real run stops (or --adopt goes on after those uploads) — this preview does not know',
      ),
    onBatch: ({ counterId, kind, rows }) =>
      printer.status(`uploading ${rows} ${kind === 'call' ? 'calls' : 'conversions'} to counter ${counterId}`),
  };
}

/** The CSVs hold callers' phone numbers: each file is the user's alone (0600), in a folder created 0700. */
function writeDryRunFiles(dir: string, cwd: string, batches: readonly DryRunBatch[], printer: Printer): void {
  const target = path.resolve(cwd, dir);
  try {
    fs.mkdirSync(target, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new LocalError(`--out ${target}: ${fileProblem(error)}`, { cause: error });
  }
  for (const b of batches) {
    const file = path.join(target, dryRunFileName(b));
    writePrivateFile(file, csvDocument(b.header, b.rows));
    printer.info(`wrote ${file} (${b.rows.length} rows)`);
  }
}
