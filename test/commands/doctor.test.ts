/**
 * `ckym doctor`: the verdicts (pure), and the command in-process for what the emulators cannot show (a skewed clock).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import {
  callKeeperKeyCheck,
  checkLine,
  clockCheck,
  configCheck,
  counterCheck,
  databaseCheck,
  doctorExitCode,
  goalCheck,
  lastSyncCheck,
  linkingCheck,
  lockCheck,
  summary,
  tokenExpiryCheck,
  yandexTokenCheck,
} from '../../src/commands/doctor/checks.js';
import { argv, memoryIO } from './io.js';

const NOW = Date.parse('2024-05-20T09:00:00Z');
/** Times show in the account's zone. */
const TZ = 'Europe/Moscow';
const DAY = 86_400_000;
const counter = { id: 7, name: 'shop', enabled: true, goal: 'calltracking_call_order' };

describe('doctor verdicts', () => {
  it('config', () => {
    expect(configCheck({ filepath: '/c.json', error: null, warnings: [], counters: 2, enabled: 2 })).toMatchObject({ status: 'ok', detail: '/c.json · 2 counters' });
    expect(configCheck({ filepath: null, error: null, warnings: [], counters: 0, enabled: 0 })).toMatchObject({ status: 'fail', fix: 'run "ckym counters add" to create one, or pass --config PATH' });
    expect(configCheck({ filepath: '/c.json', error: null, warnings: [], counters: 0, enabled: 0 })).toMatchObject({ status: 'fail', detail: '/c.json: no counters configured' });
    expect(configCheck({ filepath: '/c.json', error: null, warnings: [], counters: 2, enabled: 0 }).status).toBe('warn');
    expect(configCheck({ filepath: '/c.json', error: null, warnings: ['c.json: sink: unknown key, ignored'], counters: 1, enabled: 1 }).status).toBe('warn');
    const bad = configCheck({ filepath: null, error: 'c.json: counters[0].id: expected number\nc.json: counters[1].status: …', warnings: [], counters: 0, enabled: 0 });
    expect(bad).toMatchObject({ status: 'fail', detail: 'c.json: counters[0].id: expected number; c.json: counters[1].status: …' });
  });

  it('CallKeeper key and Yandex token', () => {
    expect(callKeeperKeyCheck({ source: null, problem: null })).toMatchObject({ status: 'fail', fix: 'run "ckym login" (or set CKYM_CALLKEEPER_KEY)' });
    expect(callKeeperKeyCheck({ source: 'stored', problem: null })).toMatchObject({ status: 'ok', detail: 'CallKeeper accepts it' });
    expect(callKeeperKeyCheck({ source: 'stored', problem: { kind: 'auth', message: 'refused' } })).toMatchObject({ status: 'fail', fix: 'run "ckym login" with a valid key' });
    expect(callKeeperKeyCheck({ source: 'stored', problem: { kind: 'config', message: 'method' } }).fix).toMatch(/callkeeper\.method/);
    expect(callKeeperKeyCheck({ source: 'stored', problem: { kind: 'remote', message: 'timed out' } }).detail).toBe('CallKeeper did not answer: timed out');
    expect(callKeeperKeyCheck({ source: null, problem: null, storeError: 'readable by others' })).toMatchObject({ status: 'fail', detail: 'readable by others' });
    expect(yandexTokenCheck({ source: 'stored', problem: null, visibleCounters: 3, login: 'owner' }).detail).toBe('Metrica accepts it for owner; 3 counters visible');
    expect(yandexTokenCheck({ source: 'environment', problem: { kind: 'auth', message: 'HTTP 403' }, visibleCounters: null })).toMatchObject({
      status: 'fail',
      detail: 'HTTP 403 (from CKYM_YANDEX_TOKEN)',
      fix: 'run "ckym login" to connect the Yandex account again',
    });
  });

  it('token expiry: warn within 30 days, fail when expired, nothing when unknown', () => {
    expect(tokenExpiryCheck(undefined, NOW, false, TZ)).toBeNull();
    expect(tokenExpiryCheck(NOW + 200 * DAY, NOW, false, TZ)).toMatchObject({ status: 'ok', detail: 'valid until 2024-12-06' });
    expect(tokenExpiryCheck(NOW + 29 * DAY, NOW, true, TZ)).toMatchObject({ status: 'warn', detail: 'expires on 2024-06-18 (in 29 days)' });
    expect(tokenExpiryCheck(NOW + 29 * DAY, NOW, true, TZ)!.fix).toMatch(/next "ckym sync" renews it/);
    expect(tokenExpiryCheck(NOW + DAY / 2, NOW, false, TZ)!.detail).toBe('expires on 2024-05-21 (in 0 days)'); // 00:00 in Moscow
    expect(tokenExpiryCheck(NOW - 1, NOW, true, TZ)).toMatchObject({ status: 'fail', fix: 'run "ckym login"' });
  });

  it('clock: more than 5 minutes off is a failure; CKYM_NOW a warning', () => {
    expect(clockCheck({ systemMs: NOW, serverMs: NOW + 3000, fixedAt: null })).toMatchObject({ status: 'ok', detail: "within 3 s of Metrica's" });
    expect(clockCheck({ systemMs: NOW + 4 * 60_000, serverMs: NOW, fixedAt: null }).status).toBe('ok');
    const ahead = clockCheck({ systemMs: NOW + 3600_000, serverMs: NOW, fixedAt: null });
    expect(ahead).toMatchObject({ status: 'fail' });
    expect(ahead.detail).toMatch(/^the system clock is 60 min ahead of Metrica's/);
    expect(clockCheck({ systemMs: NOW - 6 * 60_000, serverMs: NOW, fixedAt: null }).detail).toMatch(/6 min behind/);
    expect(clockCheck({ systemMs: NOW, serverMs: NOW, fixedAt: '2024-01-01T00:00:00Z' })).toMatchObject({ status: 'warn', fix: 'unset CKYM_NOW' });
    expect(clockCheck({ systemMs: NOW, serverMs: null, fixedAt: null }).status).toBe('warn');
  });

  it('counters: found with own/edit; view, missing; disabled ones only warn', () => {
    const account = [
      { id: 7, name: 'Shop', site: 'shop.example', permission: 'own' },
      { id: 8, name: 'Blog', site: 'blog.example', permission: 'view' },
    ];
    expect(counterCheck(counter, account)).toMatchObject({ status: 'ok', detail: '"shop" · site shop.example · permission own' });
    expect(counterCheck({ ...counter, id: 8 }, account)).toMatchObject({ status: 'fail', detail: 'permission "view": uploading needs "own" or "edit"' });
    expect(counterCheck({ ...counter, id: 9 }, account).status).toBe('fail');
    expect(counterCheck({ ...counter, id: 9, enabled: false }, account).status).toBe('warn');
    expect(counterCheck(counter, undefined).status).toBe('skip');
  });

  it('goals: a JS-event goal with the identifier', () => {
    const js = { id: 1, name: 'Звонок', type: 'action', conditions: [{ type: 'exact', url: 'calltracking_call_order' }] };
    expect(goalCheck({ ...counter, goal: '' }, [], null)).toBeNull();
    expect(goalCheck(counter, [js], null)).toMatchObject({ status: 'ok' });
    expect(goalCheck(counter, [], null)).toMatchObject({ status: 'fail', detail: 'no JavaScript-event goal with identifier "calltracking_call_order": Metrica refuses the conversions' });
    expect(goalCheck(counter, [{ ...js, type: 'url' }], null)!.detail).toMatch(/of type "url", not a JavaScript event/);
    expect(goalCheck(counter, undefined, { kind: 'remote', message: 'down' })).toMatchObject({ status: 'fail', detail: 'down' });
  });

  it('call linking', () => {
    expect(linkingCheck(counter, '2024-04-29', null)).toMatchObject({ status: 'ok', detail: 'on · calls from 2024-04-29 on can link to visits' });
    expect(linkingCheck(counter, null, null).status).toBe('fail');
    expect(linkingCheck({ ...counter, enabled: false }, null, null).status).toBe('warn');
    // a counter with a goal: the conversions' switch has a check of its own
    const goal = { ...counter, goal: 'call' };
    expect(linkingCheck(goal, '2024-05-19', null, 'conversion')).toMatchObject({ id: 'conversion-linking:7', status: 'ok', title: 'counter 7 conversion linking', detail: 'on · conversions from 2024-05-19 on can link to visits' });
    expect(linkingCheck(goal, null, null, 'conversion')).toMatchObject({
      status: 'fail',
      detail: 'off: Metrica refuses the conversions of goal "call" until it is on; "ckym sync" holds them meanwhile',
      fix: 'run "ckym counters edit 7 --yes" (or turn it on in the counter\'s settings in Metrica), then give it a day: the link window grows to 21 days',
    });
  });

  it('database, last sync, lock', () => {
    const db = { file: '/h/ckym.db', exists: true, error: null, schemaVersion: 1, knownVersion: 1 };
    expect(databaseCheck({ ...db, exists: false }).status).toBe('ok');
    expect(databaseCheck(db)).toMatchObject({ status: 'ok', detail: '/h/ckym.db · schema 1' });
    expect(databaseCheck({ ...db, schemaVersion: 2 })).toMatchObject({ status: 'fail', fix: 'upgrade ckym' });
    expect(databaseCheck({ ...db, schemaVersion: 0, knownVersion: 1 }).status).toBe('warn');
    expect(databaseCheck({ ...db, error: 'database /h/ckym.db: the file is not a ckym database' }).status).toBe('fail');
    // another user's database: not "move a damaged file aside" (it is not damaged, and not the running user's to move)
    expect(databaseCheck({ ...db, error: 'database /h/ckym.db belongs to another user (uid 4242), …', foreign: true })).toMatchObject({
      status: 'fail',
      fix: 'run ckym as the user it belongs to (sudo -u), or do as the message says',
    });

    const lastRun = { startedAt: NOW, outcome: 'ok', error: null, sentCalls: 3, sentConversions: 1 };
    expect(lastSyncCheck({ timeZone: TZ, lastRun: null, quarantined: 0 })).toMatchObject({ status: 'ok', detail: 'none yet' });
    expect(lastSyncCheck({ timeZone: TZ, lastRun, quarantined: 0 })).toMatchObject({ status: 'ok', detail: '2024-05-20 12:00 (Europe/Moscow): ok, sent 3 calls, 1 conversions' });
    expect(lastSyncCheck({ timeZone: TZ, lastRun: { ...lastRun, outcome: 'failed', error: 'Metrica unavailable' }, quarantined: 0 }).status).toBe('warn');
    expect(lastSyncCheck({ timeZone: TZ, lastRun, quarantined: 4 }).detail).toMatch(/4 rows kept aside \(Metrica refused them\)/);
    expect(lastSyncCheck({ timeZone: TZ, lastRun, quarantined: 4 }).fix).toMatch(/then run "ckym sync --retry-failed"$/);

    expect(lockCheck({ timeZone: TZ, free: true, neverRan: false, running: null, error: null })).toMatchObject({ status: 'ok', detail: 'free' });
    expect(lockCheck({ timeZone: TZ, free: false, neverRan: false, running: { pid: 42, startedAt: NOW }, error: null })).toMatchObject({
      status: 'ok',
      detail: 'held by a running sync (pid 42, started 2024-05-20 12:00 (Europe/Moscow))',
    });
    expect(lockCheck({ timeZone: TZ, free: false, neverRan: false, running: null, error: 'EACCES' }).status).toBe('fail');
  });

  it('exit code, summary and lines', () => {
    const okCheck = configCheck({ filepath: '/c.json', error: null, warnings: [], counters: 1, enabled: 1 });
    const warnCheck = tokenExpiryCheck(NOW + DAY, NOW, false, TZ)!;
    const failCheck = linkingCheck(counter, null, null);
    expect(doctorExitCode([okCheck, warnCheck])).toBe(0);
    expect(doctorExitCode([okCheck, failCheck])).toBe(1);
    expect(summary([okCheck])).toBe('all checks passed');
    expect(summary([okCheck, warnCheck, failCheck])).toBe('1 check failed, 1 warning');
    expect(checkLine(okCheck)).toBe('✓ config: /c.json · 1 counter');
    expect(checkLine(failCheck)).toMatch(/^✗ counter 7 call linking: off: .* → run "ckym counters edit 7 --yes"/);
    expect(checkLine(warnCheck)).toMatch(/^! Yandex token expiry: /);
  });
});

describe('ckym doctor (in process)', () => {
  let home: string;
  let server: Server;
  let url: string;
  beforeEach(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-doctor-cmd-'));
    // A "Metrica" whose clock is an hour behind, and which refuses every token.
    server = createServer((_req, res) => {
      res.setHeader('Date', new Date(Date.now() - 3600_000).toUTCString());
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ error_type: 'invalid_token', message: 'Invalid oauth_token' }], code: 403, message: 'Invalid oauth_token' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('a skewed clock and a refused token: ✗ lines, exit 1, secrets never printed', async () => {
    fs.writeFileSync(path.join(home, 'ckym.config.json'), JSON.stringify({ counters: [{ id: 7, name: 'shop' }] }));
    const secret = 'y0_secret-token-never-shown-123';
    const io = memoryIO({ CKYM_HOME: path.join(home, 'state'), CKYM_METRIKA_URL: url, CKYM_YANDEX_TOKEN: secret }, home);
    expect(await run(argv('doctor'), io)).toBe(1);
    const out = io.out();
    expect(out).toMatch(/^✓ config: .*ckym\.config\.json · 1 counter$/m);
    expect(out).toMatch(/^✗ CallKeeper API key: no API key → run "ckym login" \(or set CKYM_CALLKEEPER_KEY\)$/m);
    expect(out).toMatch(/^✗ Yandex token: Metrica refused the Yandex token \(HTTP 403 invalid_token: Invalid oauth_token\)/m);
    expect(out).toMatch(/^✗ clock: the system clock is 60 min ahead of Metrica's: .* → set the system clock right/m);
    expect(out).toMatch(/^- counter 7: not checked: needs a working Yandex token$/m);
    expect(out).toMatch(/^✓ database: none yet/m);
    expect(out).toMatch(/^✓ sync lock: free$/m);
    expect(out).toMatch(/\n3 checks failed\n$/);
    expect(out + io.err()).not.toContain(secret);
    expect(fs.existsSync(path.join(home, 'state'))).toBe(false); // doctor creates nothing
  });

  it('--json: one document', async () => {
    const io = memoryIO({ CKYM_HOME: path.join(home, 'state'), CKYM_METRIKA_URL: url }, home);
    expect(await run(argv('--config', path.join(home, 'missing.json'), 'doctor', '--json'), io)).toBe(1);
    const doc = JSON.parse(io.out()) as { version: number; command: string; ok: boolean; checks: { id: string; status: string }[] };
    expect(doc).toMatchObject({ version: 1, command: 'doctor', ok: false });
    expect(doc.checks.map((c) => c.id)).toEqual(['config', 'callkeeper-key', 'yandex-token', 'clock', 'database', 'sync-lock']);
    expect(doc.checks.find((c) => c.id === 'config')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^config file not found: /) });
  });
});
