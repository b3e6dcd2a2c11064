/**
 * `ckym doctor` end to end against the emulators: an all-green setup, then each thing that can be wrong.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import type { MetrikaCounterSeed } from '../../src/sandbox/metrika.js';
import { API_KEY, TOKEN, makeWorld, until, type World } from '../support/harness.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const CALLS = generateCalls({ count: 400, seed: 5150, nowUnix: NOW_UNIX, days: 5 });

const counter = (id: number, name: string, goal: string) => ({ id, name, callType: 'all', goal, sites: [] });
const GOOD = counter(11111111, 'good.example', 'calltracking_call_order');
const VIEW_ONLY = counter(22222222, 'view.example', '');
const NO_GOAL = counter(33333333, 'nogoal.example', 'missing_goal');
const NO_LINKING = counter(44444444, 'nolink.example', '');
const WRONG_TYPE = counter(55555555, 'urlgoal.example', 'thanks');
const NO_CONVERSION_LINKING = counter(66666666, 'noconv.example', 'call');

const seeds: MetrikaCounterSeed[] = [
  { id: GOOD.id, name: GOOD.name, site: GOOD.name, permission: 'edit', goals: [{ id: 1, name: 'Звонок', type: 'action', conditions: [{ type: 'exact', url: GOOD.goal }] }] },
  { id: VIEW_ONLY.id, name: VIEW_ONLY.name, site: VIEW_ONLY.name, permission: 'view' },
  { id: NO_GOAL.id, name: NO_GOAL.name, site: NO_GOAL.name, goals: [{ id: 2, name: 'Другая', type: 'action', conditions: [{ type: 'exact', url: 'other' }] }] },
  { id: NO_LINKING.id, name: NO_LINKING.name, site: NO_LINKING.name, callsLinking: false },
  { id: WRONG_TYPE.id, name: WRONG_TYPE.name, site: WRONG_TYPE.name, goals: [{ id: 3, name: 'Спасибо', type: 'url', conditions: [{ type: 'contain', url: 'thanks' }] }] },
  {
    id: NO_CONVERSION_LINKING.id,
    name: NO_CONVERSION_LINKING.name,
    site: NO_CONVERSION_LINKING.name,
    conversionsLinking: false,
    goals: [{ id: 4, name: 'Обратный звонок', type: 'action', conditions: [{ type: 'exact', url: 'call' }] }],
  },
];
const base = {
  callkeeper: { timezone: 'Europe/Moscow' },
  network: { retries: 1, backoffSeconds: 0.01, timeoutSeconds: 2 },
};
const green = { ...base, counters: [GOOD] };
const mixed = { ...base, counters: [GOOD, VIEW_ONLY, NO_GOAL, NO_LINKING, WRONG_TYPE, NO_CONVERSION_LINKING] };

interface DoctorJson {
  version: number;
  command: string;
  ok: boolean;
  exitCode: number;
  checks: { id: string; status: 'ok' | 'warn' | 'fail' | 'skip'; title: string; detail: string; fix: string | null }[];
}

let world: World;
const transcripts: string[] = [];
beforeAll(async () => {
  world = await makeWorld({ calls: CALLS, counters: seeds, config: green, nowIso: NOW });
});
afterEach(() => {
  world.metrika.setToken(TOKEN);
  world.writeConfig(green);
});
afterAll(async () => {
  transcripts.push(...world.transcript);
  await world.close();
  const all = transcripts.join('\n');
  expect(all).not.toContain(API_KEY);
  expect(all).not.toContain(TOKEN);
});

async function doctorJson(env?: NodeJS.ProcessEnv): Promise<DoctorJson & { code: number | null }> {
  const r = await world.run(['doctor', '--json'], env);
  return { ...(JSON.parse(r.stdout) as DoctorJson), code: r.code };
}
const statusOf = (doc: DoctorJson, id: string) => doc.checks.find((c) => c.id === id)?.status;
const check = (doc: DoctorJson, id: string) => doc.checks.find((c) => c.id === id)!;

describe('ckym doctor', () => {
  it('all green: one ✓ line per check, exit 0 (real clock)', async () => {
    const r = await world.run(['doctor'], { CKYM_NOW: '' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('all checks passed');
    const checks = lines.slice(0, -2);
    expect(checks).toEqual([
      expect.stringMatching(/^✓ config: .*ckym\.config\.json · 1 counter$/),
      '✓ CallKeeper API key: CallKeeper accepts it (from CKYM_CALLKEEPER_KEY)',
      '✓ Yandex token: Metrica accepts it (from CKYM_YANDEX_TOKEN); 6 counters visible',
      expect.stringMatching(/^✓ clock: within \d+ s of Metrica's$/),
      '✓ counter 11111111: "good.example" · site good.example · permission edit',
      '✓ counter 11111111 goal: "calltracking_call_order" is the JavaScript-event goal "Звонок" (1)',
      expect.stringMatching(/^✓ counter 11111111 call linking: on · calls from \d{4}-\d\d-\d\d on can link to visits$/),
      // a counter with a goal: the conversions' switch too
      expect.stringMatching(/^✓ counter 11111111 conversion linking: on · conversions from \d{4}-\d\d-\d\d on can link to visits$/),
      expect.stringMatching(/^✓ database: none yet: the first "ckym sync" creates .*ckym\.db$/),
      '✓ sync lock: free',
    ]);
  });

  it('a clock fixed by CKYM_NOW is a warning, not a failure', async () => {
    const doc = await doctorJson();
    expect(doc.code).toBe(0);
    expect(check(doc, 'clock')).toMatchObject({ status: 'warn', fix: 'unset CKYM_NOW' });
    expect(check(doc, 'clock').detail).toMatch(/CKYM_NOW fixes ckym's clock at 2024-05-20T09:00:00Z/);
  });

  it('names every counter problem with its fix, exit 1', async () => {
    world.writeConfig(mixed);
    const r = await world.run(['doctor']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✓ counter 11111111: /m);
    expect(r.stdout).toMatch(/^✗ counter 22222222: permission "view": uploading needs "own" or "edit" → ask the counter's owner for edit access/m);
    expect(r.stdout).toMatch(/^✗ counter 33333333 goal: no JavaScript-event goal with identifier "missing_goal": Metrica refuses the conversions → create a JavaScript-event goal with identifier "missing_goal"/m);
    expect(r.stdout).toMatch(/^✗ counter 44444444 call linking: off: Metrica refuses call uploads .* → run "ckym counters edit 44444444 --yes"/m);
    expect(r.stdout).not.toMatch(/counter 44444444 conversion linking/); // no goal: no conversions, no check
    expect(r.stdout).toMatch(
      /^✗ counter 66666666 conversion linking: off: Metrica refuses the conversions of goal "call" until it is on; "ckym sync" holds them meanwhile → run "ckym counters edit 66666666 --yes"/m,
    );
    expect(r.stdout).toMatch(/^✓ counter 66666666 call linking: on/m);
    expect(r.stdout).toMatch(/^✗ counter 55555555 goal: "thanks" belongs to goal "Спасибо" \(3\) of type "url", not a JavaScript event/m);
    expect(r.stdout).toMatch(/\n\n5 checks failed, 1 warning\n$/);

    const doc = await doctorJson();
    expect(doc).toMatchObject({ version: 1, command: 'doctor', ok: false, exitCode: 1 });
    expect(doc.code).toBe(1);
    expect(statusOf(doc, 'counter:22222222')).toBe('fail');
    expect(statusOf(doc, 'goal:33333333')).toBe('fail');
    expect(statusOf(doc, 'linking:44444444')).toBe('fail');
    expect(statusOf(doc, 'goal:55555555')).toBe('fail');
    expect(statusOf(doc, 'linking:11111111')).toBe('ok');
    expect(statusOf(doc, 'conversion-linking:11111111')).toBe('ok');
    expect(statusOf(doc, 'conversion-linking:66666666')).toBe('fail');
  });

  it('a counter the account does not have, and a disabled one with a problem (a warning)', async () => {
    world.writeConfig({ ...base, counters: [GOOD, counter(99999999, 'gone', ''), { ...VIEW_ONLY, enabled: false }] });
    const doc = await doctorJson();
    expect(check(doc, 'counter:99999999')).toMatchObject({ status: 'fail', detail: "not among the Yandex account's counters" });
    expect(check(doc, 'counter:22222222').status).toBe('warn');
    expect(check(doc, 'counter:22222222').detail).toMatch(/\(disabled in the config\)$/);
  });

  it('a CallKeeper key that is refused: ✗ with "run ckym login"', async () => {
    const doc = await doctorJson({ CKYM_CALLKEEPER_KEY: 'wrongkey12345678' });
    expect(doc.code).toBe(1);
    expect(check(doc, 'callkeeper-key')).toMatchObject({ status: 'fail', fix: 'run "ckym login" with a valid key' });
    expect(check(doc, 'callkeeper-key').detail).toMatch(/did not recognise the API key/);
    expect(statusOf(doc, 'yandex-token')).toBe('ok');
  });

  it('a revoked Yandex token: ✗, and the counter checks are skipped', async () => {
    world.metrika.setToken('a-new-token-somewhere-else');
    const r = await world.run(['doctor']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✗ Yandex token: Metrica refused the Yandex token \(HTTP 403 invalid_token: Invalid oauth_token\).* → run "ckym login"/m);
    expect(r.stdout).toMatch(/^- counter 11111111: not checked: needs a working Yandex token$/m);
  });

  it('no credentials at all', async () => {
    const doc = await doctorJson({ CKYM_CALLKEEPER_KEY: '', CKYM_YANDEX_TOKEN: '' });
    expect(check(doc, 'callkeeper-key')).toMatchObject({ status: 'fail', detail: 'no API key' });
    expect(check(doc, 'yandex-token')).toMatchObject({ status: 'fail', detail: 'no token' });
  });

  it('a stored token about to expire is a warning; an expired one a failure', async () => {
    const file = path.join(world.env.CKYM_HOME!, 'credentials.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const write = (expiresAt: number) =>
      fs.writeFileSync(file, JSON.stringify({ version: 1, yandex: { accessToken: TOKEN, expiresAt, login: 'shop-owner' } }), { mode: 0o600 });
    try {
      write(Date.parse(NOW) + 10 * 86_400_000);
      const soon = await doctorJson({ CKYM_YANDEX_TOKEN: '' });
      expect(check(soon, 'yandex-token')).toMatchObject({ status: 'ok' });
      expect(check(soon, 'yandex-token').detail).toMatch(/^Metrica accepts it for shop-owner; 6 counters visible$/);
      expect(check(soon, 'yandex-token-expiry')).toMatchObject({ status: 'warn', detail: 'expires on 2024-05-30 (in 10 days)' });
      expect(check(soon, 'yandex-token-expiry').fix).toMatch(/run "ckym login" before then/);
      write(Date.parse(NOW) - 86_400_000);
      const expired = await doctorJson({ CKYM_YANDEX_TOKEN: '' });
      expect(check(expired, 'yandex-token-expiry')).toMatchObject({ status: 'fail', detail: 'expired on 2024-05-19' });
      expect(expired.code).toBe(1);
      fs.chmodSync(file, 0o644);
      const leaky = await doctorJson({ CKYM_YANDEX_TOKEN: '' });
      expect(check(leaky, 'yandex-token').detail).toMatch(/readable by other users/);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('a bad config file: ✗ naming the key path, the other checks still run', async () => {
    world.writeConfig({ ...base, counters: [{ ...GOOD, status: 'answered' }] });
    const r = await world.run(['doctor']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✗ config: .*counters\[0\]\.status: expected one of "all", "successful", "unsuccessful"; got "answered"/m);
    expect(r.stdout).toMatch(/^✓ CallKeeper API key/m);
  });

  it('during a sync the lock is held by it; after it, the database and the last sync', async () => {
    world.writeConfig({ ...green, network: { ...base.network, timeoutSeconds: 10 } });
    world.metrika.inject({ on: 'upload', delayMs: 3000, times: 1 });
    const sync = world.start(['sync']);
    await until(() => world.metrika.requests.some((r) => r.method === 'POST' && r.status === 0));
    const during = await doctorJson();
    expect(check(during, 'sync-lock').status).toBe('ok');
    expect(check(during, 'sync-lock').detail).toMatch(/^held by a running sync \(pid \d+, started 2024-05-20 12:00 \(Europe\/Moscow\)\)$/);
    expect((await sync.done).code).toBe(0);

    const doc = await doctorJson();
    expect(check(doc, 'database').status).toBe('ok');
    expect(check(doc, 'database').detail).toMatch(/ckym\.db · schema \d+$/);
    expect(check(doc, 'last-sync')).toMatchObject({ status: 'ok' });
    expect(check(doc, 'last-sync').detail).toMatch(/^2024-05-20 12:00 \(Europe\/Moscow\): ok, sent \d+ calls, \d+ conversions$/);
    expect(check(doc, 'sync-lock')).toMatchObject({ status: 'ok', detail: 'free' });
  });
});
