/**
 * A new user's first run, as README's "Real use" tells it: from an empty folder and an empty CKYM_HOME, every
 * command of its marked blocks typed word for word (`ckym` is a wrapper on the PATH that runs bin/ckym.js),
 * against the CallKeeper, Metrica and Yandex OAuth emulators. The interactive steps (`ckym login`, `ckym counters add`) run in a pseudo-terminal
 * (util-linux `script`), where the test types the answers and plays the browser.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCallKeeperEmulator, type CallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import { startMetrikaEmulator, type MetrikaEmulator } from '../../src/sandbox/metrika.js';
import { startOAuthEmulator, type OAuthEmulator } from '../../src/sandbox/oauth.js';
import { generateCalls } from '../../src/sandbox/generate.js';
import { settingDefaults } from '../../src/config/settings.js';
import { BIN, ROOT } from '../support/harness.js';
import { expectedRows, sortRows, type OracleCounter } from '../support/oracle.js';
import { spawnOnPty } from '../support/pty.js';

const KEY = 'f1rstRUNkey00042';
const TOKEN = 'y0_FirstRunTokenSECRET0123456789abcdef';
const CLIENT_ID = 'c0ffee00d15ea5e0c0ffee00d15ea5e0';
const KEYS = { enter: '\r', space: ' ' };

/** The steps of README's "Real use" block, in order: what the user types. */
function readmeSteps(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- first-run:start -->([\s\S]*?)<!-- first-run:end -->/.exec(readme)?.[1] ?? '';
  return [...block.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

interface Step {
  code: number | null;
  out: string;
  err: string;
}

const nowUnix = () => Math.floor(Date.now() / 1000);
const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

let tmp: string;
let cwd: string;
let env: NodeJS.ProcessEnv;
let callkeeper: CallKeeperEmulator;
let metrika: MetrikaEmulator;
let oauth: OAuthEmulator;
let calls: Record<string, unknown>[];
const transcript: string[] = [];

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-first-run-'));
  const home = path.join(tmp, 'home');
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(home);
  fs.mkdirSync(bin);
  // `ckym` on the PATH, as `npm install -g .` puts it there.
  fs.writeFileSync(path.join(bin, 'ckym'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`, { mode: 0o755 });
  // Three days of calls that ended at least an hour ago: all inside the first sync's window, all settled.
  calls = generateCalls({ count: 400, seed: 20241130, nowUnix: nowUnix() - 3600, days: 3 });
  callkeeper = await startCallKeeperEmulator({ apiKey: KEY, calls });
  metrika = await startMetrikaEmulator({
    token: TOKEN,
    counters: [
      {
        id: 12345678,
        name: 'shop.example',
        site: 'shop.example',
        permission: 'own',
        goals: [{ id: 301, name: 'Звонок коллтрекинга', type: 'action', conditions: [{ type: 'exact', url: 'calltracking_call_order' }] }],
      },
      // both linking switches off: `counters add … --goal call --yes` turns both on
      { id: 87654321, name: 'blog.example', site: 'blog.example', permission: 'edit', callsLinking: false, conversionsLinking: false, goals: [] },
      { id: 55555555, name: 'partner.example', site: 'partner.example', permission: 'view', goals: [] },
    ],
  });
  oauth = await startOAuthEmulator({
    clients: [{ clientId: CLIENT_ID }],
    user: { login: 'first.user', id: '77' },
    issueAccessToken: () => TOKEN,
    knownTokens: [{ accessToken: TOKEN, clientId: CLIENT_ID }],
    consent: 'allow',
  });
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: home,
    CKYM_HOME: path.join(tmp, 'ckym-home'), // empty: it does not even exist yet
    CKYM_CALLKEEPER_URL: callkeeper.url,
    CKYM_METRIKA_URL: metrika.url,
    CKYM_OAUTH_URL: oauth.url,
    CKYM_LOGIN_URL: oauth.loginUrl,
    NO_COLOR: '1',
    TERM: 'xterm',
    BROWSER: 'true', // the test plays the browser: `open` must not start a real one
  };
  cwd = home;
});

afterAll(async () => {
  await Promise.all([callkeeper?.close(), metrika?.close(), oauth?.close()]);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A line that is not `ckym …`, run by bash where the user is; a `cd` moves the user. */
function shell(line: string): Step {
  const r = spawnSync('bash', ['-ec', `${line}\npwd >&3`], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const where = String(r.output[3] ?? '').trim();
  if (where) cwd = where;
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** `ckym …` without a terminal, as a script or cron runs it. */
function plain(line: string): Promise<Step> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', line], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => {
      transcript.push(out, err);
      resolve({ code, out, err });
    });
  });
}

/** `ckym …` on a terminal: a pseudo-terminal from util-linux `script`; `answer` waits for a prompt, then types. */
function terminal(line: string) {
  const child = spawnOnPty(line, { cwd, env, setup: 'stty cols 120 rows 40' });
  let screen = '';
  let seen = 0;
  child.stdout.on('data', (d: Buffer) => (screen += stripAnsi(d.toString())));
  child.stderr.on('data', (d: Buffer) => (screen += stripAnsi(d.toString())));
  const done = new Promise<Step>((resolve) =>
    child.on('close', (code) => {
      transcript.push(screen);
      child.stdin.end();
      resolve({ code, out: screen, err: '' });
    }),
  );
  return {
    done,
    screen: () => screen,
    /** Waits until `prompt` shows after the previous answer, then types `keys`. */
    async answer(prompt: RegExp, ...keys: string[]) {
      const start = Date.now();
      while (!prompt.test(screen.slice(seen))) {
        if (Date.now() - start > 20_000) throw new Error(`prompt ${prompt} not shown; the screen since the last answer:\n${screen.slice(seen)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      seen = screen.length;
      for (const k of keys) {
        child.stdin.write(k);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

const uploadRequests = () => metrika.requests.filter((r) => r.method === 'POST' && /\/upload(_calls)?\b/.test(r.path)).length;
const configFile = () => path.join(cwd, 'ckym.config.json');
const readConfig = () => JSON.parse(fs.readFileSync(configFile(), 'utf8')) as { yandex: unknown; counters: OracleCounter[] };

/** Each README step and what the test does and checks for it. A step the test does not know fails the test. */
const DRIVERS: Record<string, (line: string) => Promise<void>> = {
  'mkdir -p ~/ckym && cd ~/ckym': async (line) => {
    expect(shell(line).code).toBe(0);
    expect(cwd).toBe(path.join(env.HOME!, 'ckym'));
    expect(fs.readdirSync(cwd)).toEqual([]);
  },

  'ckym login': async (line) => {
    const t = terminal(line);
    await t.answer(/ClientID of your Yandex OAuth app/, CLIENT_ID, KEYS.enter);
    await t.answer(/CallKeeper API key/, KEY, KEYS.enter);
    await t.answer(/Client secret of your Yandex OAuth app/, KEYS.enter); // a public PKCE app: none
    await t.answer(/https?:\/\/\S+\/authorize\?\S+/);
    // the browser: open the link, Yandex redirects to ckym's loopback callback
    const link = /(https?:\/\/\S+\/authorize\?\S+)/.exec(t.screen())![1]!;
    const consent = await fetch(link, { redirect: 'manual' });
    const page = await fetch(consent.headers.get('location')!.replace('localhost', '127.0.0.1'));
    expect(await page.text()).toMatch(/ckym is connected to Yandex Metrica/);
    const result = await t.done;
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/connected: CallKeeper key f1rs…42, Yandex account first\.user/);
    expect(fs.statSync(path.join(env.CKYM_HOME!, 'credentials.json')).mode & 0o777).toBe(0o600);
    // the folder had no config: login created it with the ClientID
    expect(readConfig()).toEqual({ yandex: { clientId: CLIENT_ID } });
  },

  'ckym counters list': async (line) => {
    const r = await plain(line);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        'counter   name          site          access  configured',
        '12345678  shop.example  shop.example  own',
        '87654321  blog.example  blog.example  edit',
        '',
      ].join('\n'),
    );
  },

  'ckym counters add': async (line) => {
    const t = terminal(line);
    await t.answer(/Counters to send calls to/, KEYS.space, KEYS.enter); // the first: 12345678
    // Enter at every question: the defaults (the counter's own site, its existing goal)
    await t.answer(/Тип звонков[^\n]*\n[^\n]*Call type/, KEYS.enter);
    await t.answer(/Длительность[^\n]*\n[^\n]*Minimum duration/, KEYS.enter);
    await t.answer(/Статус звонка[^\n]*\n[^\n]*Call status/, KEYS.enter);
    await t.answer(/Дополнительно[^\n]*\n[^\n]*Uniqueness/, KEYS.enter);
    await t.answer(/Тегирование[^\n]*\n[^\n]*Tags/, KEYS.enter);
    await t.answer(/Fixed tag text for callbacks/, KEYS.enter);
    await t.answer(/Fixed tag text for incoming calls/, KEYS.enter);
    await t.answer(/Достижение цели[^\n]*\n[^\n]*Goal[\s\S]*calltracking_call_order — existing goal/, KEYS.enter);
    await t.answer(/Sites[^\n]*\n[^\n]*Sites \(comma-separated; empty = any\)/, KEYS.enter);
    await t.answer(/Identifiers[^\n]*\n[^\n]*Identifiers/, KEYS.enter);
    const result = await t.done;
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/added counter 12345678 \(shop\.example\) in .*ckym\.config\.json/);
    expect(readConfig().counters).toEqual([
      { id: 12345678, ...settingDefaults(), name: 'shop.example', goal: 'calltracking_call_order', sites: ['shop.example'] },
    ]);
  },

  'ckym counters add 87654321 --call-type callback --min-duration 30 --status successful --uniqueness all --tags call --goal call --site blog.example --yes':
    async (line) => {
      const r = await plain(line);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^added counter 87654321 \(blog\.example\) in .*ckym\.config\.json$/m);
      expect(r.err).toMatch(/created the JavaScript-event goal "call" on counter 87654321/);
      // the counter has a goal now: both of Metrica's switches are needed, and were off
      expect(r.err).toMatch(/^turned call linking on for counter 87654321$/m);
      expect(r.err).toMatch(/^turned conversion linking on for counter 87654321$/m);
      expect(r.err).toMatch(/^conversions of counter 87654321 can be linked to visits from \d{4}-\d{2}-\d{2} \(at most 21 days back\)$/m);
      expect(readConfig()).toEqual({
        yandex: { clientId: CLIENT_ID },
        counters: [
          { id: 12345678, ...settingDefaults(), name: 'shop.example', goal: 'calltracking_call_order', sites: ['shop.example'] },
          {
            id: 87654321,
            ...settingDefaults(),
            name: 'blog.example',
            callType: 'callback',
            minDuration: 30,
            status: 'successful',
            goal: 'call',
            sites: ['blog.example'],
          },
        ],
      });
      expect(metrika.goals(87654321)).toContainEqual(expect.objectContaining({ type: 'action', conditions: [{ type: 'exact', url: 'call' }] }));
    },

  'ckym doctor': async (line) => {
    const r = await plain(line);
    expect(r.out).not.toMatch(/^✗/m);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^✓ counter 87654321 call linking: on/m);
    expect(r.out).toMatch(/^✓ counter 87654321 conversion linking: on/m);
    expect(r.out).toMatch(/^✓ counter 12345678 goal: "calltracking_call_order" is the JavaScript-event goal/m);
  },

  'ckym sync --dry-run': async (line) => {
    const r = await plain(line);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ClientId,DateTime,StaticCall,PhoneNumber/);
    expect(uploadRequests()).toBe(0);
  },

  'ckym sync': async (line) => {
    const before = uploadRequests();
    const r = await plain(line);
    expect(r.code).toBe(0);
    if (before === 0) {
      // the first: Metrica holds exactly the rows the spec says, once each
      const now = nowUnix();
      const counters = readConfig().counters;
      const expected = expectedRows(calls, counters, { nowUnix: now, timeZone: 'Europe/Moscow', settleMinutes: 10, fromUnix: now - 7 * 86_400, toUnix: now });
      for (const c of counters) {
        const want = expected.get(c.id)!;
        expect(want.calls.length, `calls for ${c.id}`).toBeGreaterThan(0);
        expect(sortRows(metrika.rows(c.id, 'calls')), `calls of ${c.id}`).toEqual(sortRows(want.calls));
        expect(sortRows(metrika.rows(c.id, 'conversions')), `conversions of ${c.id}`).toEqual(sortRows(want.conversions));
      }
      // 87654321's switches were turned on just now: Metrica links about a day back, so its older calls and
      // conversions went in files of their own, with the ignore flag; 12345678's (on for long) in one file each.
      // (Whether 87654321 has fresh rows at all depends on the hour the test runs — its calls are few and the
      // threshold is a date — so the split is checked by time, not by a fixed list of files.)
      const files = (id: number) => metrika.uploads.filter((u) => u.counterId === id).map((u) => `${u.kind}${u.ignoreThreshold ? ' old' : ''}`);
      expect(files(12345678)).toEqual(['calls', 'conversions']);
      for (const kind of ['calls', 'conversions'] as const) {
        const ups = metrika.uploads.filter((u) => u.counterId === 87654321 && u.kind === kind);
        const times = (old: boolean) => ups.filter((u) => u.ignoreThreshold === old).flatMap((u) => u.rows.map((row) => Number(row.DateTime)));
        expect(ups.filter((u) => u.ignoreThreshold), `old ${kind} of 87654321`).toHaveLength(1);
        expect(ups.filter((u) => !u.ignoreThreshold).length, `fresh ${kind} of 87654321`).toBeLessThanOrEqual(1);
        if (times(false).length > 0) expect(Math.max(...times(true))).toBeLessThan(Math.min(...times(false)));
      }
      expect(uploadRequests()).toBe(metrika.uploads.length);
    } else {
      // the second: nothing new, no upload request
      expect(uploadRequests()).toBe(before);
    }
  },

  'ckym stats': async (line) => {
    const r = await plain(line);
    expect(r.code).toBe(0);
    for (const id of [12345678, 87654321]) {
      const sent = metrika.rows(id, 'calls').length;
      expect(r.out).toMatch(new RegExp(`^${id} [\\s\\S]*?calls sent +${sent}\\b`, 'm'));
    }
  },
};

