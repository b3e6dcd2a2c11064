/**
 * Security: the credentials file (0600, refused when others can read it), secrets never printed, logged,
 * stored outside it or sent where they do not belong, the OAuth loopback (127.0.0.1 only, one callback with
 * the right state, closed afterwards), the PKCE verifier (only ever in the /token request), and the callback
 * pages (everything they echo is escaped).
 *
 * Every world here (as every harness world in the suite) ends with the secrets check of test/support/secrets.ts:
 * every stdout/stderr of every spawned ckym, and every file under its home — database, WAL, logs, CSVs — except
 * credentials.json, searched for the API key, the tokens, refresh tokens, the client secret, the PKCE verifier.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { API_KEY, TOKEN, freePort, until } from '../support/harness.js';
import { describePath, startFaultProxy, type FaultProxy } from '../support/proxy.js';
import { FAST, counter, makeReliabilityWorld, runVia, seedsFor, type ReliabilityWorld } from '../support/reliability.js';
import { scanSummary, secretForms } from '../support/secrets.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const CLIENT_ID = 'ckym-security-client-0001';
const CLIENT_SECRET = 'app-secret-S3CR3T-value-77';
const CALLS = generateCalls({ count: 200, seed: 4711, nowUnix: NOW_UNIX, days: 6 });
const counters = [counter(11, { name: 'all calls, goal', goal: 'call' })];
const NO_ENV_CREDS = { CKYM_CALLKEEPER_KEY: '', CKYM_YANDEX_TOKEN: '' };

let world: ReliabilityWorld;
let oauthProxy: FaultProxy | null = null;
let worlds = 0;

/** A world with the Yandex OAuth emulator behind a capturing proxy (so every byte sent to it can be inspected). */
async function loginWorld(options: { login?: string; secret?: boolean; consent?: 'allow' | 'deny' } = {}): Promise<number> {
  const port = await freePort();
  world = await makeReliabilityWorld({
    calls: CALLS,
    counters: seedsFor(counters),
    nowIso: NOW,
    capture: true,
    config: { ...FAST, yandex: { clientId: CLIENT_ID, redirectPort: port }, counters },
    oauth: {
      clients: [{ clientId: CLIENT_ID, clientSecret: options.secret ? CLIENT_SECRET : null }],
      user: { login: options.login ?? 'marketer.ivanova', id: '42' },
      issueAccessToken: () => TOKEN,
      consent: options.consent ?? 'allow',
      knownTokens: [{ accessToken: TOKEN, clientId: CLIENT_ID }],
    },
  });
  worlds++;
  oauthProxy = await startFaultProxy(world.oauth!.url, describePath, { capture: true });
  world.env.CKYM_OAUTH_URL = oauthProxy.url;
  world.env.CKYM_LOGIN_URL = `${oauthProxy.url}/login`;
  world.secrets.add(CLIENT_SECRET);
  return port;
}

async function syncWorld(): Promise<void> {
  world = await makeReliabilityWorld({ calls: CALLS, counters: seedsFor(counters), nowIso: NOW, capture: true, config: { ...FAST, counters } });
  worlds++;
}

/** The authorize link ckym printed. */
async function printedLink(stderr: () => string): Promise<URL> {
  await until(() => /https?:\/\/\S+\/authorize\?\S+/.test(stderr()));
  return new URL(/(https?:\/\/\S+\/authorize\?\S+)/.exec(stderr())![1]!);
}

/** Addresses (hex, as /proc/net/tcp{,6} show them) listening on `port`; null where /proc is not there. */
function listeners(port: number): string[] | null {
  if (!fs.existsSync('/proc/net/tcp')) return null;
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const parts = line.trim().split(/\s+/);
      const [address, hexPort] = (parts[1] ?? '').split(':');
      if (hexPort && parseInt(hexPort, 16) === port && parts[3] === '0A') found.push(address!);
    }
  }
  return found;
}

function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

const callback = (port: number, query: string, method = 'GET') =>
  fetch(`http://127.0.0.1:${port}/callback?${query}`, { method, redirect: 'manual' });

afterEach(async () => {
  // (the world's close adds every token Yandex issued in the test to the secrets it checks for)
  await oauthProxy?.close();
  oauthProxy = null;
  await world?.close();
});
afterAll(() => {
  console.info(`reliability: security — ${worlds} worlds; ${scanSummary()}`);
});

