import fs from 'node:fs';
import { Chalk } from 'chalk';
import { colorEnabled, makePrinter, writeDocument, type IO } from '../../cli/io.js';
import type { GlobalOptions } from '../../cli/setup.js';
import type { DoctorFlags } from './flags.js';
import type { Clock } from '../../clock.js';
import { readEnv, type Env, type ServiceUrls } from '../../env.js';
import { loadConfig, type LoadedConfig } from '../../config/load.js';
import { configSchema, type Config } from '../../config/schema.js';
import { CredentialStore, resolveCredentials, type ResolvedCredentials } from '../../credentials.js';
import { AuthError, CkymError, ConfigError, ForeignOwnerError, RemoteError } from '../../errors.js';
import { CallKeeperClient } from '../../clients/callkeeper.js';
import { MetrikaClient, type Goal, type MetrikaCounter } from '../../clients/metrika.js';
import { retryPolicy, type RetryPolicy } from '../../clients/retry.js';
import { serverClock } from '../../clients/reachability.js';
import { Store } from '../../store/store.js';
import { SyncLock } from '../../store/lock.js';
import { MIGRATIONS } from '../../store/migrations.js';
import { openToOthers } from '../../files.js';
import { failedCounts, hasSchema } from '../../store/stats.js';
import type { HomePaths } from '../../paths.js';
import {
  callKeeperKeyCheck,
  checkLine,
  clockCheck,
  configCheck,
  counterCheck,
  databaseCheck,
  databaseModeCheck,
  doctorExitCode,
  goalCheck,
  lastSyncCheck,
  linkingCheck,
  lockCheck,
  summary,
  tokenExpiryCheck,
  yandexTokenCheck,
  type Check,
  type Problem,
} from './checks.js';

export interface DoctorContext {
  env: Env;
  cwd: string;
  configPath: string | undefined;
  home: HomePaths;
  urls: ServiceUrls;
  clock: Clock;
  /** This machine's clock, for the skew check (never CKYM_NOW). */
  systemNow: () => number;
  /** Each check as soon as it is decided (the command prints it). */
  onCheck?: ((check: Check) => void) | undefined;
}

export interface DoctorReport {
  checks: Check[];
  exitCode: 0 | 1;
}

/** What went wrong, by the error's class; anything unexpected is an internal error and goes up. */
function problemOf(error: unknown): Problem {
  if (error instanceof AuthError) return { kind: 'auth', message: error.message };
  if (error instanceof ConfigError) return { kind: 'config', message: error.message };
  if (error instanceof RemoteError) return { kind: 'remote', message: error.message };
  if (error instanceof CkymError) return { kind: 'local', message: error.message };
  throw error;
}

async function attempt<T>(fn: () => Promise<T>): Promise<{ value: T; problem: null } | { value: undefined; problem: Problem }> {
  try {
    return { value: await fn(), problem: null };
  } catch (error) {
    return { value: undefined, problem: problemOf(error) };
  }
}

/** Doctor asks once, quickly: one retry at most, short timeouts. */
function doctorPolicy(config: Config): RetryPolicy {
  const p = retryPolicy(config.network);
  return { ...p, retries: Math.min(p.retries, 1), backoffMs: Math.min(p.backoffMs, 1000), timeoutMs: Math.min(p.timeoutMs, 15_000) };
}

