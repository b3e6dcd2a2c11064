/**
 * `ckym doctor`'s verdicts: each takes what was found out (by run.ts) and says ✓, !, ✗ or skipped,
 * with the fix. Pure: no I/O, no clock of its own. Times show in the account's zone (callkeeper.timezone), named.
 */
import { localDay, zonedTime } from '../../cli/time.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Stable, for scripts: `config`, `callkeeper-key`, `counter:12345678`, `goal:12345678`, … */
  id: string;
  status: CheckStatus;
  title: string;
  detail: string;
  /** What to do about it (null when nothing needs doing). */
  fix: string | null;
}

/** How something that was tried went wrong, classified by the error's class. */
export interface Problem {
  kind: 'auth' | 'config' | 'remote' | 'local';
  message: string;
}

export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export const EXPIRY_WARNING_MS = 30 * 86_400_000;

const ok = (id: string, title: string, detail: string): Check => ({ id, status: 'ok', title, detail, fix: null });
const warn = (id: string, title: string, detail: string, fix: string | null): Check => ({ id, status: 'warn', title, detail, fix });
const fail = (id: string, title: string, detail: string, fix: string): Check => ({ id, status: 'fail', title, detail, fix });
const skip = (id: string, title: string, detail: string): Check => ({ id, status: 'skip', title, detail, fix: null });

const oneLine = (text: string): string => text.split('\n').map((l) => l.trim()).filter(Boolean).join('; ');

// ── config ──────────────────────────────────────────────────────────────────

export interface ConfigFindings {
  filepath: string | null;
  /** The loader's error (a ConfigError's message), when the file did not load. */
  error: string | null;
  warnings: string[];
  counters: number;
  enabled: number;
}

export function configCheck(f: ConfigFindings): Check {
  const title = 'config';
  if (f.error) return fail('config', title, oneLine(f.error), 'fix the config file as the message says');
  if (!f.filepath) {
    return fail('config', title, 'no config file found (searched from the working directory up, then the user config dir)', 'run "ckym counters add" to create one, or pass --config PATH');
  }
  if (f.counters === 0) return fail('config', title, `${f.filepath}: no counters configured`, 'run "ckym counters add"');
  const summary = `${f.filepath} · ${f.counters} counter${f.counters === 1 ? '' : 's'}${f.enabled < f.counters ? ` (${f.enabled} enabled)` : ''}`;
  if (f.enabled === 0) return warn('config', title, `${summary}: every counter is disabled, sync has nothing to do`, 'set "enabled": true on a counter (or "ckym counters edit ID")');
  if (f.warnings.length > 0) return warn('config', title, `${summary}; ${f.warnings.map(oneLine).join('; ')}`, 'see the config file');
  return ok('config', title, summary);
}

// ── credentials ─────────────────────────────────────────────────────────────

export interface KeyFindings {
  /** Where the key came from; null when there is none. */
  source: 'environment' | 'stored' | null;
  /** Null when the key worked (or there was none to try). */
  problem: Problem | null;
  /** Reading the credentials file failed (e.g. readable by others). */
  storeError?: string | null | undefined;
}

export function callKeeperKeyCheck(f: KeyFindings): Check {
  const id = 'callkeeper-key';
  const title = 'CallKeeper API key';
  if (f.storeError) return fail(id, title, oneLine(f.storeError), 'fix the credentials file as the message says');
  if (!f.source) return fail(id, title, 'no API key', 'run "ckym login" (or set CKYM_CALLKEEPER_KEY)');
  const from = f.source === 'environment' ? ' (from CKYM_CALLKEEPER_KEY)' : '';
  if (!f.problem) return ok(id, title, `CallKeeper accepts it${from}`);
  switch (f.problem.kind) {
    case 'auth':
      return fail(id, title, `${f.problem.message}${from}`, 'run "ckym login" with a valid key');
    case 'config':
      return fail(id, title, f.problem.message, 'check callkeeper.method in the config');
    case 'remote':
      return fail(id, title, `CallKeeper did not answer: ${f.problem.message}`, 'check the network (and CKYM_CALLKEEPER_URL), then run again');
    default:
      return fail(id, title, f.problem.message, 'see the message');
  }
}

export interface TokenFindings extends KeyFindings {
  /** Counters the token can see, when Metrica accepted it. */
  visibleCounters: number | null;
  login?: string | undefined;
}

