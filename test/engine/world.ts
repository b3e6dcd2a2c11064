/**
 * The engine in process: the real clients pointed at the loopback emulators (real sockets), a temporary store,
 * a clock the test moves, and a fake timer for retries (no test waits for a backoff).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { CallKeeperClient } from '../../src/clients/callkeeper.js';
import { MetrikaClient, type UploadRequest } from '../../src/clients/metrika.js';
import { RetryBudget, type RetryNotice, type RetryPolicy } from '../../src/clients/retry.js';
import { Store, connectionOf, type BatchStatus } from '../../src/store/store.js';
import { sync } from '../../src/engine/run.js';
import { DryRunUploader, MetricaUploader } from '../../src/engine/upload.js';
import type { SyncEvents, SyncReport } from '../../src/engine/types.js';
import type { CounterSettings } from '../../src/domain/types.js';
import { parseBatchComment } from '../../src/domain/comment.js';
import { startCallKeeperEmulator, type CallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import { startMetrikaEmulator, type MetrikaCounterSeed, type MetrikaEmulator, type MetrikaEmulatorOptions } from '../../src/sandbox/metrika.js';
import { expectedRows, sortRows, type OracleCounter } from '../support/oracle.js';
import { FakeTimer } from '../support/fake-timer.js';
import { expectCountsByKey, expectCountsExact } from '../support/counts.js';
import { counter as oracleCounter } from '../support/reliability.js';

export const KEY = 'k3y9ENGINE0test7';
export const TOKEN = 'y0_engine-test-token-0123456789';
export const TIME_ZONE = 'Europe/Moscow';
export const SETTINGS = { initialDays: 7, lookbackHours: 24, settleMinutes: 10 };

/** A counter with every setting open; override what the test is about. */
export const counter = (id: number, over: Partial<CounterSettings> = {}): CounterSettings =>
  oracleCounter(id, { identifiers: ['clientId', 'yclid'], ...over } as Partial<OracleCounter>) as unknown as CounterSettings;

export interface RunOptions {
  since?: number;
  dryRun?: boolean;
  /** `sync.confirmGraceMinutes`; default 10 (the config's default). */
  grace?: number;
  /** Another Metrica base URL (an unreachable one). */
  metrikaUrl?: string;
  policy?: Partial<RetryPolicy>;
  /**
   * Where the run stops for good, as if killed there: after the engine recorded this many pages (the next page never
   * comes), or at the first upload — before it left, or after Metrica took it (the answer never comes). `run` then
   * resolves once that point is reached, with no report; the abandoned run never moves again.
   */
  freeze?: { afterPages: number } | { upload: 'before-it-left' | 'after-metrica-took-it' };
  /** `--retry-failed`. */
  retryFailed?: boolean;
  /** Calls a CallKeeper that ignores the window adds to its first page (dated anywhere, 1970 included). */
  strayCalls?: Record<string, unknown>[];
  /** More listeners, told besides the world's own (which note the trail and what `told` holds). */
  events?: SyncEvents;
  /** `--adopt`. */
  adopt?: boolean;
  /** Hand the engine no uploadings list (a dry run without a Yandex token). */
  noUploadingsList?: boolean;
}

export interface RunResult {
  /** Null when the run was frozen. */
  report: SyncReport | null;
  /** `batch <id>: <status>` at each step the protocol reaches, in order. */
  trail: string[];
  retries: RetryNotice[];
  /** What the engine told along the way besides batches: held, dropped, refused, requeued — in order. */
  told: { event: 'held' | 'dropped' | 'refused' | 'requeued' | 'adopted' | 'prior-uploads' | 'prior-unchecked'; detail: Record<string, unknown> }[];
  /** Dry run only: what would have been uploaded. */
  dry: DryRunUploader | null;
}

