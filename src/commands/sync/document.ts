/**
 * The `ckym sync --json` document (version 1): one JSON value on stdout. Times are ISO-8601 UTC.
 */
import { csvDocument } from '../../domain/csv.js';
import type { DryRunBatch, SyncReport } from '../../engine/types.js';

const iso = (unix: number): string => new Date(unix * 1000).toISOString().replace('.000Z', 'Z');

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
