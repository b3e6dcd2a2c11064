/**
 * The sync run's types: what it is given (context, options), what it tells as it goes (events), how its batches
 * leave (an `Uploader`: Metrica, or a dry run), and what it returns (the report).
 */
import type { Clock } from '../clock.js';
import type { CallPage } from '../clients/callkeeper.js';
import type { Batch, Store } from '../store/store.js';
import type { FetchWindow, RunOutcome } from '../domain/run.js';
import type { CounterSettings, DeliveryKind, Row, SkipReason, WaitReason } from '../domain/types.js';

/** The settings a run goes by (the config's `callkeeper` and `sync` sections). */
export interface RunSettings {
  callkeeper: { timezone: string };
  sync: { initialDays: number; lookbackHours: number; settleMinutes: number; maxWaitHours?: number };
}

/** Where the calls come from: pages of CallKeeper's export for a time window. */
export interface CallSource {
  pages(from: number, to: number): AsyncIterable<CallPage>;
}

/**
 * How a run's batches leave. One mode per run: `MetricaUploader` sends them (the exactly-once protocol),
 * `DryRunUploader` only collects them (nothing leaves, nothing is recorded as sent).
 */
export interface Uploader {
  /**
   * A batch a previous run left prepared or sending, settled before anything new is sent: `sent` when Metrica has
   * it, `resend` when its rows go out again. Null when this mode leaves it as it is (a dry run asks no one).
   * Throws when it cannot be settled yet (the batch stays as it is for a later run).
   */
  reconcile(batch: Batch): Promise<ReconcileResult['result'] | null>;
  /** Sends one prepared batch of `counter`: resolves once delivered (Metrica's uploading id; null in a dry run), throws if not. */
  send(batch: Batch, counter: CounterSettings): Promise<{ uploadingId: number | null }>;
}

/** Progress, told as it happens; the command decides whether and how to show it. */
export interface SyncEvents {
  onWindow?(window: FetchWindow): void;
  /** `reached`: the latest call time (unix seconds) fetched so far, null before any readable call. */
  onPage?(page: { page: number; calls: number; fetched: number; reached: number | null }): void;
  onMalformed?(problem: string): void;
  onReconciled?(result: ReconcileResult): void;
  onBatch?(batch: { counterId: number; kind: DeliveryKind; rows: number; batchId: number }): void;
  onUploaded?(result: { counterId: number; kind: DeliveryKind; rows: number; uploadingId: number | null }): void;
}

export interface SyncContext {
  config: RunSettings;
  /** The counters this run serves (enabled, and those named by --counter). */
  counters: CounterSettings[];
  store: Store;
  callkeeper: CallSource;
  uploader: Uploader;
  clock: Clock;
  events?: SyncEvents | undefined;
  pid: number;
}

export interface SyncOptions {
  /** `--since`: unix seconds; replaces the window's start. */
  since?: number | undefined;
}

export interface ReconcileResult {
  batchId: number;
  counterId: number;
  kind: DeliveryKind;
  rows: number;
  /** `sent`: Metrica had it; `resend`: it never arrived, its rows go out again. */
  result: 'sent' | 'resend';
}

export interface KindReport {
  /** Rows Metrica accepted in this run (in a dry run: rows that would have gone). */
  sent: number;
  /** Of those, calls older than Metrica's linking window when sent: in the call reports, not linked to a visit. */
  late: number;
  batchId: number | null;
  uploadingId: number | null;
}

export interface CounterReport {
  id: number;
  name: string;
  calls: KindReport;
  conversions: KindReport;
  /** This run's decisions that did not take a call, by the first reason. */
  skipped: Partial<Record<SkipReason, number>>;
  /** Calls not final yet, by why. */
  waiting: Partial<Record<WaitReason, number>>;
  error: { message: string; exitCode: number } | null;
}

export interface SyncReport {
  runId: number;
  window: FetchWindow;
  pages: number;
  fetched: number;
  newCalls: number;
  malformed: number;
  reconciled: ReconcileResult[];
  counters: CounterReport[];
  outcome: RunOutcome;
  exitCode: number;
}

/** One batch of a dry run, as it would have been uploaded. */
export interface DryRunBatch {
  counterId: number;
  counterName: string;
  kind: DeliveryKind;
  header: string[];
  rows: Row[];
}