export function yandexTokenCheck(f: TokenFindings): Check {
  const id = 'yandex-token';
  const title = 'Yandex token';
  if (f.storeError) return fail(id, title, oneLine(f.storeError), 'fix the credentials file as the message says');
  if (!f.source) return fail(id, title, 'no token', 'run "ckym login" (or set CKYM_YANDEX_TOKEN)');
  const from = f.source === 'environment' ? ' (from CKYM_YANDEX_TOKEN)' : '';
  if (!f.problem) {
    const who = f.login ? ` for ${f.login}` : '';
    return ok(id, title, `Metrica accepts it${who}${from}; ${f.visibleCounters ?? 0} counters visible`);
  }
  switch (f.problem.kind) {
    case 'auth':
      return fail(id, title, `${f.problem.message}${from}`, 'run "ckym login" to connect the Yandex account again');
    case 'remote':
      return fail(id, title, `Metrica did not answer: ${f.problem.message}`, 'check the network (and CKYM_METRIKA_URL), then run again');
    default:
      return fail(id, title, f.problem.message, 'see the message');
  }
}

/** Null when there is nothing to say (a token from the environment, or no expiry recorded). */
export function tokenExpiryCheck(expiresAt: number | undefined, nowMs: number, canRefresh: boolean, timeZone: string): Check | null {
  if (expiresAt === undefined) return null;
  const id = 'yandex-token-expiry';
  const title = 'Yandex token expiry';
  const left = expiresAt - nowMs;
  if (left <= 0) return fail(id, title, `expired on ${localDay(expiresAt, timeZone)}`, 'run "ckym login"');
  const days = Math.floor(left / 86_400_000);
  if (left < EXPIRY_WARNING_MS) {
    return warn(
      id,
      title,
      `expires on ${localDay(expiresAt, timeZone)} (in ${days} day${days === 1 ? '' : 's'})`,
      canRefresh ? 'the next "ckym sync" renews it; if this stays, run "ckym login"' : 'run "ckym login" before then (no refresh token or yandex.clientId to renew it)',
    );
  }
  return ok(id, title, `valid until ${localDay(expiresAt, timeZone)}`);
}

// ── clock ───────────────────────────────────────────────────────────────────

export interface ClockFindings {
  /** This machine's clock when Metrica answered (unix ms). */
  systemMs: number;
  /** Metrica's `Date` header (unix ms); null when it could not be read. */
  serverMs: number | null;
  /** `CKYM_NOW`, when it fixes ckym's clock. */
  fixedAt: string | null;
}

export function clockCheck(f: ClockFindings): Check {
  const id = 'clock';
  const title = 'clock';
  const fixed = f.fixedAt ? `; CKYM_NOW fixes ckym's clock at ${f.fixedAt} (for tests only)` : '';
  if (f.serverMs === null) {
    return warn(id, title, `could not read Metrica's clock to compare${fixed}`, f.fixedAt ? 'unset CKYM_NOW' : null);
  }
  const skew = f.systemMs - f.serverMs;
  const seconds = Math.round(Math.abs(skew) / 1000);
  const amount = seconds >= 120 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
  if (Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
    return fail(
      id,
      title,
      `the system clock is ${amount} ${skew > 0 ? 'ahead of' : 'behind'} Metrica's: call times and "in the past" checks go wrong`,
      'set the system clock right (e.g. enable NTP: timedatectl set-ntp true)',
    );
  }
  if (f.fixedAt) return warn(id, title, `the system clock is within ${amount} of Metrica's${fixed}`, 'unset CKYM_NOW');
  return ok(id, title, `within ${amount} of Metrica's`);
}

// ── counters ────────────────────────────────────────────────────────────────

export interface ConfiguredCounterRef {
  id: number;
  name: string;
  enabled: boolean;
  goal: string;
}

export interface AccountCounter {
  id: number;
  name: string;
  site: string;
  permission: string;
}

export interface GoalRef {
  id: number;
  name: string;
  type: string;
  conditions: { type: string; url: string }[];
}

const counterTitle = (c: ConfiguredCounterRef): string => `counter ${c.id}`;
const shortName = (name: string): string => ([...name].length > 40 ? `${[...name].slice(0, 39).join('')}…` : name);

/** A problem with a disabled counter is a warning: sync does not use it. */
function softenIfDisabled(c: ConfiguredCounterRef, check: Check): Check {
  if (c.enabled || check.status !== 'fail') return check;
  return { ...check, status: 'warn', detail: `${check.detail} (disabled in the config)` };
}

