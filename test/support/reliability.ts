/**
 * Helpers for test/reliability: a harness world with fault proxies in front of both emulators, read-only
 * looks into ckym's database, the "exactly once" check against the oracle, kill -9 at a known step,
 * running ckym under a wrapper (ulimit, a private mount namespace), making files read-only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { BIN, makeWorld, until, type RunResult, type World, type WorldOptions } from './harness.js';
import { expectedRows, sortRows, type OracleCounter, type OracleOptions } from './oracle.js';
import { describeCallKeeper, describeMetrika, startFaultProxy, type FaultProxy } from './proxy.js';

export interface ReliabilityWorld extends World {
  /** In front of the CallKeeper emulator (ckym is pointed at it). */
  ck: FaultProxy;
  /** In front of the Metrica emulator (ckym is pointed at it). */
  mk: FaultProxy;
  /** `$CKYM_HOME/ckym.db`. */
  database: string;
  /** Runs `sql` on a read-only connection to ckym's database (safe while a sync runs; [] before its tables exist). */
  query<T = Record<string, unknown>>(sql: string, ...params: unknown[]): T[];
  /** Closes the proxies, then the world (whose close checks every output and file for the secrets). */
  close(): Promise<void>;
}

export async function makeReliabilityWorld(options: WorldOptions & { capture?: boolean }): Promise<ReliabilityWorld> {
  const world = await makeWorld(options);
  const capture = { capture: options.capture ?? false };
  const ck = await startFaultProxy(world.callkeeper.url, describeCallKeeper, capture);
  const mk = await startFaultProxy(world.metrika.url, describeMetrika, capture);
  world.env.CKYM_CALLKEEPER_URL = ck.url;
  world.env.CKYM_METRIKA_URL = mk.url;
  const database = path.join(world.env.CKYM_HOME!, 'ckym.db');
  const closeWorld = world.close.bind(world);
  const r = Object.assign(world, {
    ck,
    mk,
    database,
    query<T>(sql: string, ...params: unknown[]): T[] {
      if (!fs.existsSync(database)) return [];
      const db = new Database(database, { readonly: true, fileMustExist: true });
      try {
        return db.prepare(sql).all(...params) as T[];
      } catch (error) {
        // a database that ckym is creating right now has no tables yet
        if (/no such table/.test((error as Error).message)) return [];
        throw error;
      } finally {
        db.close();
      }
    },
    async close() {
      await Promise.all([ck.close(), mk.close()]);
      await closeWorld();
    },
  }) as ReliabilityWorld;
  return r;
}

/** Starts a sync, waits until `reached` holds (the step to crash at), then kill -9. */
export async function killAt(
  world: World,
  reached: () => boolean,
  args: string[] = ['sync', '--quiet'],
  env?: NodeJS.ProcessEnv,
): Promise<RunResult> {
  const { child, done } = world.start(args, env);
  let exited = false;
  void done.then(() => (exited = true));
  // Generous: on a loaded machine (CI, two cores) the child may take long to reach the step; it is killed at once then.
  await until(() => exited || reached(), 60_000);
  if (exited) {
    const r = await done;
    throw new Error(`ckym finished (exit ${r.code}) before the crash point was reached:\n${r.stdout}${r.stderr}`);
  }
  child.kill('SIGKILL');
  const result = await done;
  expect(result.signal).toBe('SIGKILL');
  return result;
}

export interface ExactlyOnce {
  /** Rows expected across all counters and kinds. */
  rows: number;
  duplicates: number;
  missing: number;
  unexpected: number;
}

/**
 * Compares what Metrica holds with the oracle, per counter and kind, as multisets: nothing missing,
 * nothing twice, nothing extra. Returns the figures (asserted zero unless `soft`, which only measures).
 */
export function checkExactlyOnce(
  world: World,
  calls: Record<string, unknown>[],
  counters: OracleCounter[],
  opts: OracleOptions,
  only?: number[],
  options: { soft?: boolean } = {},
): ExactlyOnce {
  const expected = expectedRows(calls, counters, opts);
  const result: ExactlyOnce = { rows: 0, duplicates: 0, missing: 0, unexpected: 0 };
  for (const c of counters) {
    if (only && !only.includes(c.id)) continue;
    for (const kind of ['calls', 'conversions'] as const) {
      const want = sortRows(expected.get(c.id)![kind]);
      const got = sortRows(world.metrika.rows(c.id, kind));
      const diff = multisetDiff(want, got);
      result.rows += want.length;
      result.duplicates += diff.duplicates;
      result.missing += diff.missing;
      result.unexpected += diff.unexpected;
      if (!options.soft) expect(got, `${kind} of counter ${c.id}`).toEqual(want);
    }
  }
  return result;
}

