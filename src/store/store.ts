import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ConfigError, LocalError } from '../errors.js';
import { checkOwnFolder, checkOwnRecordFile, symlinkError } from '../files.js';
import { redactStored } from '../redact.js';
import type { DeliveryKind, IdentifierType, MalformedReason, Row, SkipReason, WaitReason } from '../domain/types.js';
import { formatBatchComment } from '../domain/comment.js';
import type { AdoptedFloors } from '../domain/adopt.js';
import { MIGRATIONS } from './migrations.js';

export type DeliveryState = 'waiting' | 'skipped' | 'malformed' | 'pending' | 'batched' | 'sent' | 'failed';
export type BatchStatus = 'prepared' | 'sending' | 'sent' | 'rejected' | 'void';
/** `fresh`: rows Metrica can join to visits; `old`: rows dated before the counter's linking threshold, a file apart. */
export type Segment = 'fresh' | 'old';

/** One decision to record: what a call means for one counter and kind in this run. */
export interface DeliveryRecord {
  counterId: number;
  callId: string;
  kind: DeliveryKind;
  state: 'waiting' | 'skipped' | 'malformed' | 'pending';
  reason: SkipReason | WaitReason | MalformedReason | null;
  row: Row | null;
  /** The identifier type of a pending row (the file it goes in); ClientId otherwise. */
  idType?: IdentifierType | undefined;
  callTime: number;
  /** The wait the call was still in when it was decided as it stood after `sync.maxWaitHours`. */
  waited?: WaitReason | null | undefined;
}

/**
 * How a run batches as it records: each (counter, kind, identifier type) it delivers, with the header its batch will
 * have. A pending decision of such a triple goes straight into the run's open batch ('prepared', created with the
 * first such row), instead of being moved there row by row after the last page. The open batch is split by the
 * linking threshold when it is sealed.
 */
export interface Batching {
  /** `batchKey(counterId, kind, idType)` → the batch's CSV header. */
  headers: Record<string, readonly string[]>;
  /** Unix ms: the batches' creation time. */
  now: number;
}

export const batchKey = (counterId: number, kind: DeliveryKind, idType: IdentifierType = 'clientId'): string => `${counterId}/${kind}/${idType}`;

/** What the database keeps of a call fetched again: the fingerprint it was decided under, and its time. */
export interface KeptFingerprint {
  fingerprint: string;
  callTime: number;
}

export interface SeenCall {
  id: string;
  callTime: number;
  serviceType: string;
  /** What it was fetched as and decided under (`callFingerprint`); null when it is to be decided again when seen. */
  fingerprint?: string | null | undefined;
  /**
   * Its skipped decisions, as `calls.skips` keeps them: JSON `[[counter, kind, reason], [counter, kind, reason, waited], …]`
   * (one text per call costs the page's hand-over to the writer thread less than a record per decision). Skipped
   * decisions given as records are taken too.
   */
  skips?: string | null | undefined;
}

/**
 * A decision as a page write takes it: its row as the JSON text the database keeps, and the goal `delivery_counts`
 * keys it by, each made once (`pageDecision`) — inline for a run's first pages, on the writer thread as it unpacks
 * the others (PageWriter's packed page).
 */
export interface PageDecision extends Omit<DeliveryRecord, 'row'> {
  row: string | null;
  goal: string;
}

/** A conversion's goal as `delivery_counts` keys it: its row's Target cell; '' for every other decision. */
const goalOf = (kind: DeliveryKind, row: readonly unknown[] | null): string => (kind === 'conversion' && row ? String(row[GOAL_CELL] ?? '') : '');

export function pageDecision(d: DeliveryRecord): PageDecision {
  return {
    counterId: d.counterId,
    callId: d.callId,
    kind: d.kind,
    state: d.state,
    reason: d.reason,
    row: d.row ? JSON.stringify(d.row) : null,
    goal: goalOf(d.kind, d.row),
    idType: d.idType,
    callTime: d.callTime,
    waited: d.waited,
  };
}

export interface Batch {
  id: number;
  runId: number;
  counterId: number;
  kind: DeliveryKind;
  /** The identifier type of every row: one per file. */
  idType: IdentifierType;
  segment: Segment;
  /** The batch this one was split from after Metrica refused it; null for a batch made from pending rows. */
  splitFrom: number | null;
  comment: string;
  header: string[];
  rows: number;
  status: BatchStatus;
  attempts: number;
  /** Unix seconds the last upload attempt started. */
  attemptAt: number | null;
  createdAt: number;
  sentAt: number | null;
  uploadingId: number | null;
  metrikaStatus: string | null;
  error: string | null;
}

export interface RunTotals {
  pages: number;
  fetched: number;
  sentCalls: number;
  sentConversions: number;
  skipped: number;
  waiting: number;
}

export interface RunRecord extends RunTotals {
  id: number;
  pid: number;
  startedAt: number;
  finishedAt: number | null;
  outcome: 'running' | 'ok' | 'partial' | 'failed';
  exitCode: number | null;
  windowFrom: number | null;
  windowTo: number | null;
  error: string | null;
}

/** The uploading as Metrica reported it, kept for stats. */
export interface UploadingInfo {
  id: number;
  status?: string | undefined;
  [key: string]: unknown;
}

interface BatchRow {
  id: number;
  run_id: number;
  counter_id: number;
  kind: DeliveryKind;
  id_type: IdentifierType;
  segment: Segment;
  split_from: number | null;
  comment: string;
  header: string;
  rows: number;
  status: BatchStatus;
  attempts: number;
  attempt_at: number | null;
  created_at: number;
  sent_at: number | null;
  uploading_id: number | null;
  metrika_status: string | null;
  error: string | null;
}

const toBatch = (r: BatchRow): Batch => ({
  id: r.id,
  runId: r.run_id,
  counterId: r.counter_id,
  kind: r.kind,
  idType: r.id_type,
  segment: r.segment,
  splitFrom: r.split_from,
  comment: r.comment,
  header: JSON.parse(r.header) as string[],
  rows: r.rows,
  status: r.status,
  attempts: r.attempts,
  attemptAt: r.attempt_at,
  createdAt: r.created_at,
  sentAt: r.sent_at,
  uploadingId: r.uploading_id,
  metrikaStatus: r.metrika_status,
  error: r.error,
});

/** 21 days: a delivery sent more than this after its call is counted late (it cannot be linked to a visit). */
const LATE_SECONDS = 21 * 86_400;
/** The conversion row's goal (Target) cell: CONVERSION_COLUMNS is (ClientId or Yclid, Target, DateTime). */
const GOAL_CELL = 1;

/** A delivery's goal as `delivery_counts` keys it, in SQL over `deliveries d`: a conversion's Target cell, '' otherwise. */
const GOAL_SQL = `CASE WHEN d.kind = 'conversion' AND d.row IS NOT NULL THEN COALESCE(json_extract(d.row, '$[${GOAL_CELL}]'), '') ELSE '' END`;

/** The hour a call time falls in, as `delivery_counts` keys it (floor, also before 1970). */
export const hourOf = (callTime: number): number => Math.floor(callTime / 3600);

/** A skipped decision as `calls.skips` keeps it (migration 8): counter, kind, reason and the wait it was decided out of. */
type SkipEntry = [counterId: number, kind: DeliveryKind, reason: string, waited?: string];

/** A call known before the page being recorded: its time and skips as stored, its skips as they become. */
interface KnownCall {
  callTime: number;
  stored: string | null;
  skips: Map<string, SkipEntry>;
  /** The (counter/kind) pairs whose skip the page counted at the call's new time. */
  recounted: Set<string>;
  changed: boolean;
  /** As the page carries it (null: a decision of a call the page does not carry). */
  seen: SeenCall | null;
}

/** Batched, sent or failed: a delivery no decision ever changes again (a waiting, malformed or pending one is decided again). */
const settled = (state: DeliveryState): boolean => state !== 'waiting' && state !== 'malformed' && state !== 'pending';

/** One key of `delivery_counts` (migration 6) and a change of its count. */
interface CountDelta {
  hour: number;
  counterId: number;
  kind: DeliveryKind;
  state: DeliveryState;
  reason: string;
  goal: string;
  late: number;
  waited: string;
  n: number;
}

/** One key of `batch_counts` (migration 9) and a change of its count: the batched deliveries of a batch not sent yet. */
interface BatchCountDelta {
  batchId: number;
  hour: number;
  goal: string;
  waited: string;
  n: number;
}

/** The map under `key` in a map of maps, made empty when there is none. */
function inner<K, V extends Map<unknown, unknown>>(map: Map<K, V>, key: K): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = new Map() as V));
  return v;
}

/**
 * A page's changes to `delivery_counts`, summed per key: found through a small map per part of the key (counter, kind,
 * state, reason, goal, wait, then hour) instead of a key text made per decision, which was a tenth of the writer
 * thread's time in a backfill. `groups` holds the hours of each key but the hour, in the order first counted.
 */