/** `account` is the token's counter list; undefined when it could not be read (then the check is skipped). */
export function counterCheck(c: ConfiguredCounterRef, account: readonly AccountCounter[] | undefined): Check {
  const id = `counter:${c.id}`;
  const title = counterTitle(c);
  if (!account) return skip(id, title, 'not checked: needs a working Yandex token');
  const found = account.find((a) => a.id === c.id);
  if (!found) {
    return softenIfDisabled(
      c,
      fail(id, title, "not among the Yandex account's counters", 'check the id ("ckym counters list"), or log in with the Yandex account that has access ("ckym login")'),
    );
  }
  if (found.permission !== 'own' && found.permission !== 'edit') {
    return softenIfDisabled(
      c,
      fail(id, title, `permission "${found.permission}": uploading needs "own" or "edit"`, "ask the counter's owner for edit access, or log in with an account that has it"),
    );
  }
  const label = [c.name ? `"${shortName(c.name)}"` : '', found.site ? `site ${found.site}` : ''].filter(Boolean).join(' · ');
  return ok(id, title, `${label ? `${label} · ` : ''}permission ${found.permission}${c.enabled ? '' : ' (disabled in the config)'}`);
}

/** Null when the counter has no goal configured. `goals` undefined: could not be read (`problem` says why). */
export function goalCheck(c: ConfiguredCounterRef, goals: readonly GoalRef[] | undefined, problem: Problem | null): Check | null {
  const identifier = c.goal.trim();
  if (!identifier) return null;
  const id = `goal:${c.id}`;
  const title = `${counterTitle(c)} goal`;
  if (!goals) return problem ? softenIfDisabled(c, fail(id, title, problem.message, 'run again later')) : skip(id, title, 'not checked');
  const matching = goals.filter((g) => g.conditions.some((cond) => cond.url === identifier));
  const jsEvent = matching.find((g) => g.type === 'action');
  if (jsEvent) return ok(id, title, `"${identifier}" is the JavaScript-event goal "${jsEvent.name}" (${jsEvent.id})`);
  const fix = `create a JavaScript-event goal with identifier "${identifier}" in Metrica (or "ckym counters edit ${c.id} --goal ${identifier}")`;
  if (matching.length > 0) {
    const g = matching[0]!;
    return softenIfDisabled(c, fail(id, title, `"${identifier}" belongs to goal "${g.name}" (${g.id}) of type "${g.type}", not a JavaScript event: conversions would be refused`, fix));
  }
  return softenIfDisabled(c, fail(id, title, `no JavaScript-event goal with identifier "${identifier}": Metrica refuses the conversions`, fix));
}

/**
 * One of a counter's linking switches (`call`: calls_visit_join_threshold; `conversion`: visit_join_threshold, checked
 * for a counter with a goal). `threshold`: the date it links from (null = off); undefined when it could not be read.
 */
export function linkingCheck(c: ConfiguredCounterRef, threshold: string | null | undefined, problem: Problem | null, kind: 'call' | 'conversion' = 'call'): Check {
  const calls = kind === 'call';
  const id = `${calls ? 'linking' : 'conversion-linking'}:${c.id}`;
  const title = `${counterTitle(c)} ${calls ? 'call linking' : 'conversion linking'}`;
  if (threshold === undefined) {
    return problem ? softenIfDisabled(c, fail(id, title, problem.message, 'run again later')) : skip(id, title, 'not checked');
  }
  if (threshold === null) {
    return softenIfDisabled(
      c,
      fail(
        id,
        title,
        calls
          ? 'off: Metrica refuses call uploads until linking calls to visits is turned on'
          : `off: Metrica refuses the conversions of goal "${c.goal.trim()}" until it is on; "ckym sync" holds them meanwhile`,
        `run "ckym counters edit ${c.id} --yes" (or turn it on in the counter's settings in Metrica), then give it a day: the link window grows to 21 days`,
      ),
    );
  }
  return ok(id, title, `on · ${calls ? 'calls' : 'conversions'} from ${threshold.slice(0, 10)} on can link to visits`);
}

// ── local state ─────────────────────────────────────────────────────────────

export interface DatabaseFindings {
  file: string;
  exists: boolean;
  error: string | null;
  schemaVersion: number | null;
  knownVersion: number;
  /** The file (or its folder) belongs to another user: `error` says whose, and ckym refuses it. */
  foreign?: boolean | undefined;
}

