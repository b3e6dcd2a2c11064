/**
 * The sync run's types: what it is given (context, options), what it tells as it goes (events), how its batches
 * leave (an `Uploader`: Metrica, or a dry run), and what it returns (the report).
 */
import type { Clock } from '../clock.js';
import type { CallPage } from '../clients/callkeeper.js';
import type { Batch, Segment, Store } from '../store/store.js';
import type { FetchWindow, RunOutcome } from '../domain/run.js';
import type { Linking } from '../domain/linking.js';
import type { CounterSettings, DeliveryKind, IdentifierType, MalformedReason, Row, SkipReason, WaitReason } from '../domain/types.js';
import type { AdoptedCounter, FoundUploads, UploadingsList } from './adopt.js';

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
  /**
   * The counter's linking switch for `kind` (calls or conversions), asked once per run and only for a counter with
   * rows of that kind to send. `unknown` when this mode asks no one (a dry run) or Metrica would not say.
   */
  linking(counterId: number, kind: DeliveryKind): Promise<Linking>;
  /**
   * Sends one prepared batch of `counter`. Resolves `sent` once delivered (Metrica's uploading id and the lines it
   * kept; null in a dry run); `split` when Metrica refused the file and its rows went into new batches (to be sent
   * in turn); `rejected` when it refused a file that cannot be split (its rows are kept aside, failed). Throws when
   * the batch could not be delivered now (its rows wait).
   */
  send(batch: Batch, counter: CounterSettings): Promise<SendResult>;
}

export type SendResult =
  | { result: 'sent'; uploadingId: number | null; kept: number | null }
  | { result: 'split'; into: Batch[]; reason: string }
  | { result: 'rejected'; reason: string };

/** Progress, told as it happens; the command decides whether and how to show it. */
export interface SyncEvents {
  onWindow?(window: FetchWindow): void;
  /** `reached`: the latest call time (unix seconds) fetched so far, null before any readable call. */
  onPage?(page: { page: number; calls: number; fetched: number; reached: number | null }): void;
  onMalformed?(problem: string): void;
  onReconciled?(result: ReconcileResult): void;
  onBatch?(batch: { counterId: number; kind: DeliveryKind; rows: number; batchId: number }): void;
  onUploaded?(result: { counterId: number; kind: DeliveryKind; rows: number; uploadingId: number | null }): void;
  /** Metrica kept fewer lines of an upload than it was sent (it drops some rows without a word). */
  onDropped?(dropped: { counterId: number; kind: DeliveryKind; batchId: number; rows: number; kept: number }): void;
  /** Metrica refused a file: it was split (`split`), or its rows are kept aside. */
  onRefused?(refused: { counterId: number; kind: DeliveryKind; batchId: number; rows: number; reason: string; split: boolean }): void;
  /** A kind of a counter's rows is held (its linking switch is off): they stay pending. Told once per run per counter. */
  onHeld?(held: { counterId: number; kind: DeliveryKind; rows: number; message: string }): void;
  /** `--retry-failed` put refused rows back in line. */
  onRequeued?(requeued: { counterId: number; rows: number }): void;
  /** `--adopt`: a counter unknown to this database goes on after ckym's uploads Metrica already has. */
  onAdopted?(adopted: AdoptedCounter): void;
  /** `--since` on a counter unknown to this database whose uploads by ckym are in Metrica: the user chose the start. */
  onPriorUploads?(found: FoundUploads & { since: number }): void;
  /** Counters unknown to this database whose uploadings lists could not be read (a dry run without a Yandex token). */
  onPriorUnchecked?(unchecked: { counterIds: number[] }): void;
}

export interface SyncContext {
  config: RunSettings;
  /** The counters this run serves (enabled, and those named by --counter). */
  counters: CounterSettings[];
  store: Store;
  callkeeper: CallSource;
  uploader: Uploader;
  /**
   * Metrica's uploadings lists, read first for a counter this database has no history of (a new or lost database:
   * `checkPriorUploads`). Absent: not checked (a dry run without a Yandex token).
   */
  uploadings?: UploadingsList | undefined;
  clock: Clock;
  events?: SyncEvents | undefined;
  pid: number;
}

export interface SyncOptions {
  /** `--since`: unix seconds; replaces the window's start. */
  since?: number | undefined;
  /** `--retry-failed`: the rows Metrica refused go back in line first. */
  retryFailed?: boolean | undefined;
  /** `--adopt`: a counter unknown to this database goes on after ckym's uploads in Metrica's list instead of stopping. */
  adopt?: boolean | undefined;
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
  /** Of those, rows Metrica did not keep (its `line_quantity` below the rows sent). */
  dropped: number;
  /** Rows Metrica refused in this run, kept aside (failed) with the reason; `sync --retry-failed` sends them again. */
  failed: number;
  /** Metrica's reason for the first refusal, when some rows were kept aside. */
  refusal: string | null;
  /** Set when this kind was held (its linking switch is off): its rows stay pending. */
  held: { rows: number; message: string } | null;
  /** The last batch and uploading of this kind in this run. */
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
  /** Calls taken whose rows Metrica would refuse, kept aside by why (never sent). */
  malformed: Partial<Record<MalformedReason, number>>;
  /** `--retry-failed`: refused rows put back in line. */
  requeued: number;
  error: { message: string; exitCode: number } | null;
}

export interface SyncReport {
  runId: number;
  /** The window new calls came from (reaching back over waiting calls when that cost no page). */
  window: FetchWindow;
  /** The narrow windows the calls still waited on before `window` were re-checked through, oldest first. */
  rechecked: FetchWindow[];
  pages: number;
  fetched: number;
  newCalls: number;
  /** Calls fetched again exactly as they were, under the same settings: not decided again. */
  unchanged: number;
  malformed: number;
  reconciled: ReconcileResult[];
  /** `--adopt`: the counters that went on after ckym's uploads Metrica already had. */
  adopted: AdoptedCounter[];
  counters: CounterReport[];
  outcome: RunOutcome;
  exitCode: number;
}

/** One batch of a dry run, as it would have been uploaded. */
export interface DryRunBatch {
  counterId: number;
  counterName: string;
  kind: DeliveryKind;
  idType: IdentifierType;
  segment: Segment;
  header: string[];
  rows: Row[];
}