describe('the credentials file', () => {
  it('is written 0600 in a 0700 directory; refused (exit 2, one line) when group or others can read or write it', async () => {
    await loginWorld();
    const login = await world.run(['login', '--callkeeper-key', API_KEY, '--yandex-token', TOKEN], NO_ENV_CREDS);
    expect(login.code, login.stderr).toBe(0);
    const file = path.join(world.env.CKYM_HOME!, 'credentials.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(world.env.CKYM_HOME!).mode & 0o777).toBe(0o700);
    for (const mode of [0o640, 0o604, 0o644, 0o620]) {
      fs.chmodSync(file, mode);
      const r = await world.run(['sync'], NO_ENV_CREDS);
      expect(r.code, mode.toString(8)).toBe(2);
      expect(r.stderr).toBe(
        `ckym: ${file} is readable by other users (mode ${mode.toString(8)}); run "chmod 600 ${file}" and try again\n`,
      );
      expect(world.metrika.uploads).toEqual([]);
    }
    fs.chmodSync(file, 0o400); // owner read-only is fine
    const ok = await world.run(['sync'], NO_ENV_CREDS);
    expect(ok.code, ok.stderr).toBe(0);
    fs.chmodSync(file, 0o600);
  });
});

describe('secrets never leave their place', () => {
  it('not in any output, log, CSV or database file, whatever goes wrong; the key never in a URL ckym prints', async () => {
    await syncWorld();
    const home = world.home;
    const runs: [string, string[], NodeJS.ProcessEnv?][] = [
      ['CallKeeper unreachable', ['sync'], { CKYM_CALLKEEPER_URL: 'http://127.0.0.1:9/api/' }],
      ['CallKeeper HTML error pages', ['sync']],
      ['Metrica refuses the token', ['sync', '--json']],
      ['a good run, as JSON', ['sync', '--json']],
      ['a dry run into files', ['sync', '--dry-run', '--out', path.join(home, 'preview'), '--since', '2024-05-15']],
      ['stats', ['stats']],
      ['stats as JSON', ['stats', '--json']],
      ['doctor', ['doctor']],
      ['a wrong key', ['sync'], { CKYM_CALLKEEPER_KEY: 'wrongkey00000001' }],
    ];
    for (const [what, args, env] of runs) {
      if (what === 'CallKeeper HTML error pages') world.callkeeper.inject({ type: 'status', status: 502, times: 3 });
      if (what === 'Metrica refuses the token') world.mk.rule({ match: (r) => Boolean(r.info.upload), action: { type: 'respond', status: 403, body: '{"errors":[{"error_type":"invalid_token","message":"Invalid oauth_token"}],"code":403}' } });
      const r = await world.run(args, env);
      expect([0, 1, 2, 3, 4, 5], what).toContain(r.code);
    }
    // as cron runs it: everything appended to a log file
    const log = path.join(home, 'ckym.log');
    const cron = await runVia(world, ['bash', '-c', 'exec "$@" >> "$CKYM_LOG" 2>&1', 'cron'], ['sync', '--quiet'], { CKYM_LOG: log });
    expect(cron.code).toBe(0);
    const printed = world.transcript.join('\n') + fs.readFileSync(log, 'utf8');
    expect(printed).toMatch(/k3y9…t7/); // the key shows up masked where a URL is shown …
    expect(printed).not.toContain(API_KEY); // … and never whole (the scan at the end checks every file too)
    // what was sent where: the key only ever to CallKeeper, the token only ever to Metrica (in a header)
    for (const r of world.mk.requests) expect(`${r.captured?.query} ${r.captured?.body}`).not.toContain(API_KEY);
    expect(world.mk.requests.every((r) => !r.captured?.query.includes(TOKEN))).toBe(true);
  });
});

describe('secrets that servers echo back', () => {
  /** The issue's example: a key whose URL-encoded form differs from it (+, / and =). */
  const ODD_KEY = 'Ab12+Cd/34=Ef56';

  it('are masked before they are stored, in every form; stats --json prints none, with or without credentials', async () => {
    world = await makeReliabilityWorld({
      apiKey: ODD_KEY,
      calls: CALLS,
      counters: seedsFor(counters),
      nowIso: NOW,
      capture: true,
      config: { ...FAST, counters },
    });
    worlds++;
    // CallKeeper's error envelope echoes the request path, the key URL-encoded, as PHP writes JSON (`\/`).
    const echoed = `Method does not exist: json/v3/${encodeURIComponent(ODD_KEY)}/call/get/0`;
    world.ck.rule({
      match: (r) => r.info.page === 0,
      action: { type: 'respond', status: 200, body: JSON.stringify({ inbound: { error: echoed }, info: {}, payload: [] }).replace(/\//g, '\\/') },
    });
    const refused = await world.run(['sync']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('Ab12…56');

    // Metrica's 400 echoes the token as it is, JSON-escaped and inside a base64 Basic header, and the key raw.
    const basic = Buffer.from(`user:${TOKEN}`).toString('base64');
    world.mk.rule({
      match: (r) => Boolean(r.info.upload),
      times: Infinity,
      action: {
        type: 'respond',
        status: 400,
        body: JSON.stringify({
          errors: [{ error_type: 'invalid_parameter', message: `request OAuth ${TOKEN}, Basic ${basic}, key ${ODD_KEY}` }],
          code: 400,
        }),
      },
    });
    const rejected = await world.run(['sync']);
    expect(rejected.code, rejected.stderr).toBe(5);

    // What was stored: the errors are there, with the masks in place of the secrets.
    const runErrors = world.query<{ error: string | null }>('SELECT error FROM runs ORDER BY id').map((r) => r.error);
    expect(runErrors[0]).toContain('json/v3/Ab12…56/call/get/0');
    const batchErrors = world.query<{ error: string }>(`SELECT error FROM batches WHERE status = 'rejected'`).map((r) => r.error);
    expect(batchErrors.length).toBeGreaterThan(0);
    for (const error of batchErrors) expect(error).toContain(`request OAuth y0_A…89, Basic `);
    for (const text of [...runErrors, ...batchErrors]) {
      for (const secret of [ODD_KEY, TOKEN]) {
        for (const { form, text: encoded } of secretForms(secret)) expect(text ?? '', form).not.toContain(encoded);
      }
    }

    // stats --json: with the credentials in the environment, and with none anywhere (nothing to mask with).
    for (const env of [{}, NO_ENV_CREDS]) {
      const stats = await world.run(['stats', '--json'], env);
      expect(stats.code, stats.stderr).toBe(0);
      expect(stats.stdout).toContain('Ab12…56');
      for (const secret of [ODD_KEY, TOKEN]) {
        for (const { form, text } of secretForms(secret)) expect(stats.stdout, form).not.toContain(text);
      }
    }
    // (and the world's close scans every output and file for every form of both)
  });
});

describe('terminal injection', () => {
  it('escape sequences in remote and config strings never reach the terminal: sync, stats, doctor, counters list', async () => {
    const ESC = '\u001b]0;pwned\u0007\u001b[2K\u001b[1A\r\u009b2J\u202e';
    const hostile = [counter(11, { name: `shop${ESC}.example`, goal: 'call' })];
    const seeds = seedsFor(hostile).map((c) => ({
      ...c,
      name: `Metrica name${ESC}`,
      goals: c.goals.map((g) => ({ ...g, name: `goal name${ESC}` })),
    }));
    world = await makeReliabilityWorld({ calls: CALLS, counters: seeds, nowIso: NOW, config: { ...FAST, counters: hostile } });
    worlds++;
    world.mk.rule({
      match: (r) => r.info.upload === true && r.info.kind === 'conversions',
      action: { type: 'respond', status: 400, body: JSON.stringify({ errors: [{ error_type: 'invalid_parameter', message: `bad file${ESC}` }], code: 400 }) },
    });
    world.ck.rule({
      match: (r) => r.info.page === 0,
      times: 1,
      action: { type: 'respond', status: 200, body: JSON.stringify({ inbound: { error: `Entity does not exist${ESC}` }, info: {}, payload: [] }) },
    });
    const outputs = [
      await world.run(['sync']), // CallKeeper's error text
      await world.run(['sync']), // Metrica's refusal, the counter's name from the config
      await world.run(['stats']),
      await world.run(['doctor']), // Metrica's counter and goal names
      await world.run(['counters', 'list']),
      await world.run(['counters', 'show']),
    ];
    // (doctor's verdict is not the point here: only what it prints)
    expect(outputs.map((r, i) => (i === 3 ? 'any' : r.code))).toEqual([2, 5, 0, 'any', 0, 0]);
    const printed = outputs.map((r) => r.stdout + r.stderr).join('\n');
    expect(printed).toContain('Entity does not exist');
    expect(printed).toContain('bad file');
    expect(printed).toContain('shop.example');
    expect(printed).toContain('Metrica name');
    expect(printed).toContain('goal name');
    expect(printed).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(printed).not.toContain('pwned');
    // --json stays one valid document, escapes and all
    const json = await world.run(['stats', '--json']);
    expect(JSON.parse(json.stdout).counters[0].name).toBe(`shop${ESC}.example`);
  });
});

describe("calls' own text (issue 13: stored as CallKeeper gave it, cleaned wherever it is printed)", () => {
  it('a tag and a page with escape sequences: no control character reaches the terminal, --json included; the CSV keeps the real value', async () => {
    const ESC = '\u001b]0;pwned\u0007\u001b[2K\r\u009b2J\u202e\u007f';
    const calls = CALLS.map((c) => ({ ...c, tags: [`Ди${ESC}рект`], callPage: `https://shop.example/p${ESC}` }));
    world = await makeReliabilityWorld({ calls, counters: seedsFor(counters), nowIso: NOW, config: { ...FAST, counters } });
    worlds++;
    const outputs = [
      await world.run(['sync', '--dry-run']), // the CSV as text
      await world.run(['sync', '--dry-run', '--json']), // the CSV inside the document
      await world.run(['sync', '--json']),
      await world.run(['sync']),
      await world.run(['stats']),
      await world.run(['stats', '--json']),
      await world.run(['doctor', '--json']),
    ];
    expect(outputs.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0, expect.any(Number)]);
    const printed = outputs.map((r) => r.stdout + r.stderr).join('\n');
    expect(printed).toContain('Ди2Jрект'); // (the CSI's parameters stay as text: harmless without their ESC)
    // C0 controls, DEL, C1 controls (U+009B is a CSI of its own) and the bidirectional overrides: never raw
    expect(printed).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    // the human outputs hold not even the sequences' text; a document holds it escaped (\u001b]0;pwned\u0007), inert
    expect([0, 3, 4].map((i) => outputs[i]!.stdout + outputs[i]!.stderr).join('\n')).not.toContain('pwned');
    // … while the document still holds the real value (JSON's \u escapes), as the CSV sent to Metrica does
    const csv = (JSON.parse(outputs[1]!.stdout).batches as { csv: string }[]).map((b) => b.csv).join('\n');
    expect(csv).toContain(`Ди${ESC}рект`);
    const sentTags = world.metrika.uploads.filter((u) => u.kind === 'calls').flatMap((u) => u.rows.map((r) => r.Tag));
    expect(sentTags.length).toBeGreaterThan(0);
    expect(new Set(sentTags)).toEqual(new Set([`Ди${ESC}рект`]));
  });
});

describe('the OAuth loopback callback', () => {
  it('listens on 127.0.0.1 only, turns away every callback but the one with its state, then closes', async () => {
    const port = await loginWorld();
    const { done, stderr } = world.start(['login', '--callkeeper-key', API_KEY, '--no-browser'], NO_ENV_CREDS);
    const link = await printedLink(stderr);
    const state = link.searchParams.get('state')!;
    expect(state).toMatch(/^[A-Za-z0-9_-]{32,}$/);

    const sockets = listeners(port);
    if (sockets) expect(sockets).toEqual(['0100007F']); // 127.0.0.1, and nothing on ::, 0.0.0.0 or another address
    const outside = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (outside) expect(await refused(outside.address, port)).toBe(true);
    expect(await refused('::1', port)).toBe(true);

    const answers = {
      wrongState: await callback(port, 'code=stolen&state=not-the-state'),
      noState: await callback(port, 'code=stolen'),
      deniedWithWrongState: await callback(port, 'error=access_denied&state=forged'),
      post: await callback(port, `code=x&state=${state}`, 'POST'),
      otherPath: await fetch(`http://127.0.0.1:${port}/?code=x&state=${state}`),
    };
    expect(Object.fromEntries(Object.entries(answers).map(([k, r]) => [k, r.status]))).toEqual({
      wrongState: 400,
      noState: 400,
      deniedWithWrongState: 400,
      post: 404,
      otherPath: 404,
    });
    for (const r of Object.values(answers)) expect(r.headers.get('cache-control')).toBe('no-store');
    expect(world.oauth!.issued).toEqual([]); // none of them got as far as a token request

    // the real one: authorize → redirect with the code → ckym's page
    const consent = await fetch(link, { redirect: 'manual' });
    const location = new URL(consent.headers.get('location')!);
    location.hostname = '127.0.0.1';
    const page = await fetch(location);
    expect(page.status).toBe(200);
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    // one shot: the port is closed, a replay of the same callback finds nobody
    expect(await refused('127.0.0.1', port)).toBe(true);
    if (sockets) expect(listeners(port)).toEqual([]);
  });

  it('gives up after --timeout (exit 3) and closes the port', async () => {
    const port = await loginWorld();
    const r = await world.run(['login', '--callkeeper-key', API_KEY, '--no-browser', '--timeout', '1'], NO_ENV_CREDS);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no answer from the browser within 1 s; run "ckym login" again/);
    expect(await refused('127.0.0.1', port)).toBe(true);
    expect(fs.existsSync(path.join(world.env.CKYM_HOME!, 'credentials.json'))).toBe(false);
  });

  it('escapes everything it echoes: a hostile login on the success page, a hostile error on the failure page', async () => {
    const hostile = `<script>alert("login")</script>&'`;
    const port = await loginWorld({ login: hostile });
    const first = world.start(['login', '--callkeeper-key', API_KEY, '--no-browser'], NO_ENV_CREDS);
    const link = await printedLink(first.stderr);
    const consent = await fetch(link, { redirect: 'manual' });
    const location = new URL(consent.headers.get('location')!);
    location.hostname = '127.0.0.1';
    const success = await (await fetch(location)).text();
    expect(success).not.toContain('<script>');
    expect(success).toContain('Signed in as &#60;script&#62;alert(&#34;login&#34;)&#60;/script&#62;&#38;&#39;.');
    expect((await first.done).code).toBe(0);

    const second = world.start(['login', '--callkeeper-key', API_KEY, '--no-browser'], NO_ENV_CREDS);
    const state = (await printedLink(second.stderr)).searchParams.get('state')!;
    const evil = new URLSearchParams({ state, error: '<b>server_error</b>', error_description: '<img src=x onerror=alert(1)>' });
    const failure = await fetch(`http://127.0.0.1:${port}/callback?${evil}`);
    const html = await failure.text();
    expect(html).not.toMatch(/<img|<b>/);
    expect(html).toContain('Yandex answered: &#60;b&#62;server_error&#60;/b&#62; — &#60;img src=x onerror=alert(1)&#62;.');
    const r = await second.done;
    expect(r.code).toBe(3);
  });
});

describe('PKCE and the client secret', () => {
  it('the verifier only ever travels in the one /token request; the client secret only to /token; neither is stored or printed', async () => {
    const port = await loginWorld({ secret: true });
    const { done, stderr } = world.start(['login', '--callkeeper-key', API_KEY, '--no-browser'], {
      ...NO_ENV_CREDS,
      CKYM_YANDEX_CLIENT_SECRET: CLIENT_SECRET,
    });
    const link = await printedLink(stderr);
    const challenge = link.searchParams.get('code_challenge')!;
    const consent = await fetch(link, { redirect: 'manual' });
    const location = new URL(consent.headers.get('location')!);
    location.hostname = '127.0.0.1';
    expect(location.port).toBe(String(port));
    expect((await fetch(location)).status).toBe(200);
    expect((await done).code).toBe(0);

    const token = oauthProxy!.requests.filter((r) => r.path === '/token');
    expect(token).toHaveLength(1);
    const form = new URLSearchParams(token[0]!.captured!.body);
    const verifier = form.get('code_verifier')!;
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(challenge);
    expect(form.get('client_secret')).toBe(CLIENT_SECRET);
    world.secrets.add(verifier); // scanned for in every output and file when the world closes

    // every other byte sent anywhere: authorize link, login-info, CallKeeper, Metrica
    const elsewhere = [
      link.toString(),
      ...oauthProxy!.requests.filter((r) => r !== token[0]).map((r) => `${r.captured?.query} ${r.captured?.body}`),
      ...world.ck.requests.map((r) => `${r.captured?.body}`),
      ...world.mk.requests.map((r) => `${r.captured?.query} ${r.captured?.body}`),
    ].join('\n');
    expect(elsewhere).not.toContain(verifier);
    expect(elsewhere).not.toContain(CLIENT_SECRET);
    const stored = fs.readFileSync(path.join(world.env.CKYM_HOME!, 'credentials.json'), 'utf8');
    expect(stored).not.toContain(verifier);
    expect(stored).toContain(CLIENT_SECRET); // kept with the credentials (0600), as the contract says

    // and a sync with these stored credentials prints none of it
    const sync = await world.run(['sync'], NO_ENV_CREDS);
    expect(sync.code, sync.stderr).toBe(0);
  });
});
