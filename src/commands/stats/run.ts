import fs from 'node:fs';
import { Chalk } from 'chalk';
import { writeDocument, type IO } from '../../cli/io.js';
import { parseCounterIds, type GlobalOptions } from '../../cli/setup.js';
import type { StatsFlags } from './flags.js';
import { ConfigError, ExitCode, LocalError } from '../../errors.js';
import { MetrikaClient } from '../../clients/metrika.js';
import { retryPolicy, type RetryNotice } from '../../clients/retry.js';
import { Store } from '../../store/store.js';
import { MIGRATIONS } from '../../store/migrations.js';
import { countersWithData, hasSchema, readStats, recentBatches, recentRuns } from '../../store/stats.js';
import { zonedTimeToUnix } from '../../domain/timezone.js';
import { buildStats, dayWindows, type RunSummary, type StatsReport } from '../../domain/stats.js';
import type { Paint } from '../../cli/render.js';
import { commandBase, credentials, parseSince, yandexToken } from '../shared.js';
import { refreshUploadings, type RefreshResult } from './refresh.js';
import { statsDocument } from './document.js';
import { statsText } from './text.js';

/** Uploads listed (and, with --refresh, asked about). */
export const UPLOAD_LIMIT = 20;
export const RUN_LIMIT = 10;

/** How many of the newest runs and batches `--counter` looks through for the runs that uploaded for it. */
const RUN_SCAN = 1000;

/**
 * With `--counter`: the last runs that made uploads for those counters (or are running), their calls and
 * conversions sent being those counters' alone; fetched and skipped stay the run's, as one fetch serves all.
 */
function runsOf(store: Store, only: readonly number[]): RunSummary[] {
  const sent = new Map<number, { calls: number; conversions: number }>();
  for (const b of recentBatches(store, RUN_SCAN, { counterIds: [...only] })) {
    const run = sent.get(b.runId) ?? { calls: 0, conversions: 0 };
    if (b.status === 'sent') run[b.kind === 'call' ? 'calls' : 'conversions'] += b.rows;
    sent.set(b.runId, run);
  }
  return recentRuns(store, RUN_SCAN)
    .filter((r) => sent.has(r.id) || r.outcome === 'running')
    .slice(0, RUN_LIMIT)
    .map((r) => ({ ...r, sentCalls: sent.get(r.id)?.calls ?? 0, sentConversions: sent.get(r.id)?.conversions ?? 0 }));
}

/** `ckym stats`: returns the exit code (contract). */
export async function runStatsCommand(flags: StatsFlags, globals: GlobalOptions, io: IO): Promise<number> {
  // Under --json every human line goes to stderr anyway (the printer's info/warn stream).
  const base = await commandBase(globals, io);
  const { printer, loaded, clock, home } = base;
  const { config } = loaded;
  const timeZone = config.callkeeper.timezone;
  const only = parseCounterIds(flags.counter);
  let since: number | null = null;
  if (flags.since !== undefined) {
    const parsed = parseSince(flags.since, timeZone, zonedTimeToUnix);
    if (parsed === null) throw new ConfigError(`--since: expected a date such as 2024-05-01 or 2024-05-01T10:00:00Z; got ${JSON.stringify(flags.since)}`);
    if (parsed > clock.now() / 1000) throw new ConfigError(`--since: ${flags.since} is in the future`);
    since = parsed;
  }
  const filter = { since, counterIds: only };
  let report: StatsReport | null = null;
  let refresh: RefreshResult | null = null;
  // Without --refresh the database is only read: a running sync is neither blocked nor waited for.
  const store = fs.existsSync(home.database) ? Store.open(home.database, { readonly: !flags.refresh }) : null;
  try {
    const ready = store !== null && hasSchema(store);
    // --counter names a counter of the config, or one the database has figures for (removed since): else exit 2.
    const recorded = ready ? countersWithData(store) : [];
    for (const id of only ?? []) {
      if (!config.counters.some((c) => c.id === id) && !recorded.includes(id)) {
        const configured = config.counters.map((c) => c.id).join(', ') || 'none';
        throw new ConfigError(`--counter ${id}: not in the config (configured: ${configured}) and nothing was recorded for it`);
      }
    }
    // Refreshing talks to Metrica: no token, no refresh (exit 3) — before anything is asked.
    const token = flags.refresh ? await yandexToken(base, credentials(base)) : null;
    if (ready) {
      if (store.schemaVersion > MIGRATIONS.length) {
        throw new LocalError(
          `${home.database} was written by a newer ckym (schema ${store.schemaVersion}, this one knows ${MIGRATIONS.length}); upgrade ckym`,
        );
      }
      if (token) {
        const policy = retryPolicy(config.network);
        const metrika = new MetrikaClient({
          baseUrl: base.urls.metrika,
          token,
          policy,
          onRetry: (n: RetryNotice) =>
            printer.info(`${n.service}: ${n.reason} — retry ${n.attempt}/${policy.retries} in ${(n.delayMs / 1000).toFixed(1)} s`),
        });
        refresh = await refreshUploadings({
          store,
          metrika,
          filter,
          limit: UPLOAD_LIMIT,
          onProgress: (done, total) => printer.status(`asking Metrica about upload ${done + 1} of ${total}`),
        });
        printer.clearStatus();
      }
      const days = dayWindows(clock.now(), timeZone, since);
      const input = readStats(store, { ...filter, days, uploadLimit: UPLOAD_LIMIT, runLimit: RUN_LIMIT });
      if (only) input.runs = runsOf(store, only);
      report = buildStats(input, { configured: config.counters, only, days, nowMs: clock.now(), timeZone, since });
    }
  } finally {
    store?.close();
  }

  const exitCode = refresh?.unavailable ? ExitCode.remote : ExitCode.ok;
  if (flags.json) {
    const doc = statsDocument({ report, refresh, generatedAt: clock.now(), timeZone, since, database: home.database });
    writeDocument(io, doc);
    if (!report) printer.info('nothing synced yet; run "ckym sync"');
    if (refresh?.unavailable) printer.error(refresh.unavailable);
    return exitCode;
  }
  if (!report) {
    printer.out('nothing synced yet; run "ckym sync" (it records what it sends, and "ckym stats" shows it)');
    return exitCode;
  }
  const chalk = new Chalk({ level: printer.color ? 1 : 0 });
  const paint: Paint = {
    ok: (s) => chalk.green(s),
    bad: (s) => chalk.red(s),
    warn: (s) => chalk.yellow(s),
    dim: (s) => chalk.dim(s),
    bold: (s) => chalk.bold(s),
  };
  for (const line of statsText(report, { paint, style: printer.color ? 'unicode' : 'ascii', refresh, only })) printer.out(line);
  if (refresh?.unavailable) printer.error(refresh.unavailable);
  return exitCode;
}
