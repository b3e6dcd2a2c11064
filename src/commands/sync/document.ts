/**
 * The `ckym sync --json` document (version 1): one JSON value on stdout. Times are ISO-8601 UTC.
 */
import { csvDocument } from '../../domain/csv.js';
import type { DryRunBatch, SyncReport } from '../../engine/types.js';
import type { FoundUploads, UploadsInMetrica } from '../../engine/adopt.js';
import { newestCallOf, sinceAfter, type PriorUploads } from '../../domain/adopt.js';

const iso = (unix: number): string => new Date(unix * 1000).toISOString().replace('.000Z', 'Z');
const isoOrNull = (unix: number | null | undefined): string | null => (unix === null || unix === undefined ? null : iso(unix));

/** What Metrica's lists say of ckym's earlier uploads to a counter (times ISO-8601 UTC). */
function priorJson(p: PriorUploads) {
  return { uploads: p.uploads, lastUpload: isoOrNull(p.lastUpload), newestCall: isoOrNull(p.newestCall), installations: p.installations, legacyComments: p.legacy };
}

function foundJson(f: FoundUploads) {
  return {
    id: f.counterId,
    name: f.name,
    ...priorJson(f.prior),
    calls: f.byKind.call ? priorJson(f.byKind.call) : null,
    conversions: f.byKind.conversion ? priorJson(f.byKind.conversion) : null,
  };
}

/** `dryBatches`: the dry run's batches, or null for a real run. */
export function syncDocument(report: SyncReport, durationMs: number, dryBatches: readonly DryRunBatch[] | null) {
  return {
    version: 1,
    command: 'sync',
    dryRun: dryBatches !== null,
    runId: dryBatches ? null : report.runId,
    outcome: report.outcome,
    exitCode: report.exitCode,
    durationMs,
    window: { from: iso(report.window.from), to: iso(report.window.to) },
    rechecked: report.rechecked.map((w) => ({ from: iso(w.from), to: iso(w.to) })),
    fetched: { pages: report.pages, calls: report.fetched, new: report.newCalls, unchanged: report.unchanged, malformed: report.malformed },
    reconciled: report.reconciled,
    adopted: report.adopted.map((a) => ({
      ...foundJson(a),
      callsUpTo: isoOrNull(a.floors.call),
      conversionsUpTo: isoOrNull(a.floors.conversion),
      cursor: iso(a.cursor),
    })),
    counters: report.counters.map((c) => ({
      id: c.id,
      name: c.name,
      calls: c.calls,
      conversions: c.conversions,
      skipped: c.skipped,
      waiting: c.waiting,
      malformed: c.malformed,
      requeued: c.requeued,
      error: c.error,
    })),
    ...(dryBatches
      ? {
          batches: dryBatches.map((b) => ({
            counterId: b.counterId,
            kind: b.kind,
            idType: b.idType,
            segment: b.segment,
            rows: b.rows.length,
            csv: csvDocument(b.header, b.rows),
          })),
        }
      : {}),
  };
}

/** The document of a sync that found another one running. */
export function skippedDocument() {
  return { version: 1, command: 'sync', skipped: 'another sync is running', exitCode: 0 };
}

/**
 * The stop of a new or lost database (exit 2): the error as every failure document has it, the counters and what
 * Metrica's lists hold of ckym's uploads to each, and the two ways on (`sinceSuggestion`: `--since` as typed).
 */
export function priorUploadsDocument(stop: UploadsInMetrica, message: string, sinceSuggestion: string | null) {
  const newest = newestCallOf(stop.found);
  return {
    version: 1,
    command: 'sync',
    exitCode: stop.exitCode,
    outcome: 'stopped',
    error: { kind: 'usage', reason: 'uploads-in-metrica', message },
    counters: stop.found.map(foundJson),
    next: [
      { flag: '--adopt', command: 'ckym sync --adopt', means: 'calls up to the newest call those uploads hold are taken as sent' },
      {
        flag: '--since',
        command: `ckym sync --since ${sinceSuggestion ?? 'DATE'}`,
        means: 'start from a time you choose, after the newest call those uploads hold',
        after: isoOrNull(newest),
        since: newest === null ? null : iso(sinceAfter(newest)),
      },
    ],
  };
}