class PageCounts {
  private readonly keys = new Map<number, Map<string, Map<string, Map<string, Map<string, Map<string, Map<number, CountDelta>>>>>>>();
  readonly groups: Map<number, CountDelta>[] = [];

  add(hour: number, counterId: number, kind: DeliveryKind, state: DeliveryState, reason: string, goal: string, waited: string, n: number): void {
    const byWait = inner(inner(inner(inner(inner(this.keys, counterId), kind), state), reason), goal);
    let byHour = byWait.get(waited);
    if (byHour === undefined) {
      byWait.set(waited, (byHour = new Map()));
      this.groups.push(byHour);
    }
    const c = byHour.get(hour);
    if (c) c.n += n;
    else byHour.set(hour, { hour, counterId, kind, state, reason, goal, late: 0, waited, n });
  }
}

/** The same for `batch_counts`: the rows a page puts in each batch, per (batch, hour, goal, wait). */
class PageBatchCounts {
  private readonly keys = new Map<number, Map<number, Map<string, Map<string, BatchCountDelta>>>>();
  readonly deltas: BatchCountDelta[] = [];

  add(batchId: number, hour: number, goal: string, waited: string): void {
    const byWait = inner(inner(inner(this.keys, batchId), hour), goal);
    const b = byWait.get(waited);
    if (b) b.n++;
    else {
      const d = { batchId, hour, goal, waited, n: 1 };
      byWait.set(waited, d);
      this.deltas.push(d);
    }
  }
}

/** Each store's connection, for the query modules of src/store/ (see `connectionOf`). */
const connections = new WeakMap<Store, Database.Database>();

/**
 * The connection behind a store, for src/store/'s own query modules (stats.ts) and the store's tests: SQL stays in
 * src/store/. Everything else goes through the store's methods.
 */
export function connectionOf(store: Store): Database.Database {
  return connections.get(store)!;
}

/**
 * ckym's memory: SQLite (WAL) under CKYM_HOME. With its query modules, the only code that speaks SQL; its
 * connection is its own. Every state change that matters for exactly-once delivery is one transaction.
 */