export interface EngineWorld {
  store: Store;
  callkeeper: CallKeeperEmulator;
  metrika: MetrikaEmulator;
  counters: CounterSettings[];
  timer: FakeTimer;
  /** Unix seconds, for ckym and both emulators. */
  now(): number;
  setNow(unixSeconds: number): void;
  run(options?: RunOptions): Promise<RunResult>;
  /** The database is lost: from now on the engine works with a brand-new one (a new CKYM_HOME). */
  loseDatabase(): void;
  /** Every batch as `id counter/kind status rows`. */
  batches(): string[];
  /** Deliveries of one counter and kind, by state as people read it (`delivery_view`). */
  states(counterId: number, kind?: 'call' | 'conversion'): Record<string, number>;
  /** Metrica holds exactly the rows the oracle selects for the window [from, to] at `now` (default: the first run's). */
  expectExactlyOnce(window?: { from: number; to: number; now?: number }): void;
  close(): Promise<void>;
}

export const DEFAULT_POLICY: RetryPolicy = { retries: 3, backoffMs: 1000, maxRetryAfterMs: 60_000, timeoutMs: 5000, giveUpMs: 30_000 };

export async function engineWorld(options: {
  calls: Record<string, unknown>[];
  counters: CounterSettings[];
  nowIso: string;
  /** What Metrica knows of a counter beyond the defaults (its linking switches, say). */
  seed?: (counter: CounterSettings) => Partial<MetrikaCounterSeed>;
  metrika?: Partial<MetrikaEmulatorOptions>;
}): Promise<EngineWorld> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-engine-'));
  let nowMs = Date.parse(options.nowIso);
  const firstNow = nowMs / 1000;
  const clock = { now: () => nowMs };
  const callkeeper = await startCallKeeperEmulator({ apiKey: KEY, calls: options.calls, now: clock.now });
  const metrika = await startMetrikaEmulator({
    token: TOKEN,
    now: clock.now,
    counters: options.counters.map((c) => ({
      id: c.id,
      name: c.name,
      site: 'shop.example',
      permission: 'edit',
      goals: c.goal ? [{ id: c.id + 1, name: c.goal, type: 'action', conditions: [{ type: 'exact', url: c.goal }] }] : [],
      ...options.seed?.(c),
    })),
    // The per-second quota goes by real time, and this world's retries wait on a fake timer: a retry after a 429
    // would arrive within the same real second, forever. 429s are injected as faults here; the e2e layer (real time)
    // runs with the quota on.
    requestsPerSecond: 0,
    ...options.metrika,
  });
  let store = Store.open(path.join(dir, 'ckym.db'));
  let homes = 0;
  const timer = new FakeTimer();
  const db = () => connectionOf(store);

  const world: EngineWorld = {
    get store() {
      return store;
    },
    callkeeper,
    metrika,
    counters: options.counters,
    timer,
    now: () => nowMs / 1000,
    setNow: (unix) => (nowMs = unix * 1000),
    loseDatabase() {
      store.close();
      store = Store.open(path.join(dir, `home-${++homes}`, 'ckym.db'));
    },
    async run(o: RunOptions = {}) {
      const policy = { ...DEFAULT_POLICY, ...o.policy };
      const budget = new RetryBudget(policy.giveUpMs);
      const retries: RetryNotice[] = [];
      const onRetry = (n: RetryNotice) => retries.push(n);
      const trail: string[] = [];
      const status = (id: number): BatchStatus | undefined => store.batch(id)?.status;
      const ck = new CallKeeperClient({ baseUrl: callkeeper.url, apiKey: KEY, method: 'get', policy, budget, timer, onRetry });
      // The client as the protocol uses it, noting the batch's state at the moment each upload leaves.
      let frozen!: () => void;
      const reached = new Promise<null>((resolve) => (frozen = () => resolve(null)));
      const never = <T>(): Promise<T> => {
        frozen();
        return new Promise<T>(() => {});
      };
      const freeze = o.freeze;
      const mk = new (class extends MetrikaClient {
        override async upload(request: UploadRequest) {
          const id = parseBatchComment(request.comment)!.batchId;
          trail.push(`batch ${id}: ${status(id)} (upload)`);
          if (freeze && 'upload' in freeze && freeze.upload === 'before-it-left') return never<never>();
          const outcome = await super.upload(request);
          if (freeze && 'upload' in freeze) return never<never>();
          return outcome;
        }
      })({ baseUrl: o.metrikaUrl ?? metrika.url, token: TOKEN, policy, budget, timer, onRetry });
      const source = {
        async *pages(from: number, to: number) {
          let n = 0;
          for await (const page of ck.pages(from, to)) {
            if (n === 0 && o.strayCalls) page.calls.push(...o.strayCalls);
            yield page;
            // (counted whether or not the run freezes: the stray calls go on the first page only)
            n++;
            if (freeze && 'afterPages' in freeze && n >= freeze.afterPages) await never();
          }
        },
      };
      const dry = o.dryRun ? new DryRunUploader(store) : null;
      const uploader = dry ?? new MetricaUploader({ store, metrika: mk, clock, confirmGraceMinutes: o.grace ?? 10 });
      const told: RunResult['told'] = [];
      const events: SyncEvents = {
        ...o.events,
        onHeld: (detail) => told.push({ event: 'held', detail }),
        onDropped: (detail) => told.push({ event: 'dropped', detail }),
        onRefused: (detail) => told.push({ event: 'refused', detail }),
        onRequeued: (detail) => told.push({ event: 'requeued', detail }),
        onAdopted: (detail) => told.push({ event: 'adopted', detail: { ...detail } }),
        onPriorUploads: (detail) => told.push({ event: 'prior-uploads', detail: { ...detail } }),
        onPriorUnchecked: (detail) => told.push({ event: 'prior-unchecked', detail }),
        onBatch: ({ batchId }) => trail.push(`batch ${batchId}: ${status(batchId)}`),
        onUploaded: ({ counterId, kind }) => {
          const last = db().prepare(`SELECT id FROM batches WHERE counter_id = ? AND kind = ? ORDER BY id DESC LIMIT 1`).pluck().get(counterId, kind) as number;
          trail.push(`batch ${last}: ${status(last)}`);
        },
      };
      const report = await Promise.race([
        sync(
          {
            config: { callkeeper: { timezone: TIME_ZONE }, sync: SETTINGS },
            counters: options.counters,
            store,
            callkeeper: source,
            uploader,
            uploadings: o.noUploadingsList ? undefined : mk,
            clock,
            events,
            pid: 4242,
          },
          { since: o.since, retryFailed: o.retryFailed, adopt: o.adopt },
        ),
        reached,
      ]);
      // Whatever the run did (sent, voided, refused, split, held, requeued — or froze midway), stats' counts kept as
      // written equal what the delivery rows say.
      expectCountsExact(store, nowMs);
      // … and key for key, with each unsent batch's own counts (batch_counts), which settling a batch moves from.
      expectCountsByKey(store);
      return { report, trail, retries, told, dry };
    },
    batches: () =>
      (db().prepare(`SELECT id, counter_id, kind, status, rows FROM batches ORDER BY id`).all() as Record<string, unknown>[]).map(
        (b) => `${b.id} ${b.counter_id}/${b.kind} ${b.status} ${b.rows}`,
      ),
    states: (counterId, kind = 'call') =>
      Object.fromEntries(
        (db().prepare(`SELECT state, COUNT(*) AS n FROM delivery_view WHERE counter_id = ? AND kind = ? GROUP BY state`).all(counterId, kind) as {
          state: string;
          n: number;
        }[]).map((r) => [r.state, r.n]),
      ),
    expectExactlyOnce(window) {
      const now = window?.now ?? world.now();
      const from = window?.from ?? firstNow - SETTINGS.initialDays * 86_400;
      const expected = expectedRows(options.calls, options.counters as unknown as OracleCounter[], {
        nowUnix: now,
        timeZone: TIME_ZONE,
        settleMinutes: SETTINGS.settleMinutes,
        fromUnix: from,
        toUnix: window?.to ?? now,
      });
      for (const c of options.counters) {
        const want = expected.get(c.id)!;
        expect(sortRows(metrika.rows(c.id, 'calls')), `calls of counter ${c.id}`).toEqual(sortRows(want.calls));
        expect(sortRows(metrika.rows(c.id, 'conversions')), `conversions of counter ${c.id}`).toEqual(sortRows(want.conversions));
      }
    },
    async close() {
      store.close();
      await Promise.all([callkeeper.close(), metrika.close()]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}