describe('first run, as README "Real use" says, from an empty folder', () => {
  it('README has the steps the test knows, in this order', () => {
    expect(readmeSteps()).toEqual([
      'mkdir -p ~/ckym && cd ~/ckym',
      'ckym login',
      'ckym counters list',
      'ckym counters add',
      'ckym counters add 87654321 --call-type callback --min-duration 30 --status successful --uniqueness all --tags call --goal call --site blog.example --yes',
      'ckym doctor',
      'ckym sync --dry-run',
      'ckym sync',
      'ckym sync',
      'ckym stats',
    ]);
  });

  it('every step works, typed as written', async () => {
    for (const line of readmeSteps()) {
      const drive = DRIVERS[line];
      if (!drive) throw new Error(`README step without a driver in this test: ${line}`);
      await drive(line);
    }
    for (const text of transcript) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(TOKEN);
    }
  }, 180_000);
});

describe('a folder with no config file', () => {
  it('counters add --yes creates ckym.config.json holding the counter (it used to write {})', async () => {
    const folder = fs.mkdtempSync(path.join(env.HOME!, 'no-config-')); // under HOME: the config search stops there
    // The emulators answer from this process: spawn, never spawnSync (which would stop them).
    const r = await plain(`cd '${folder}' && CKYM_HOME='${folder}/state' CKYM_YANDEX_TOKEN='${TOKEN}' ckym counters add 12345678 --yes --no-call-linking`);
    expect(r.err).not.toMatch(/ckym:/);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`added counter 12345678 (shop.example) in ${path.join(folder, 'ckym.config.json')}\n`);
    const written = JSON.parse(fs.readFileSync(path.join(folder, 'ckym.config.json'), 'utf8'));
    expect(written).toEqual({ counters: [{ id: 12345678, ...settingDefaults(), name: 'shop.example', sites: ['shop.example'] }] });
    const show = await plain(`cd '${folder}' && ckym counters show --json`);
    expect(JSON.parse(show.out).counters.map((c: { id: number }) => c.id)).toEqual([12345678]);
  });
});