export class Store {
  private readonly statements = new Map<string, Database.Statement>();
  private cleanup: (() => void) | null = null;

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
  ) {
    connections.set(this, db);
  }

  /**
   * Opens the database at `file`; a writable open creates it when there is none, and migrates it.
   *
   * A new database is built aside (0600, schema and all) and then put in place, so a `ckym.db` at the path always
   * has ckym's tables: an existing file that is empty (0 bytes) or has none is damaged — truncated, or not ckym's —
   * and refused (exit 2), never taken for a new install, which would send again every call of the look-back window.
   * A symbolic link at the path is refused too: ckym does not follow links for its own files.
   */
  static open(file: string, options: { readonly?: boolean } = {}): Store {
    const readonly = options.readonly ?? false;
    let db: Database.Database;
    try {
      if (!readonly) {
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        // Stryker disable next-line ConditionalExpression: createDatabase keeps a database already there (its link fails EEXIST); only slower
        if (!lexists(file)) {
          checkOwnFolder(path.dirname(file)); // before a database is created in another user's folder
          createDatabase(file, (db, at) => new Store(db, at).migrate());
        }
      }
      checkDatabaseFile(file); // an existing database's folder is checked here
      db = new Database(file, { readonly, fileMustExist: readonly, timeout: 10_000 });
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
      }
      db.pragma('foreign_keys = ON');
    } catch (error) {
      throw storeError(file, error);
    }
    const store = new Store(db, file);
    try {
      if (!hasCkymSchema(db)) throw damagedDatabase(file, 'has no ckym tables (it is damaged, or not a ckym database)');
      if (!readonly) store.migrate();
    } catch (error) {
      db.close();
      throw storeError(file, error);
    }
    return store;
  }

  /**
   * A private copy of the database at `file` (an empty new one when there is none), for a dry run: it decides
   * exactly like a real run and changes nothing. Closing it removes the copy. A damaged `file` is refused as
   * `open` refuses it.
   */
  static async openCopy(file: string): Promise<Store> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-dry-run-'));
    const remove = () => fs.rmSync(dir, { recursive: true, force: true });
    const copy = path.join(dir, 'ckym.db');
    try {
      if (lexists(file)) {
        checkDatabaseFile(file);
        const source = new Database(file, {
          readonly: true,
          // Stryker disable next-line BooleanLiteral: the file was just found, and a read-only open never creates one
          fileMustExist: true,
        });
        try {
          if (!hasCkymSchema(source)) throw damagedDatabase(file, 'has no ckym tables (it is damaged, or not a ckym database)');
          await source.backup(copy);
        } finally {
          source.close();
        }
      }
      const store = Store.open(copy);
      store.cleanup = remove;
      return store;
    } catch (error) {
      remove();
      throw storeError(file, error);
    }
  }

  close(): void {
    // Stryker disable next-line ConditionalExpression: close() on a closed database does nothing
    if (this.db.open) this.db.close();
    this.cleanup?.();
    this.cleanup = null;
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    // Stryker disable next-line ConditionalExpression: a statement cache: rebuilt each time it is the same statement
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Wraps a write so that SQLite's own errors (full disk, read-only file) become one clear sentence. */
  private write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (error) {
      throw storeError(this.file, error);
    }
  }

  /**
   * A write whose commit is not flushed to disk by itself (`synchronous = NORMAL`), for what can be fetched and
   * decided again: a page's calls and decisions. The WAL is a log, so the next durable commit flushes these too;
   * and every step that an upload relies on (the batch prepared, marked sending, sent) is durable. A power cut can
   * only take back decisions that nothing was sent on, and the next run makes them again.
   *
   * Its statement journals are kept in memory (`temp_store = MEMORY`): each upsert of a page opens one (it may abort
   * halfway), and on the default temporary file every statement wrote the pages it touched there first — a third of
   * the writer thread's CPU in a backfill was those writes. A statement journal only undoes one statement inside a
   * live transaction; a crash is undone by the WAL as before, so durability does not change. The setting is the page
   * write's alone: the rest of the store's large statements and sorts keep spilling to disk instead of memory.
   */
  private writeUnflushed<T>(fn: () => T): T {
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('temp_store = MEMORY');
    try {
      return this.write(fn);
    } finally {
      this.db.pragma('temp_store = DEFAULT');
      this.db.pragma('synchronous = FULL');
    }
  }

  migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new LocalError(
        `${this.file} was written by a newer ckym (schema ${current}, this one knows ${MIGRATIONS.length}); upgrade ckym`,
      );
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.write(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      });
    }
  }

  // ── delivery counts (what `stats` reads) ──────────────────────────────────

  /** Adds each delta to its key's count, per hour and in all. Inside a write. */
  private addCounts(deltas: Iterable<CountDelta>): void {
    const groups = new Map<string, CountDelta[]>();
    for (const d of deltas) {
      const key = `${d.counterId}\u0000${d.kind}\u0000${d.state}\u0000${d.reason}\u0000${d.goal}\u0000${d.late}\u0000${d.waited}`;
      const group = groups.get(key);
      if (group) group.push(d);
      else groups.set(key, [d]);
    }
    this.addGroupedCounts(groups.values());
  }

  /** The same, for deltas already grouped by everything but the hour: one total per group. Inside a write. */
  private addGroupedCounts(groups: Iterable<Iterable<CountDelta>>): void {
    const add = this.stmt(
      `INSERT INTO delivery_counts (hour, counter_id, kind, state, reason, goal, late, waited, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (hour, counter_id, kind, state, reason, goal, late, waited) DO UPDATE SET count = count + excluded.count`,
    );
    const total = this.stmt(
      `INSERT INTO delivery_totals (counter_id, kind, state, reason, goal, late, waited, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (counter_id, kind, state, reason, goal, late, waited) DO UPDATE SET count = count + excluded.count`,
    );
    for (const group of groups) {
      let sum = 0;
      let first: CountDelta | undefined;
      for (const d of group) {
        // Stryker disable next-line ConditionalExpression: a change that nets to 0 is of a key already counted (its deliveries were there): adding 0 changes nothing
        if (d.n === 0) continue;
        add.run(d.hour, d.counterId, d.kind, d.state, d.reason, d.goal, d.late, d.waited, d.n);
        sum += d.n;
        first ??= d;
      }
      // Stryker disable next-line ConditionalExpression: as above, a total that nets to 0 is of a key already there
      if (first && sum !== 0) total.run(first.counterId, first.kind, first.state, first.reason, first.goal, first.late, first.waited, sum);
    }
  }

  /**
   * Before a write changes the deliveries matching `where` (their state, reason, or their batch's status): their
   * counts move from the key they have now (their state as delivery_view says it) to the key they will have — state
   * and reason from `to`, and, for a batch being marked sent at `sentAt`, whether each was sent late. Inside the
   * same write, before the change.
   */
  private moveCounts(
    where: string,
    params: readonly unknown[],
    to: { state: DeliveryState; reason?: string | null; sentAt?: number; batchId?: number },
    from = 'deliveries d',
  ): void {
    const lateAfter = to.sentAt === undefined ? '0' : `(? - d.call_time > ${LATE_SECONDS})`;
    const groups = this.stmt(
      `SELECT (d.call_time - ((d.call_time % 3600) + 3600) % 3600) / 3600 AS hour, d.counter_id AS counterId, d.kind AS kind,
              CASE WHEN d.state = 'batched' AND b.status = 'sent' THEN 'sent' ELSE d.state END AS state,
              IFNULL(d.reason, '') AS reason,
              ${GOAL_SQL} AS goal,
              CASE WHEN d.state = 'batched' AND b.status = 'sent' AND b.sent_at - d.call_time > ${LATE_SECONDS} THEN 1 ELSE 0 END AS late,
              IFNULL(d.waited, '') AS waited, ${lateAfter} AS lateAfter, COUNT(*) AS n
       FROM ${from} LEFT JOIN batches b ON b.id = d.batch_id WHERE ${where} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9`,
    ).all(...(to.sentAt === undefined ? [] : [to.sentAt]), ...params) as (CountDelta & { lateAfter: number })[];
    const deltas: CountDelta[] = [];
    for (const g of groups) {
      deltas.push({ ...g, goal: String(g.goal), n: -g.n });
      // Stryker disable next-line ConditionalExpression: the moves that name no reason (seal, sent, unbatch) move pending or batched rows, whose reason is always null
      const reason = to.reason === undefined ? g.reason : (to.reason ?? '');
      // Stryker disable next-line ConditionalExpression: only a move to 'sent' gives `sentAt`; without it lateAfter is 0 already
      deltas.push({ ...g, goal: String(g.goal), state: to.state, reason, late: to.state === 'sent' ? g.lateAfter : 0 });
    }
    this.addCounts(deltas.map(({ hour, counterId, kind, state, reason, goal, late, waited, n }) => ({ hour, counterId, kind, state, reason, goal, late, waited, n })));
    // Rows going into a batch: its own counts too.
    const batchId = to.batchId;
    if (batchId !== undefined) this.addBatchCounts(groups.map((g) => ({ batchId, hour: g.hour, goal: String(g.goal), waited: g.waited, n: g.n })));
  }

  /** Adds each delta to its batch's count (`batch_counts`, migration 9). Inside a write. */
  private addBatchCounts(deltas: Iterable<BatchCountDelta>): void {
    const add = this.stmt(
      `INSERT INTO batch_counts (batch_id, hour, goal, waited, count) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (batch_id, hour, goal, waited) DO UPDATE SET count = count + excluded.count`,
    );
    for (const d of deltas) if (d.n !== 0) add.run(d.batchId, d.hour, d.goal, d.waited, d.n);
  }

  /** A batch's batched deliveries of one span of call times [from, to), per goal and wait: one hour's rows, read through deliveries_batch_time. */
  private batchedBetween(batchId: number, from: number, to: number): { goal: string; waited: string; n: number }[] {
    const rows = this.stmt(
      `SELECT ${GOAL_SQL} AS goal, IFNULL(d.waited, '') AS waited, COUNT(*) AS n FROM deliveries d
       WHERE d.batch_id = ? AND d.call_time >= ? AND d.call_time < ? AND d.state = 'batched' GROUP BY 1, 2`,
    ).all(batchId, from, to) as { goal: unknown; waited: string; n: number }[];
    return rows.map((r) => ({ goal: String(r.goal), waited: r.waited, n: r.n }));
  }

  /**
   * Before a write settles the batched deliveries of a batch not sent yet (sent, back to pending, failed): their
   * counts move from 'batched' to `to`, read from the batch's own counts (a few rows per hour) instead of from its
   * rows, and the batch's counts go. Sent at `sentAt`, a delivery is late when its call was made before
   * `sentAt - LATE_SECONDS`: known from the hour for every hour but the one that straddles that moment, whose rows
   * alone are read. A batch already sent (its deliveries counted as sent, each late or not) is moved from its rows.
   * Inside the same write, before the change.
   */
  private settleBatchCounts(batchId: number, to: { state: DeliveryState; reason?: string | null; sentAt?: number }): void {
    const batch = this.stmt(`SELECT counter_id AS counterId, kind, status FROM batches WHERE id = ?`).get(batchId) as
      | { counterId: number; kind: DeliveryKind; status: BatchStatus }
      | undefined;
    if (!batch || batch.status === 'sent') {
      this.moveCounts(`d.batch_id = ? AND d.state = 'batched'`, [batchId], to);
      return;
    }
    // Sent at `sentAt`, every hour before the straddled one is late, every hour after it not; the straddled hour is
    // moved apart. Not sent: no hour is late, none is apart.
    const lateBefore = to.sentAt === undefined ? null : to.sentAt - LATE_SECONDS;
    const straddled = lateBefore === null ? Number.MIN_SAFE_INTEGER : hourOf(lateBefore);
    const reason = to.reason ?? '';
    const key = [batch.counterId, batch.kind];
    // Done in SQL, a statement per table and side: a year's batch has a count row per hour and goal, tens of thousands.
    this.stmt(
      `INSERT INTO delivery_counts (hour, counter_id, kind, state, reason, goal, late, waited, count)
       SELECT hour, ?, ?, 'batched', '', goal, 0, waited, -count FROM batch_counts WHERE batch_id = ? AND count != 0
       ON CONFLICT (hour, counter_id, kind, state, reason, goal, late, waited) DO UPDATE SET count = count + excluded.count`,
    ).run(...key, batchId);
    this.stmt(
      `INSERT INTO delivery_totals (counter_id, kind, state, reason, goal, late, waited, count)
       SELECT ?, ?, 'batched', '', goal, 0, waited, -SUM(count) FROM batch_counts WHERE batch_id = ? GROUP BY goal, waited HAVING SUM(count) != 0
       ON CONFLICT (counter_id, kind, state, reason, goal, late, waited) DO UPDATE SET count = count + excluded.count`,
    ).run(...key, batchId);
    this.stmt(
      `INSERT INTO delivery_counts (hour, counter_id, kind, state, reason, goal, late, waited, count)
       SELECT hour, ?, ?, ?, ?, goal, hour < ?, waited, count FROM batch_counts WHERE batch_id = ? AND hour != ? AND count != 0
       ON CONFLICT (hour, counter_id, kind, state, reason, goal, late, waited) DO UPDATE SET count = count + excluded.count`,
    ).run(...key, to.state, reason, straddled, batchId, straddled);
    this.stmt(
      `INSERT INTO delivery_totals (counter_id, kind, state, reason, goal, late, waited, count)
       SELECT ?, ?, ?, ?, goal, hour < ? AS lateness, waited, SUM(count) FROM batch_counts WHERE batch_id = ? AND hour != ?
       GROUP BY goal, lateness, waited HAVING SUM(count) != 0
       ON CONFLICT (counter_id, kind, state, reason, goal, late, waited) DO UPDATE SET count = count + excluded.count`,
    ).run(...key, to.state, reason, straddled, batchId, straddled);
    if (lateBefore !== null) {
      // The straddled hour: its rows before `lateBefore` are late, the others not.
      const rows = this.stmt(`SELECT goal, waited, count AS n FROM batch_counts WHERE batch_id = ? AND hour = ? AND count != 0`).all(batchId, straddled) as {
        goal: string;
        waited: string;
        n: number;
      }[];
      const lateIn = new Map<string, number>();
      if (rows.length > 0) for (const r of this.batchedBetween(batchId, straddled * 3600, lateBefore)) lateIn.set(`${r.goal}\u0000${r.waited}`, r.n);
      const deltas: CountDelta[] = [];
      for (const r of rows) {
        const late = lateIn.get(`${r.goal}\u0000${r.waited}`) ?? 0;
        const at = { hour: straddled, counterId: batch.counterId, kind: batch.kind, state: to.state, reason, goal: r.goal, waited: r.waited };
        deltas.push({ ...at, late: 1, n: late }, { ...at, late: 0, n: r.n - late });
      }
      this.addCounts(deltas);
    }
    this.stmt(`DELETE FROM batch_counts WHERE batch_id = ?`).run(batchId);
  }

  /**
   * Moves a batch's rows on one side of `boundary` (call time; `atOrAfter`: those at or after it, else those before
   * it) into the empty batch `into`, with their counts: the hours wholly on that side move as they are, the
   * boundary's hour from its rows. Inside a write.
   */
  private moveBatchRows(from: number, into: number, boundary: number, atOrAfter: boolean): void {
    this.stmt(`UPDATE deliveries SET batch_id = ? WHERE batch_id = ? AND call_time ${atOrAfter ? '>=' : '<'} ?`).run(into, from, boundary);
    const hour = hourOf(boundary);
    this.stmt(`UPDATE batch_counts SET batch_id = ? WHERE batch_id = ? AND hour ${atOrAfter ? '>' : '<'} ?`).run(into, from, hour);
    const moved = this.batchedBetween(into, hour * 3600, (hour + 1) * 3600);
    this.addBatchCounts(moved.flatMap((m) => [{ ...m, batchId: into, hour }, { ...m, batchId: from, hour, n: -m.n }]));
    this.stmt(`DELETE FROM batch_counts WHERE batch_id = ? AND count = 0`).run(from);
  }

  /** The batch counts of these batches counted again from their rows (after a split moved rows by call id). Inside a write. */
  private recountBatches(ids: readonly number[]): void {
    for (const id of ids) {
      this.stmt(`DELETE FROM batch_counts WHERE batch_id = ?`).run(id);
      this.stmt(
        `INSERT INTO batch_counts (batch_id, hour, goal, waited, count)
         SELECT d.batch_id, (d.call_time - ((d.call_time % 3600) + 3600) % 3600) / 3600, ${GOAL_SQL}, IFNULL(d.waited, ''), COUNT(*)
         FROM deliveries d WHERE d.batch_id = ? AND d.state = 'batched' GROUP BY 1, 2, 3, 4`,
      ).run(id);
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /**
   * This connection's `PRAGMA synchronous` (per connection, so only the store can tell): 2 (FULL) between writes,
   * which is what keeps every step of the exactly-once protocol on disk once it returns. Read-only, for checking
   * that durability; only a page write lowers it, for its own transaction.
   */
  durability(): number {
    return this.db.pragma('synchronous', { simple: true }) as number;
  }

  /** A random id per database: it makes batch comments unique across installations uploading to one counter. */
  installationId(): string {
    const row = this.stmt(`SELECT value FROM meta WHERE key = 'installation_id'`).get() as { value: string } | undefined;
    if (row) return row.value;
    const id = randomBytes(6).toString('hex');
    this.write(() => this.stmt(`INSERT OR IGNORE INTO meta (key, value) VALUES ('installation_id', ?)`).run(id));
    return (this.stmt(`SELECT value FROM meta WHERE key = 'installation_id'`).get() as { value: string }).value;
  }

  // ── runs ────────────────────────────────────────────────────────────────

  startRun(pid: number, startedAt: number): number {
    return this.write(() => {
      // A run still marked running belongs to a process that died (we hold the lock now).
      this.stmt(
        `UPDATE runs SET outcome = 'failed', error = 'interrupted (the process ended before finishing)', exit_code = NULL WHERE outcome = 'running'`,
      ).run();
      return Number(this.stmt(`INSERT INTO runs (pid, started_at, outcome) VALUES (?, ?, 'running')`).run(pid, startedAt).lastInsertRowid);
    });
  }

  setRunWindow(runId: number, from: number, to: number): void {
    this.write(() => this.stmt(`UPDATE runs SET window_from = ?, window_to = ? WHERE id = ?`).run(from, to, runId));
  }

  finishRun(
    runId: number,
    result: RunTotals & { outcome: 'ok' | 'partial' | 'failed'; exitCode: number; error: string | null; finishedAt: number },
  ): void {
    this.write(() =>
      this.stmt(
        `UPDATE runs SET outcome = ?, exit_code = ?, error = ?, finished_at = ?, pages = ?, fetched = ?,
           sent_calls = ?, sent_conversions = ?, skipped = ?, waiting = ? WHERE id = ?`,
      ).run(
        result.outcome,
        result.exitCode,
        redactStored(result.error),
        result.finishedAt,
        result.pages,
        result.fetched,
        result.sentCalls,
        result.sentConversions,
        result.skipped,
        result.waiting,
        runId,
      ),
    );
  }

  /** The newest run still marked running (for "another sync is running since …"). */
  runningRun(): RunRecord | null {
    const row = this.stmt(`SELECT * FROM runs WHERE outcome = 'running' ORDER BY id DESC LIMIT 1`).get() as
      | Record<string, unknown>
      | undefined;
    return row ? toRun(row) : null;
  }

  recentRuns(limit: number): RunRecord[] {
    return (this.stmt(`SELECT * FROM runs ORDER BY id DESC LIMIT ?`).all(limit) as Record<string, unknown>[]).map(toRun);
  }

  // ── calls and decisions ─────────────────────────────────────────────────

  /**
   * Records one fetched page: the calls seen and what each means for each counter.
   * A delivery already batched, sent or failed is never touched: that is what makes re-runs safe.
   * With `batching`, a pending decision of a pair the run delivers is written into the run's open batch.
   * A skipped decision is kept on its call's row (`calls.skips`, migration 8), not as a delivery row; a decision of a
   * call the page does not carry must be of a call the database knows.
   * Returns how many of the calls were new to the database.
   */
  recordPage(runId: number, calls: readonly SeenCall[], deliveries: readonly DeliveryRecord[], batching?: Batching): number {
    return this.recordDecidedPage(runId, calls, deliveries.map(pageDecision), batching);
  }

  /** The same, for decisions whose rows are JSON text already (`pageDecision`): how the writer thread receives them. */
  recordDecidedPage(runId: number, calls: readonly SeenCall[], deliveries: readonly PageDecision[], batching?: Batching): number {
    const insertCall = this.stmt(
      `INSERT INTO calls (id, call_time, service_type, first_seen_run, last_seen_run, fingerprint, skips) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING`,
    );
    const knownCall = this.stmt(`SELECT call_time AS callTime, skips FROM calls WHERE id = ?`);
    const updateCall = this.stmt(`UPDATE calls SET call_time = ?, service_type = ?, last_seen_run = ?, fingerprint = ?, skips = ? WHERE id = ?`);
    const updateSkips = this.stmt(`UPDATE calls SET skips = ? WHERE id = ?`);
    // A decision that did not change is left as it is (and keeps the run that made it): re-fetching the
    // look-back window then writes nothing.
    // A malformed row is decided again like a waiting one: the call may arrive corrected.
    const upsert = this.stmt(
      `INSERT INTO deliveries (counter_id, call_id, kind, state, reason, id_type, row, call_time, decided_run, batch_id, waited)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (counter_id, kind, call_id) DO UPDATE SET
         state = excluded.state, reason = excluded.reason, id_type = excluded.id_type, row = excluded.row,
         call_time = excluded.call_time, decided_run = excluded.decided_run, batch_id = excluded.batch_id, waited = excluded.waited
       WHERE deliveries.state IN ('waiting', 'malformed', 'pending')
         AND NOT (deliveries.state = excluded.state AND deliveries.reason IS excluded.reason
                  AND deliveries.id_type = excluded.id_type
                  AND deliveries.row IS excluded.row AND deliveries.call_time = excluded.call_time
                  AND deliveries.waited IS excluded.waited)`,
    );
    // What a known call's delivery row is, for its counts and to know whether a decision may replace it.
    const previous = this.stmt(`SELECT state, reason, row, call_time AS callTime, waited FROM deliveries WHERE counter_id = ? AND kind = ? AND call_id = ?`);
    const remove = this.stmt(`DELETE FROM deliveries WHERE counter_id = ? AND kind = ? AND call_id = ?`);
    return this.writeUnflushed(() => {
      // A call twice in one page (CallKeeper's pages may overlap as calls arrive): its last decisions stand.
      const unique = new Set(calls.map((c) => c.id)).size === calls.length;
      const pageCalls = unique ? calls : [...new Map(calls.map((c) => [c.id, c])).values()];
      const pageDecisions = unique ? deliveries : [...new Map(deliveries.map((d) => [`${d.counterId}/${d.kind}/${d.callId}`, d])).values()];

      // The page's changes to delivery_counts, summed per key (all but the hour, then the hour) and written once at
      // the end. A year's backfill touches tens of thousands of (hour, key) pairs a run.
      const counts = new PageCounts();
      const countSkip = (hour: number, s: SkipEntry, n: number) => counts.add(hour, s[0], s[1], 'skipped', s[2], '', s[3] ?? '', n);

      // Skipped decisions by call: written with the call's row.
      const skipsOf = new Map<string, PageDecision[]>();
      for (const d of pageDecisions) {
        if (d.state !== 'skipped') continue;
        const list = skipsOf.get(d.callId);
        if (list) list.push(d);
        else skipsOf.set(d.callId, [d]);
      }
      const entryOf = (d: PageDecision): SkipEntry => (d.waited ? [d.counterId, d.kind, d.reason!, d.waited] : [d.counterId, d.kind, d.reason!]);

      let fresh = 0;
      // Calls the database knew before this page: their row as it was, and their skips as they will be.
      const known = new Map<string, KnownCall>();
      const knowCall = (id: string, seen: SeenCall | null): KnownCall | undefined => {
        const row = knownCall.get(id) as { callTime: number; skips: string | null } | undefined;
        if (!row) return undefined;
        const skips = new Map<string, SkipEntry>();
        for (const e of row.skips === null ? [] : (JSON.parse(row.skips) as SkipEntry[])) skips.set(`${e[0]}/${e[1]}`, e);
        // Stryker disable next-line BooleanLiteral: a call marked changed from the start writes the same skips text again
        const k: KnownCall = { callTime: row.callTime, stored: row.skips, skips, recounted: new Set(), changed: false, seen };
        known.set(id, k);
        return k;
      };
      const onPage = new Set<string>();
      // New calls' skips counted per distinct skips text and hour (most calls of a page share a few), expanded at the end.
      const tally = new Map<string, Map<number, number>>();
      // The skips the page's known calls carry, as decisions to compare with what they had.
      const carried: PageDecision[] = [];
      for (const call of pageCalls) {
        onPage.add(call.id);
        const mine = skipsOf.get(call.id);
        const text = mine ? JSON.stringify([...(call.skips ? (JSON.parse(call.skips) as SkipEntry[]) : []), ...mine.map(entryOf)]) : (call.skips ?? null);
        if (insertCall.run(call.id, call.callTime, call.serviceType, runId, runId, call.fingerprint ?? null, text).changes > 0) {
          fresh++;
          if (text !== null) {
            const hours = tally.get(text) ?? new Map<number, number>();
            const hour = hourOf(call.callTime);
            hours.set(hour, (hours.get(hour) ?? 0) + 1);
            tally.set(text, hours);
          }
        } else {
          knowCall(call.id, call);
          for (const e of call.skips ? (JSON.parse(call.skips) as SkipEntry[]) : []) {
            carried.push({ counterId: e[0], callId: call.id, kind: e[1], state: 'skipped', reason: e[2] as SkipReason, row: null, goal: '', callTime: call.callTime, waited: (e[3] as WaitReason | undefined) ?? null });
          }
        }
      }
      for (const [text, hours] of tally) {
        const entries = JSON.parse(text) as SkipEntry[];
        for (const [hour, n] of hours) for (const e of entries) countSkip(hour, e, n);
      }

      // … and to batch_counts, for the rows that go into a batch.
      const inBatches = new PageBatchCounts();
      // The run's open batch per triple, looked up once a page; created with the first row that really goes into it
      // (a re-fetched call whose decision did not change opens nothing: a no-op run writes no batch).
      const open = new Map<string, number | null>();
      const countRow = (
        before: { state: DeliveryState; reason: string | null; row: string | null; callTime: number; waited: string | null },
        d: PageDecision,
        n: number,
      ) =>
        counts.add(
          hourOf(before.callTime),
          d.counterId,
          d.kind,
          before.state,
          before.reason ?? '',
          goalOf(d.kind, before.row === null ? null : (JSON.parse(before.row) as unknown[])),
          before.waited ?? '',
          n,
        );
      // Stryker disable next-line ConditionalExpression,EqualityOperator: joining an empty list gives the same decisions
      for (const d of carried.length > 0 ? [...pageDecisions, ...carried] : pageDecisions) {
        const call = onPage.has(d.callId) ? known.get(d.callId) : (known.get(d.callId) ?? knowCall(d.callId, null));
        const pair = `${d.counterId}/${d.kind}`;
        const wasSkipped = call?.skips.get(pair);
        if (d.state === 'skipped') {
          // A call new to the database has its skips on its row already, counted.
          if (!call) {
            if (onPage.has(d.callId)) continue;
            throw new LocalError(`a skipped decision of call ${d.callId}, which is neither on the page nor in the database`);
          }
          const entry = entryOf(d);
          if (wasSkipped) {
            // The same skip: kept (if the call moved in time, its count moves with the call's other skips below).
            if (wasSkipped[2] === entry[2] && wasSkipped[3] === entry[3]) continue;
            countSkip(hourOf(call.callTime), wasSkipped, -1);
          } else {
            const before = previous.get(d.counterId, d.kind, d.callId) as Parameters<typeof countRow>[0] | undefined;
            if (before) {
              if (settled(before.state)) continue;
              remove.run(d.counterId, d.kind, d.callId);
              countRow(before, d, -1);
            }
          }
          call.skips.set(pair, entry);
          call.changed = true;
          call.recounted.add(pair);
          countSkip(hourOf(call.seen?.callTime ?? call.callTime), entry, 1);
          continue;
        }
        const idType = d.idType ?? 'clientId';
        const key = d.state === 'pending' && batching ? batchKey(d.counterId, d.kind, idType) : '';
        const header = key ? batching!.headers[key] : undefined;
        let batchId: number | null = null;
        if (header) {
          // Stryker disable next-line ConditionalExpression: the open batch looked up again is the same batch
          if (!open.has(key)) open.set(key, this.openBatchId(runId, d.counterId, d.kind, idType));
          batchId = open.get(key)!;
        }
        const row = d.row;
        let before: Parameters<typeof countRow>[0] | undefined;
        if (wasSkipped) {
          // Skipped before, decided otherwise now: the skip is taken back, the row written anew.
          countSkip(hourOf(call!.callTime), wasSkipped, -1);
          call!.skips.delete(pair);
          call!.changed = true;
        } else if (call || !onPage.has(d.callId)) {
          // Stryker disable next-line ConditionalExpression: a call new to the database has no delivery to look up yet
          before = previous.get(d.counterId, d.kind, d.callId) as Parameters<typeof countRow>[0] | undefined;
          if (before && settled(before.state)) continue;
        }
        const changes = upsert.run(
          d.counterId,
          d.callId,
          d.kind,
          batchId === null ? d.state : 'batched',
          d.reason,
          idType,
          row,
          d.callTime,
          runId,
          batchId,
          d.waited ?? null,
        ).changes;
        if (header && batchId === null && changes > 0) {
          batchId = this.createBatch({ runId, counterId: d.counterId, kind: d.kind, idType, segment: 'fresh', header, now: batching!.now });
          open.set(key, batchId);
          this.stmt(`UPDATE deliveries SET state = 'batched', batch_id = ? WHERE counter_id = ? AND kind = ? AND call_id = ?`).run(
            batchId,
            d.counterId,
            d.kind,
            d.callId,
          );
        }
        // Stryker disable next-line ConditionalExpression: an unchanged row would count -1 and +1 on the same key
        if (changes === 0) continue;
        if (before) countRow(before, d, -1);
        const hour = hourOf(d.callTime);
        const goal = d.goal;
        const waited = d.waited ?? '';
        counts.add(hour, d.counterId, d.kind, batchId === null ? d.state : 'batched', d.reason ?? '', goal, waited, 1);
        if (batchId !== null) inBatches.add(batchId, hour, goal, waited);
      }
      for (const [id, k] of known) {
        const skips = k.changed ? (k.skips.size > 0 ? JSON.stringify([...k.skips.values()]) : null) : k.stored;
        if (k.seen) {
          // A call that moved in time: the skips not counted anew above move with it in the counts.
          // Stryker disable next-line ConditionalExpression: moving counts within the same hour nets to nothing
          if (k.seen.callTime !== k.callTime) {
            for (const [pair, e] of k.skips) {
              if (k.recounted.has(pair)) continue;
              countSkip(hourOf(k.callTime), e, -1);
              countSkip(hourOf(k.seen.callTime), e, 1);
            }
          }
          updateCall.run(k.seen.callTime, k.seen.serviceType, runId, k.seen.fingerprint ?? null, skips, id);
        } else {
          // Stryker disable next-line ConditionalExpression: writing the skips text it has changes nothing
          if (k.changed) updateSkips.run(skips, id);
        }
      }
      this.addGroupedCounts(counts.groups.map((byHour) => byHour.values()));
      this.addBatchCounts(inBatches.deltas);
      return fresh;
    });
  }

  /** The run's open ('prepared', never attempted, fresh, not split from another) batch of (counter, kind, idType), if it has one. */
  private openBatchId(runId: number, counterId: number, kind: DeliveryKind, idType: IdentifierType): number | null {
    // The first condition repeats batches_unfinished's: the few unfinished batches are read, not the pair's history.
    const id = this.stmt(
      `SELECT id FROM batches WHERE status IN ('prepared', 'sending') AND status = 'prepared' AND run_id = ? AND counter_id = ?
         AND kind = ? AND id_type = ? AND segment = 'fresh' AND split_from IS NULL AND attempts = 0`,
    )
      .pluck()
      .get(runId, counterId, kind, idType) as number | undefined;
    return id ?? null;
  }

  /**
   * A new, empty 'prepared' batch. Its comment is provisional (unique, never sent) until the batch is sealed, when
   * the newest DateTime of its rows is known. Inside a write.
   */
  private createBatch(b: {
    runId: number;
    counterId: number;
    kind: DeliveryKind;
    idType: IdentifierType;
    segment: Segment;
    header: readonly string[];
    now: number;
    splitFrom?: number | null;
  }): number {
    // A statement of its own, so that Stryker sees the directive (one inside a call chain is not picked up).
    // Stryker disable next-line StringLiteral: a provisional comment, replaced by a unique one in the next statement
    const provisional = '';
    const id = Number(
      this.stmt(
        `INSERT INTO batches (run_id, counter_id, kind, id_type, segment, split_from, comment, header, rows, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'prepared', ?)`,
      ).run(b.runId, b.counterId, b.kind, b.idType, b.segment, b.splitFrom ?? null, provisional, JSON.stringify(b.header), Math.floor(b.now / 1000)).lastInsertRowid,
    );
    this.stmt(`UPDATE batches SET comment = ? WHERE id = ?`).run(`ckym${this.installationId()}b${id}`, id);
    return id;
  }

  /**
   * Seals a batch: its row count and its final comment (`ckym<install>b<id>t<newest DateTime>`), which never
   * changes afterwards. A batch left without rows is deleted (null). Inside a write.
   */
  private seal(id: number): Batch | null {
    const { rows, newest } = this.stmt(`SELECT COUNT(*) AS rows, MAX(call_time) AS newest FROM deliveries WHERE batch_id = ?`).get(id) as {
      rows: number;
      newest: number | null;
    };
    if (rows === 0) {
      this.stmt(`DELETE FROM batch_counts WHERE batch_id = ?`).run(id);
      this.stmt(`DELETE FROM batches WHERE id = ?`).run(id);
      return null;
    }
    const comment = formatBatchComment({ installation: this.installationId(), batchId: id, newest: newest ?? 0 });
    this.stmt(`UPDATE batches SET rows = ?, comment = ? WHERE id = ?`).run(rows, comment, id);
    return this.batch(id)!;
  }

  cursor(counterId: number): number | null {
    const v = this.stmt(`SELECT fetched_to FROM cursors WHERE counter_id = ?`).pluck().get(counterId) as number | undefined;
    return v ?? null;
  }

  setCursors(counterIds: readonly number[], fetchedTo: number): void {
    const s = this.stmt(
      `INSERT INTO cursors (counter_id, fetched_to) VALUES (?, ?)
       ON CONFLICT (counter_id) DO UPDATE SET fetched_to = MAX(fetched_to, excluded.fetched_to)`,
    );
    this.write(() => {
      for (const id of counterIds) s.run(id, fetchedTo);
    });
  }

  // ── a new or lost database: Metrica's uploadings list as the record (sync --adopt) ──

  /** Whether this database knows anything of the counter: a cursor, a decision (its counts: skips are no rows) or a batch. */
  hasHistory(counterId: number): boolean {
    return (
      this.stmt(
        `SELECT EXISTS (SELECT 1 FROM cursors WHERE counter_id = ?)
             OR EXISTS (SELECT 1 FROM delivery_totals WHERE counter_id = ?)
             OR EXISTS (SELECT 1 FROM batches WHERE counter_id = ?)`,
      )
        .pluck()
        .get(counterId, counterId, counterId) === 1
    );
  }

  /**
   * `sync --adopt`: the counter's calls at or before each kind's point were sent by a database that was lost (its
   * uploads are in Metrica's list) and are never sent again; the cursor goes to `cursor`. One transaction. The points
   * are kept in `meta` (`adopted:<counter>:<kind>`), read by `adoptedFloors`.
   */
  adopt(counterId: number, floors: AdoptedFloors, cursor: number): void {
    const put = this.stmt(
      `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`,
    );
    this.write(() => {
      for (const [kind, at] of Object.entries(floors)) put.run(`adopted:${counterId}:${kind}`, String(at));
      this.stmt(
        `INSERT INTO cursors (counter_id, fetched_to) VALUES (?, ?) ON CONFLICT (counter_id) DO UPDATE SET fetched_to = MAX(fetched_to, excluded.fetched_to)`,
      ).run(counterId, cursor);
    });
  }

  /** The adopted points of these counters (those that have any). */
  adoptedFloors(counterIds: readonly number[]): Map<number, AdoptedFloors> {
    const rows = this.stmt(`SELECT key, value FROM meta WHERE key >= 'adopted:' AND key < 'adopted;'`).all() as { key: string; value: string }[];
    const out = new Map<number, AdoptedFloors>();
    for (const { key, value } of rows) {
      const [, id, kind] = key.split(':');
      const counterId = Number(id);
      if (!counterIds.includes(counterId) || (kind !== 'call' && kind !== 'conversion')) continue;
      out.set(counterId, { ...out.get(counterId), [kind]: Number(value) });
    }
    return out;
  }

  /**
   * The times of the calls these counters have not settled, made in [notBefore, before), oldest first, each once: the
   * calls a run re-checks through narrow windows (`planRecheck`). Waiting: not final yet; pending: decided but not
   * sent (a failed run, a kind held) — fetched again so that it is decided again with the settings and the data of
   * now (a price added meanwhile, a number CallKeeper corrected before `--retry-failed`).
   */
  unsettledTimes(counterIds: readonly number[], notBefore: number, before: number): number[] {
    // The condition repeats deliveries_unsettled's word for word: that is what lets SQLite use that index.
    const s = this.stmt(
      `SELECT DISTINCT call_time FROM deliveries WHERE state IN ('waiting', 'pending') AND counter_id = ? AND call_time >= ? AND call_time < ?`,
    ).pluck();
    const times = new Set<number>();
    for (const id of counterIds) for (const t of s.all(id, notBefore, before) as number[]) times.add(t);
    return [...times].sort((a, b) => a - b);
  }

  /**
   * What the database knows around each of `times` (ascending, each once): the calls made at exactly that second,
   * and those made after it and before the next time (the last: before `until`). Read through `calls_by_time`.
   */
  callsAround(times: readonly number[], until: number): { time: number; at: number; after: number }[] {
    const at = this.stmt(`SELECT COUNT(*) FROM calls WHERE call_time = ?`).pluck();
    const between = this.stmt(`SELECT COUNT(*) FROM calls WHERE call_time > ? AND call_time < ?`).pluck();
    return times.map((time, i) => ({
      time,
      at: at.get(time) as number,
      after: between.get(time, times[i + 1] ?? until) as number,
    }));
  }

  /** The fingerprints the database keeps for these calls, with each call's time (a call unknown, or without one, is absent). */
  fingerprints(ids: readonly string[]): Map<string, KeptFingerprint> {
    const rows = this.stmt(
      `SELECT id, fingerprint, call_time AS callTime FROM calls WHERE id IN (SELECT value FROM json_each(?)) AND fingerprint IS NOT NULL`,
    ).all(JSON.stringify(ids)) as { id: string; fingerprint: string; callTime: number }[];
    return new Map(rows.map((r) => [r.id, { fingerprint: r.fingerprint, callTime: r.callTime }]));
  }

  /** How many known calls were made in [from, to] (unix seconds, both included). */
  callsBetween(from: number, to: number): number {
    return this.stmt(`SELECT COUNT(*) FROM calls WHERE call_time >= ? AND call_time <= ?`).pluck().get(from, to) as number;
  }

  // ── batches ─────────────────────────────────────────────────────────────

  pendingCount(counterId: number, kind: DeliveryKind, idType?: IdentifierType): number {
    if (idType === undefined) {
      return this.stmt(`SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND counter_id = ? AND kind = ?`)
        .pluck()
        .get(counterId, kind) as number;
    }
    return this.stmt(`SELECT COUNT(*) FROM deliveries WHERE state = 'pending' AND counter_id = ? AND kind = ? AND id_type = ?`)
      .pluck()
      .get(counterId, kind, idType) as number;
  }

  /**
   * The identifier types of (counter, kind) with something to send in this run: the run's open batches and the rows
   * still pending (left by an earlier run). Empty when the counter has nothing of `kind` to send.
   */
  toSend(runId: number, counterId: number, kind: DeliveryKind): IdentifierType[] {
    const pending = this.stmt(`SELECT DISTINCT id_type FROM deliveries WHERE state = 'pending' AND counter_id = ? AND kind = ?`)
      .pluck()
      .all(counterId, kind) as IdentifierType[];
    const open = this.stmt(
      `SELECT DISTINCT id_type FROM batches WHERE status IN ('prepared', 'sending') AND status = 'prepared' AND run_id = ? AND counter_id = ?
         AND kind = ? AND split_from IS NULL AND attempts = 0`,
    )
      .pluck()
      .all(runId, counterId, kind) as IdentifierType[];
    const types = new Set([...open, ...pending]);
    return (['clientId', 'yclid'] as const).filter((t) => types.has(t));
  }

  /**
   * Step 1 of the exactly-once protocol: the batches of (counter, kind, idType) are sealed as 'prepared' in one
   * transaction before anything is sent: the run's open batch (which its pages filled), or a new one, joined by every
   * delivery still pending for the triple (left by an earlier run); then the rows dated before `oldBefore` (the
   * counter's linking threshold) move into a batch of their own (segment 'old'), so that they never share a file
   * with fresh ones. Each batch gets its final comment. Empty when there is nothing to send; fresh first.
   */
  sealBatches(
    runId: number,
    counterId: number,
    kind: DeliveryKind,
    idType: IdentifierType,
    header: readonly string[],
    oldBefore: number | null,
    now: number,
  ): Batch[] {
    return this.write(() => {
      let id = this.openBatchId(runId, counterId, kind, idType);
      if (id === null) {
        // Stryker disable next-line ConditionalExpression: an empty batch would be made and deleted (seal) in this transaction, its id used again
        if (this.pendingCount(counterId, kind, idType) === 0) return [];
        id = this.createBatch({ runId, counterId, kind, idType, segment: 'fresh', header, now });
      }
      // Named, because SQLite would otherwise walk the counter's whole history for the few rows that are pending.
      this.moveCounts(
        `d.state = 'pending' AND d.counter_id = ? AND d.kind = ? AND d.id_type = ?`,
        [counterId, kind, idType],
        { state: 'batched', batchId: id },
        'deliveries d INDEXED BY deliveries_pending',
      );
      this.stmt(
        `UPDATE deliveries INDEXED BY deliveries_pending SET state = 'batched', batch_id = ?
         WHERE state = 'pending' AND counter_id = ? AND kind = ? AND id_type = ?`,
      ).run(id, counterId, kind, idType);
      let ids = [id];
      // Stryker disable next-line ConditionalExpression: `call_time < NULL` is never true: no old row without a threshold
      if (oldBefore !== null) {
        // The smaller side moves: in a backfill most rows are old, and the open batch becomes the old one.
        const total = this.stmt(`SELECT IFNULL(SUM(count), 0) FROM batch_counts WHERE batch_id = ?`).pluck().get(id) as number;
        const fresh = this.stmt(`SELECT COUNT(*) FROM deliveries WHERE batch_id = ? AND call_time >= ?`).pluck().get(id, oldBefore) as number;
        const old = total - fresh;
        if (old > fresh) {
          this.stmt(`UPDATE batches SET segment = 'old' WHERE id = ?`).run(id);
          // Stryker disable next-line ConditionalExpression: a fresh batch without rows is deleted by seal in this transaction
          if (fresh > 0) {
            const freshId = this.createBatch({ runId, counterId, kind, idType, segment: 'fresh', header, now });
            this.moveBatchRows(id, freshId, oldBefore, true);
            ids = [freshId, id];
          }
        } else if (old > 0) {
          const oldId = this.createBatch({ runId, counterId, kind, idType, segment: 'old', header, now });
          this.moveBatchRows(id, oldId, oldBefore, false);
          ids.push(oldId);
        }
      }
      // Every delivery of a prepared batch is 'batched' (voiding one takes its rows out): the index alone counts them.
      // Stryker disable next-line ConditionalExpression: both batches have rows here (pending rows were there, or an old row), so seal never returns null
      return ids.map((b) => this.seal(b)).filter((b): b is Batch => b !== null);
    });
  }

  /**
   * A batch Metrica refused (certainly not taken: a 400 or a 413) is split: it becomes void, its rows go into new
   * batches, one per range of positions `[from, to)` in the file's order (call id order, as `batchRows` reads them),
   * each sealed with a comment of its own, to be sent as any other. One transaction.
   */
  splitBatch(batchId: number, ranges: readonly [number, number][], runId: number, why: string, now: number): Batch[] {
    return this.write(() => {
      const parent = this.batch(batchId);
      if (!parent) return [];
      const callIds = this.stmt(`SELECT call_id FROM deliveries WHERE batch_id = ? ORDER BY call_id`).pluck().all(batchId) as string[];
      this.stmt(`UPDATE batches SET status = 'void', error = ? WHERE id = ?`).run(redactStored(why), batchId);
      const children: number[] = [];
      for (const [from, to] of ranges) {
        const first = callIds[from];
        const last = callIds[Math.min(to, callIds.length) - 1];
        if (
          first === undefined ||
          // Stryker disable next-line ConditionalExpression: with `first` there and to > from, the range's last row is there too
          last === undefined ||
          to <= from
        )
          continue;
        const child = this.createBatch({ ...parent, runId, header: parent.header, now, splitFrom: batchId });
        this.stmt(`UPDATE deliveries SET batch_id = ? WHERE batch_id = ? AND call_id >= ? AND call_id <= ?`).run(child, batchId, first, last);
        children.push(child);
      }
      this.recountBatches([batchId, ...children]);
      // Anything no range took (there should be nothing) goes back to pending rather than staying in a void batch.
      this.unbatch(batchId);
      return children.map((c) => this.seal(c)).filter((b): b is Batch => b !== null);
    });
  }

  /**
   * A kind held this run (its linking switch is off): the run's open batches of (counter, kind) are given up — their
   * rows back to pending, the batches gone, as if never batched (no request carried them). Returns how many rows of
   * the kind now wait.
   */
  holdBatches(runId: number, counterId: number, kind: DeliveryKind): number {
    const open = this.stmt(
      `SELECT id FROM batches WHERE status IN ('prepared', 'sending') AND status = 'prepared' AND attempts = 0 AND run_id = ? AND counter_id = ? AND kind = ?`,
    )
      .pluck()
      .all(runId, counterId, kind) as number[];
    // Stryker disable next-line ConditionalExpression,EqualityOperator: with no open batch the transaction is empty
    if (open.length > 0) {
      this.write(() => {
        for (const id of open) {
          this.unbatch(id);
          this.stmt(`DELETE FROM batches WHERE id = ?`).run(id);
        }
      });
    }
    return this.pendingCount(counterId, kind);
  }

  /**
   * `sync --retry-failed`: the rows Metrica refused (state failed) of these counters go back in line, pending, to be
   * batched and sent through the normal protocol. Returns how many, per counter.
   */
  requeueFailed(counterIds: readonly number[]): Map<number, number> {
    const requeue = this.stmt(`UPDATE deliveries SET state = 'pending', reason = NULL, batch_id = NULL WHERE state = 'failed' AND counter_id = ?`);
    return this.write(() => {
      const counts = new Map<number, number>();
      for (const id of counterIds) {
        this.moveCounts(`d.state = 'failed' AND d.counter_id = ?`, [id], { state: 'pending', reason: null });
        const n = requeue.run(id).changes;
        if (n > 0) counts.set(id, n);
      }
      return counts;
    });
  }

  batch(id: number): Batch | null {
    const row = this.stmt(`SELECT * FROM batches WHERE id = ?`).get(id) as BatchRow | undefined;
    return row ? toBatch(row) : null;
  }

  /**
   * Batches that were prepared or being sent when a run ended: each must be reconciled with Metrica. A run's open
   * batch ends its run still filling (its `rows` is set when it is sealed): its rows are counted here.
   */
  unfinishedBatches(counterIds: readonly number[]): Batch[] {
    const all = (this.stmt(`SELECT * FROM batches WHERE status IN ('prepared', 'sending') ORDER BY id`).all() as BatchRow[]).map(
      toBatch,
    );
    const count = this.stmt(`SELECT COUNT(*) FROM deliveries WHERE batch_id = ?`).pluck();
    return all
      .filter((b) => counterIds.includes(b.counterId))
      .map((b) => {
        // Stryker disable next-line ConditionalExpression: a sending batch was sealed: its rows are those counted
        return b.status === 'prepared' ? { ...b, rows: count.get(b.id) as number } : b;
      });
  }

  /** Step 2: about to send. Durable before the request leaves, so a crash after it is always reconciled. */
  markSending(batchId: number, now: number): void {
    this.write(() =>
      this.stmt(
        `UPDATE batches SET status = 'sending', attempts = attempts + 1, attempt_at = ? WHERE id = ? AND status IN ('prepared', 'sending')`,
      ).run(Math.floor(now / 1000), batchId),
    );
  }

  /**
   * Step 3: Metrica has it. One row changes: a delivery 'batched' in a sent batch is sent (`delivery_view` says so),
   * so the batch and all its deliveries become sent in one write, whatever their number.
   */
  markSent(batchId: number, uploading: UploadingInfo, now: number): void {
    const at = Math.floor(now / 1000);
    this.write(() => {
      this.settleBatchCounts(batchId, { state: 'sent', sentAt: at });
      this.stmt(
        `UPDATE batches SET status = 'sent', sent_at = ?, uploading_id = ?, metrika_status = ?, uploading_json = ?, error = NULL
         WHERE id = ?`,
      ).run(at, uploading.id, uploading.status ?? null, redactStored(JSON.stringify(uploading)), batchId);
    });
  }

  /** Metrica never got it: its deliveries go back to pending, to be batched again (with the current settings). */
  voidBatch(batchId: number, why: string): void {
    this.write(() => {
      this.stmt(`UPDATE batches SET status = 'void', error = ? WHERE id = ?`).run(redactStored(why), batchId);
      this.unbatch(batchId);
    });
  }

  /** A batch's rows back to pending, outside any batch. Inside a write. */
  private unbatch(batchId: number): void {
    this.settleBatchCounts(batchId, { state: 'pending' });
    this.stmt(`UPDATE deliveries SET state = 'pending', batch_id = NULL WHERE batch_id = ? AND state = 'batched'`).run(batchId);
  }

  /**
   * This run's batches never sent (no attempt made: their counter failed first, or the run stopped): their rows go
   * back to pending, as if never batched, and the batches go — no request ever carried them.
   */
  releaseBatches(runId: number): void {
    const open = this.stmt(
      `SELECT id FROM batches WHERE status IN ('prepared', 'sending') AND status = 'prepared' AND attempts = 0 AND run_id = ?`,
    )
      .pluck()
      .all(runId) as number[];
    // Stryker disable next-line ConditionalExpression: an empty transaction instead of none
    if (open.length === 0) return;
    this.write(() => {
      for (const id of open) {
        this.unbatch(id);
        this.stmt(`DELETE FROM batches WHERE id = ?`).run(id);
      }
    });
  }

  /**
   * Metrica refused the file and it cannot be split further (one row, or a refusal of the request itself): its rows
   * are kept aside (failed), the reason on the batch; they go again only through `sync --retry-failed`.
   */
  rejectBatch(batchId: number, error: string): void {
    this.write(() => {
      this.stmt(`UPDATE batches SET status = 'rejected', error = ? WHERE id = ?`).run(redactStored(error), batchId);
      this.settleBatchCounts(batchId, { state: 'failed', reason: 'rejected' });
      this.stmt(`UPDATE deliveries SET state = 'failed', reason = 'rejected' WHERE batch_id = ? AND state = 'batched'`).run(batchId);
    });
  }

  /** Metrica's current view of a sent batch (`stats --refresh`): its processing status and counts. */
  recordUploadingStatus(batchId: number, uploading: UploadingInfo): void {
    this.write(() =>
      this.stmt(`UPDATE batches SET metrika_status = ?, uploading_json = ? WHERE id = ?`).run(
        uploading.status ?? null,
        redactStored(JSON.stringify(uploading)),
        batchId,
      ),
    );
  }

  recordBatchError(batchId: number, error: string): void {
    this.write(() => this.stmt(`UPDATE batches SET error = ? WHERE id = ?`).run(redactStored(error), batchId));
  }

  /** How many of a batch's deliveries are of calls made before `before` (unix seconds). */
  batchCallsBefore(batchId: number, before: number): number {
    return this.stmt(`SELECT COUNT(*) FROM deliveries WHERE batch_id = ? AND call_time < ?`).pluck().get(batchId, before) as number;
  }

  /** A batch's rows, read in chunks (in call id order) so a large upload streams instead of sitting in memory. */
  *batchRows(batchId: number, chunk = 5000): Generator<Row[]> {
    const batch = this.batch(batchId);
    if (!batch) return;
    const page = this.stmt(
      `SELECT call_id AS id, row FROM deliveries
       WHERE batch_id = ? AND counter_id = ? AND kind = ? AND call_id > ? ORDER BY call_id LIMIT ?`,
    );
    let after = '';
    for (;;) {
      const rows = page.all(batchId, batch.counterId, batch.kind, after, chunk) as { id: string; row: string }[];
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.id;
      yield rows.map((x) => JSON.parse(x.row) as Row);
      // Stryker disable next-line ConditionalExpression: one more query, which returns nothing and ends the loop
      if (rows.length < chunk) return;
    }
  }
}

function toRun(r: Record<string, unknown>): RunRecord {
  return {
    id: r.id as number,
    pid: r.pid as number,
    startedAt: r.started_at as number,
    finishedAt: (r.finished_at as number | null) ?? null,
    outcome: r.outcome as RunRecord['outcome'],
    exitCode: (r.exit_code as number | null) ?? null,
    windowFrom: (r.window_from as number | null) ?? null,
    windowTo: (r.window_to as number | null) ?? null,
    pages: r.pages as number,
    fetched: r.fetched as number,
    sentCalls: r.sent_calls as number,
    sentConversions: r.sent_conversions as number,
    skipped: r.skipped as number,
    waiting: r.waiting as number,
    error: (r.error as string | null) ?? null,
  };
}

// Stryker disable next-line LogicalOperator: O_CREAT | O_EXCL never follows a link anyway (and the name is cleared first)
const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** Whether anything (a file, a link, even a dangling one) is at `file`. */
function lexists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** A link, another user's file or folder, something that is not a file, or an empty file at the database's path: refused before SQLite opens it. */
function checkDatabaseFile(file: string): void {
  checkOwnFolder(path.dirname(file));
  const stat = fs.lstatSync(file);
  if (stat.isSymbolicLink()) throw symlinkError(file, 'database');
  checkOwnRecordFile(file, stat, 'database', file);
  // SQLite opens these beside it by name: a link planted there would take its writes elsewhere too
  for (const f of [`${file}-wal`, `${file}-shm`, `${file}-journal`]) {
    if (!lexists(f)) continue;
    const side = fs.lstatSync(f);
    if (side.isSymbolicLink()) throw symlinkError(f, 'database file');
    checkOwnRecordFile(f, side, 'database file', file);
  }
  if (!stat.isFile()) throw new LocalError(`database ${file} is not a regular file; move it away, or point CKYM_HOME elsewhere`);
  if (stat.size === 0) throw damagedDatabase(file, 'is empty (0 bytes)');
}

/** ckym's tables are there (a schema version, and the tables every version has). */
function hasCkymSchema(db: Database.Database): boolean {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version < 1) return false;
  const tables = db
    .prepare(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'calls', 'deliveries', 'batches', 'runs', 'cursors')`)
    .pluck()
    .get() as number;
  return tables === 6;
}

/**
 * The error for a database that is there but not usable as ckym's record: exit 2, and what to do — move it aside, and
 * go on from where the lost record ended, so that nothing is sent twice.
 */
export function damagedDatabase(file: string, what: string): ConfigError {
  return new ConfigError(
    `database ${file} ${what}: ckym will not start a new one in its place, which would send again every call of the look-back window. ` +
      `Move it aside (mv ${file} ${file}.damaged), then run "ckym sync --since DATE" with the day after the last upload you know of, or "ckym sync --adopt" to go on after the uploads Metrica already has`,
  );
}

/**
 * A new database: built at a temporary name (0600, never through a link), given ckym's schema, and only then put at
 * `file` — so a crash while creating it never leaves a `ckym.db` without tables. If another process created one
 * meanwhile, that one is kept.
 */
function createDatabase(file: string, migrate: (db: Database.Database, at: string) => void): void {
  const tmp = `${file}.${process.pid}.new`;
  // Stryker disable next-line StringLiteral: SQLite deletes a -wal beside an empty database file, and its first connection resets a -shm
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) fs.rmSync(f, { force: true });
  try {
    fs.closeSync(fs.openSync(tmp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL | NOFOLLOW, 0o600));
    // Stryker disable next-line ObjectLiteral: nobody else opens the temporary file: nothing to wait for
    const db = new Database(tmp, { timeout: 10_000 });
    try {
      db.pragma('journal_mode = WAL');
      migrate(db, tmp);
    } finally {
      db.close();
    }
    // A -wal or -shm without its database (one moved aside, or lost) belongs to that database: applied to the new
    // one it would corrupt it. Kept aside, not deleted.
    if (!lexists(file)) {
      for (const f of [`${file}-wal`, `${file}-shm`]) if (lexists(f)) fs.renameSync(f, `${f}.orphan-${Date.now()}`);
    }
    try {
      fs.linkSync(tmp, file); // fails if a file appeared at `file` meanwhile: that one stays
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
      fs.renameSync(tmp, file); // a file system without hard links
    }
  } finally {
    // Stryker disable next-line StringLiteral: closing the connection (above) already removed the -wal and -shm
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) fs.rmSync(f, { force: true });
  }
}

export function storeError(file: string, error: unknown): Error {
  // Stryker disable next-line StringLiteral: no fix, and no SQLITE_ code, starts any other text either
  const code = (error as { code?: string }).code ?? '';
  const fixes: Record<string, string> = {
    SQLITE_FULL: 'the disk is full; free some space and run again',
    SQLITE_READONLY: 'the database is read-only; check the permissions of the file and its directory',
    SQLITE_CANTOPEN: 'the database cannot be opened; check that CKYM_HOME exists and is writable',
    SQLITE_IOERR: 'a disk error occurred; check the disk and run again',
    EACCES: 'permission denied; check the permissions of CKYM_HOME',
    EROFS: 'the file system is read-only; point CKYM_HOME at a writable directory',
    ENOSPC: 'the disk is full; free some space and run again',
  };
  if (error instanceof ConfigError || error instanceof LocalError) return error;
  // Damaged is damaged, however SQLite finds out: the same exit (2) and the same way on as an empty database.
  if (code.startsWith('SQLITE_CORRUPT')) return damagedDatabase(file, `is damaged (${code})`);
  if (code === 'SQLITE_NOTADB') return damagedDatabase(file, `is not a database (${code})`);
  const prefix = Object.keys(fixes).find((k) => code.startsWith(k));
  if (!prefix) return error instanceof Error ? error : new Error(String(error));
  return new LocalError(`database ${file}: ${fixes[prefix]} (${code})`, { cause: error });
}