/** Runs every check, in order, and returns them (each is also told to `onCheck` as it is decided). */
export async function doctor(ctx: DoctorContext): Promise<DoctorReport> {
  const checks: Check[] = [];
  const emit = (check: Check | null): void => {
    if (!check) return;
    checks.push(check);
    ctx.onCheck?.(check);
  };

  // 1. Config: found, valid, counters present.
  let loaded: LoadedConfig | null = null;
  let configError: string | null = null;
  try {
    loaded = await loadConfig({ configPath: ctx.configPath, cwd: ctx.cwd });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    configError = error.message;
  }
  const config: Config = loaded?.config ?? configSchema.parse({});
  emit(
    configCheck({
      filepath: loaded?.filepath ?? null,
      error: configError,
      warnings: loaded?.warnings ?? [],
      counters: config.counters.length,
      enabled: config.counters.filter((c) => c.enabled).length,
    }),
  );
  const policy = doctorPolicy(config);

  // 2. Credentials: the CallKeeper key works, the Yandex token works and is not about to expire.
  let creds: ResolvedCredentials | null = null;
  let storeError: string | null = null;
  try {
    creds = resolveCredentials(new CredentialStore(ctx.home.credentials), ctx.env);
  } catch (error) {
    storeError = problemOf(error).message;
  }
  const sourceOf = (fromEnv: string | null, stored: string | undefined): 'environment' | 'stored' | null =>
    fromEnv ? 'environment' : stored ? 'stored' : null;

  const keySource = creds ? sourceOf(ctx.env.callkeeperKey, creds.stored.callkeeper?.key) : null;
  let keyProblem: Problem | null = null;
  if (creds?.callkeeperKey) {
    const callkeeper = new CallKeeperClient({ baseUrl: ctx.urls.callkeeper, apiKey: creds.callkeeperKey, method: config.callkeeper.method, policy });
    keyProblem = (await attempt(() => callkeeper.verifyKey(Math.floor(ctx.clock.now() / 1000)))).problem;
  }
  emit(callKeeperKeyCheck({ source: keySource, problem: keyProblem, storeError }));

  const tokenSource = creds ? sourceOf(ctx.env.yandexToken, creds.stored.yandex?.accessToken) : null;
  let metrika: MetrikaClient | null = null;
  let account: MetrikaCounter[] | undefined;
  let tokenProblem: Problem | null = null;
  if (creds?.yandexToken) {
    metrika = new MetrikaClient({ baseUrl: ctx.urls.metrika, token: creds.yandexToken, policy });
    const listed = await attempt(() => metrika!.counters());
    account = listed.value;
    tokenProblem = listed.problem;
  }
  emit(
    yandexTokenCheck({
      source: tokenSource,
      problem: tokenProblem,
      storeError,
      visibleCounters: account?.length ?? null,
      login: tokenSource === 'stored' ? creds?.stored.yandex?.login : undefined,
    }),
  );
  if (tokenSource === 'stored') {
    const y = creds!.stored.yandex!;
    emit(tokenExpiryCheck(y.expiresAt, ctx.clock.now(), Boolean(y.refreshToken && config.yandex.clientId.trim()), config.callkeeper.timezone));
  }

  // 3. Clock: this machine against Metrica's Date header.
  const times = await serverClock(ctx.urls.metrika, Math.min(policy.timeoutMs, 10_000), ctx.systemNow);
  emit(clockCheck({ ...times, fixedAt: ctx.env.fixedNow }));

  // 4. Each configured counter: in the account with write permission, its goal, call linking.
  for (const c of config.counters) {
    emit(counterCheck(c, account));
    if (!metrika || !account?.some((a) => a.id === c.id)) continue;
    if (c.goal.trim()) {
      const goals = await attempt<Goal[]>(() => metrika!.goals(c.id));
      emit(goalCheck(c, goals.value, goals.problem));
    }
    // Calls need their linking switch; a counter with a goal needs the conversions' one too.
    for (const kind of c.goal.trim() ? (['call', 'conversion'] as const) : (['call'] as const)) {
      const threshold = await attempt(() => metrika!.joinThreshold(c.id, kind));
      emit(linkingCheck(c, threshold.value, threshold.problem, kind));
    }
  }

  // 5. Local state: the database, the last sync, the lock.
  const file = ctx.home.database;
  const exists = fs.existsSync(file);
  let dbError: string | null = null;
  // the file, a side file of it or its folder belongs to another user: refused as the store refuses it (src/files.ts)
  let foreign = false;
  let schemaVersion: number | null = null;
  let lastRun: Parameters<typeof lastSyncCheck>[0]['lastRun'] = null;
  let quarantined = 0;
  let running: { pid: number; startedAt: number } | null = null;
  let store: Store | null = null;
  if (exists) {
    try {
      store = Store.open(file, { readonly: true });
      schemaVersion = store.schemaVersion;
      if (hasSchema(store)) {
        lastRun = store.recentRuns(1)[0] ?? null;
        quarantined = failedCounts(store).reduce((n, r) => n + r.count, 0);
        running = store.runningRun();
      }
    } catch (error) {
      dbError = error instanceof Error ? error.message : String(error);
      foreign = error instanceof ForeignOwnerError;
    } finally {
      store?.close();
    }
  }
  emit(databaseCheck({ file, exists, error: dbError, schemaVersion, knownVersion: MIGRATIONS.length, foreign }));
  // another user's file: its mode is not the running user's to fix (the check above says what is)
  if (!foreign) emit(databaseModeCheck(file, exists, openToOthers(file)));
  if (exists && !dbError) emit(lastSyncCheck({ timeZone: config.callkeeper.timezone, lastRun, quarantined }));

  const neverRan = !fs.existsSync(ctx.home.dataDir);
  let free = false;
  let lockError: string | null = null;
  if (!neverRan) {
    try {
      const lock = SyncLock.tryAcquire(ctx.home.lock);
      free = lock !== null;
      lock?.release();
    } catch (error) {
      lockError = `${ctx.home.lock}: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  emit(lockCheck({ timeZone: config.callkeeper.timezone, free, neverRan, running: free ? null : running, error: lockError }));

  return { checks, exitCode: doctorExitCode(checks) };
}

/** `ckym doctor`: returns the exit code (0 every check passed or only warned, 1 some check failed). */
export async function runDoctorCommand(flags: DoctorFlags, globals: GlobalOptions, io: IO): Promise<number> {
  const color = colorEnabled(io, globals.color);
  const printer = makePrinter(io, { color, quiet: false });
  const chalk = new Chalk({ level: color ? 1 : 0 });
  const paint = (c: Check): string => {
    const line = checkLine(c);
    if (c.status === 'ok') return chalk.green(line.slice(0, 1)) + line.slice(1);
    if (c.status === 'fail') return chalk.red(line);
    if (c.status === 'warn') return chalk.yellow(line);
    return chalk.dim(line);
  };
  const env = readEnv(io.env);
  const report = await doctor({
    env,
    cwd: io.cwd,
    configPath: globals.config,
    home: env.home,
    urls: env.urls,
    clock: env.clock,
    systemNow: () => Date.now(),
    onCheck: flags.json ? undefined : (c) => printer.out(paint(c)),
  });
  if (flags.json) {
    const doc = { version: 1, command: 'doctor', ok: report.exitCode === 0, exitCode: report.exitCode, checks: report.checks };
    writeDocument(io, doc);
  } else {
    printer.out('');
    printer.out(report.exitCode === 0 ? chalk.green(summary(report.checks)) : chalk.red(summary(report.checks)));
  }
  return report.exitCode;
}
