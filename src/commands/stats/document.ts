/**
 * The `ckym stats --json` document (version 1). Times are ISO-8601 UTC; days are dates in `timeZone`.
 */
import type { StatsReport } from '../../domain/stats.js';
import type { RefreshResult } from './refresh.js';

const isoS = (unix: number | null): string | null => (unix === null ? null : new Date(unix * 1000).toISOString());
const isoMs = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export interface StatsDocumentInput {
  /** Null when nothing was synced yet (no database). */
  report: StatsReport | null;
  refresh: RefreshResult | null;
  generatedAt: number;
  timeZone: string;
  since: number | null;
  database: string;
}

export function statsDocument({ report, refresh, generatedAt, timeZone, since, database }: StatsDocumentInput) {
  return {
    version: 1,
    command: 'stats',
    generatedAt: isoMs(generatedAt),
    timeZone,
    since: isoS(since),
    database,
    synced: report !== null,
    counters: (report?.counters ?? []).map((c) => ({
      id: c.id,
      name: c.name,
      configured: c.configured,
      enabled: c.enabled,
      goal: c.goal,
      calls: c.calls,
      conversions: c.conversions,
      days: c.days,
    })),
    days: report?.days ?? [],
    uploads: (report?.uploads ?? []).map((u) => ({
      batchId: u.batchId,
      runId: u.runId,
      counterId: u.counterId,
      kind: u.kind,
      idType: u.idType,
      segment: u.segment,
      splitFrom: u.splitFrom,
      rows: u.rows,
      kept: u.metrika?.lineQuantity ?? null,
      status: u.status,
      createdAt: isoS(u.createdAt),
      sentAt: isoS(u.sentAt),
      uploadingId: u.uploadingId,
      metrika: u.metrika,
      problems: u.problems,
      error: u.error,
    })),
    runs: (report?.runs ?? []).map((r) => ({
      id: r.id,
      pid: r.pid,
      startedAt: isoMs(r.startedAt),
      finishedAt: isoMs(r.finishedAt),
      durationMs: r.durationMs,
      outcome: r.outcome,
      exitCode: r.exitCode,
      pages: r.pages,
      fetched: r.fetched,
      sentCalls: r.sentCalls,
      sentConversions: r.sentConversions,
      skipped: r.skipped,
      waiting: r.waiting,
      error: r.error,
    })),
    refresh,
  };
}