export function databaseCheck(f: DatabaseFindings): Check {
  const id = 'database';
  const title = 'database';
  if (!f.exists) return ok(id, title, `none yet: the first "ckym sync" creates ${f.file}`);
  if (f.error) {
    const fix = f.foreign ? 'run ckym as the user it belongs to (sudo -u), or do as the message says' : 'check the file and CKYM_HOME (move a damaged file aside)';
    return fail(id, title, `${f.file}: ${oneLine(f.error)}`, fix);
  }
  const v = f.schemaVersion ?? 0;
  if (v > f.knownVersion) return fail(id, title, `${f.file} is at schema ${v}, written by a newer ckym (this one knows ${f.knownVersion})`, 'upgrade ckym');
  if (v < f.knownVersion) return warn(id, title, `${f.file} is at schema ${v} of ${f.knownVersion}`, 'the next "ckym sync" upgrades it');
  return ok(id, title, `${f.file} · schema ${v}`);
}

/** Null when there is no database. `mode`: its mode when group or others can read or write it, else null. */
export function databaseModeCheck(file: string, exists: boolean, mode: string | null): Check | null {
  if (!exists) return null;
  const id = 'database-mode';
  const title = 'database file mode';
  if (mode) {
    return fail(id, title, `${file} is readable by other users (mode ${mode}); it holds callers' phone numbers and ClientIDs`, `run "chmod 600 ${file}*"`);
  }
  return ok(id, title, '0600: yours alone');
}

export interface LastRunFindings {
  timeZone: string;
  lastRun: { startedAt: number; outcome: string; error: string | null; sentCalls: number; sentConversions: number } | null;
  quarantined: number;
}

/** Null when there is no database to read. */
export function lastSyncCheck(f: LastRunFindings): Check {
  const id = 'last-sync';
  const title = 'last sync';
  const quarantine = f.quarantined > 0 ? `; ${f.quarantined} rows kept aside (Metrica refused them)` : '';
  const quarantineFix = 'see "ckym stats" (uploads, errors), fix the cause, then run "ckym sync --retry-failed"';
  if (!f.lastRun) return f.quarantined > 0 ? warn(id, title, `none yet${quarantine}`, quarantineFix) : ok(id, title, 'none yet');
  const when = zonedTime(f.lastRun.startedAt, f.timeZone);
  const sent = `sent ${f.lastRun.sentCalls} calls, ${f.lastRun.sentConversions} conversions`;
  if (f.lastRun.outcome === 'failed' || f.lastRun.outcome === 'partial') {
    return warn(id, title, `${when}: ${f.lastRun.outcome}${f.lastRun.error ? ` — ${oneLine(f.lastRun.error)}` : ''}${quarantine}`, 'see "ckym stats"; the next sync retries what was not sent');
  }
  if (f.quarantined > 0) return warn(id, title, `${when}: ${f.lastRun.outcome}, ${sent}${quarantine}`, quarantineFix);
  return ok(id, title, `${when}: ${f.lastRun.outcome}, ${sent}`);
}

export interface LockFindings {
  timeZone: string;
  /** The lock was free (taken and released at once). */
  free: boolean;
  /** Nothing ever ran here (no data directory): the lock is free by definition. */
  neverRan: boolean;
  running: { pid: number; startedAt: number } | null;
  error: string | null;
}

export function lockCheck(f: LockFindings): Check {
  const id = 'sync-lock';
  const title = 'sync lock';
  if (f.error) return fail(id, title, oneLine(f.error), 'check the permissions of CKYM_HOME');
  if (f.neverRan || f.free) return ok(id, title, 'free');
  const who = f.running ? ` (pid ${f.running.pid}, started ${zonedTime(f.running.startedAt, f.timeZone)})` : '';
  // The lock is held by the OS for a live process only: a crashed sync cannot keep it.
  return ok(id, title, `held by a running sync${who}`);
}

// ── verdict ─────────────────────────────────────────────────────────────────

/** 0 when nothing failed (warnings allowed), 1 when some check failed. */
export function doctorExitCode(checks: readonly Check[]): 0 | 1 {
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}

export function summary(checks: readonly Check[]): string {
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  if (failed === 0 && warned === 0) return 'all checks passed';
  const parts: string[] = [];
  if (failed > 0) parts.push(`${failed} check${failed === 1 ? '' : 's'} failed`);
  if (warned > 0) parts.push(`${warned} warning${warned === 1 ? '' : 's'}`);
  return parts.join(', ');
}

export const MARKS: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗', skip: '-' };

/** One line per check: `✓ title: detail`, and ` → fix` when there is one. */
export function checkLine(c: Check): string {
  return `${MARKS[c.status]} ${c.title}: ${c.detail}${c.fix ? ` → ${c.fix}` : ''}`;
}