function multisetDiff(want: Record<string, string>[], got: Record<string, string>[]): { duplicates: number; missing: number; unexpected: number } {
  const count = (rows: Record<string, string>[]) => {
    const m = new Map<string, number>();
    for (const r of rows) {
      const k = JSON.stringify(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)));
      m.set(k, (m.get(k) ?? 0) + 1);
    }
    return m;
  };
  const w = count(want);
  const g = count(got);
  let duplicates = 0;
  let missing = 0;
  let unexpected = 0;
  for (const [k, n] of w) {
    const have = g.get(k) ?? 0;
    if (have < n) missing += n - have;
    if (have > n) duplicates += have - n;
  }
  for (const [k, n] of g) if (!w.has(k)) unexpected += n;
  return { duplicates, missing, unexpected };
}

/** Upload requests ckym made (through the Metrica proxy). */
export function uploadsTried(world: ReliabilityWorld, counterId?: number): number {
  return world.mk.requests.filter((r) => r.info.upload && (counterId === undefined || r.info.counterId === counterId)).length;
}

/** A counter for the oracle and the config, with everything at its default. */
export function counter(id: number, overrides: Partial<OracleCounter> = {}): OracleCounter {
  return {
    id,
    name: `counter ${id}`,
    enabled: true,
    callType: 'all',
    minDuration: 0,
    status: 'all',
    uniqueness: 'all',
    tags: { source: 'call', include: [], callback: '', incoming: '' },
    goal: '',
    callGoalName: '',
    sites: [],
    price: null,
    currency: 'RUB',
    ...overrides,
  };
}

/** Metrica seeds for oracle counters: edit permission, call linking on, the JS-event goal each names. */
export function seedsFor(counters: OracleCounter[]) {
  return counters.map((c) => ({
    id: c.id,
    name: String(c.name),
    site: 'shop.example',
    permission: 'edit' as const,
    callsLinking: true,
    goals: c.goal ? [{ id: c.id * 10 + 1, name: c.goal, type: 'action', conditions: [{ type: 'exact', url: c.goal }] }] : [],
  }));
}

/** Small backoffs and timeouts so faults cost milliseconds, and a resend happens at once. */
export const FAST = {
  sync: { initialDays: 7, lookbackHours: 24, settleMinutes: 10, confirmGraceMinutes: 0 },
  network: { retries: 2, backoffSeconds: 0.01, maxRetryAfterSeconds: 2, timeoutSeconds: 2 },
};

/**
 * Runs ckym through a wrapper command (`bash -c 'ulimit -f 40; exec "$@"' _`, `unshare -m …`): the wrapper's
 * argv, then node, bin/ckym.js, --config and `args`. Its output joins the world's transcript (for the secrets scan).
 */
export function runVia(world: World, wrapper: string[], args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const child = spawn(wrapper[0]!, [...wrapper.slice(1), process.execPath, BIN, '--config', world.configPath, ...args], {
    cwd: world.home,
    env: { ...world.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      world.transcript.push(stdout, stderr);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Makes a file or directory unwritable, even for root: chmod for an ordinary user, `chattr +i` for root (who
 * ignores modes). Returns the undo, or null when neither works here (the caller skips).
 */
export function makeReadOnly(target: string): (() => void) | null {
  if (process.getuid?.() !== 0) {
    const mode = fs.statSync(target).mode & 0o777;
    fs.chmodSync(target, fs.statSync(target).isDirectory() ? 0o555 : 0o444);
    return () => fs.chmodSync(target, mode);
  }
  try {
    execFileSync('chattr', ['+i', target], { stdio: 'ignore' });
    return () => execFileSync('chattr', ['-i', target], { stdio: 'ignore' });
  } catch {
    return null;
  }
}

/** Whether this machine lets a test mount a tiny tmpfs in a private mount namespace (root, or CAP_SYS_ADMIN). */
export function canMountTmpfs(): boolean {
  try {
    execFileSync('unshare', ['-m', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d"; r=$?; rmdir "$d"; exit $r'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}
