/**
 * `ckym login` end to end against the CallKeeper, Metrica and Yandex OAuth emulators: every flow,
 * PKCE checked by the emulator, the state check, consent denied, the device flow, token refresh by sync.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { API_KEY, ROOT, TOKEN, freePort, makeWorld, until, type World } from '../support/harness.js';
import { canMountTmpfs, runVia } from '../support/reliability.js';
import { SEEDS } from '../support/seeds.js';

const CLIENT_ID = 'ckym-test-client-id-0001';
const NOW = '2024-05-20T09:00:00Z';
/** Runs use the stored credentials, not the environment's. */
const NO_ENV_CREDS = { CKYM_CALLKEEPER_KEY: '', CKYM_YANDEX_TOKEN: '' };


let world: World;

async function loginWorld(options: { consent?: 'allow' | 'deny'; secret?: string; expiresIn?: number } = {}): Promise<World> {
  const port = await freePort();
  world = await makeWorld({
    calls: [],
    counters: SEEDS,
    nowIso: NOW,
    config: { yandex: { clientId: CLIENT_ID, redirectPort: port }, counters: [{ id: 11111111 }] },
    oauth: {
      clients: [{ clientId: CLIENT_ID, clientSecret: options.secret ?? null }],
      user: { login: 'marketer.ivanova', id: '42' },
      issueAccessToken: () => TOKEN,
      consent: options.consent ?? 'allow',
      deviceInterval: 0, // the test clock stands still (CKYM_NOW), so any interval would answer slow_down
      knownTokens: [{ accessToken: TOKEN, clientId: CLIENT_ID }],
      ...(options.expiresIn ? { expiresIn: options.expiresIn } : {}),
    },
  });
  return world;
}

afterEach(() => world?.close());

const credentialsFile = () => path.join(world.home, 'state', 'credentials.json');
const stored = () => JSON.parse(fs.readFileSync(credentialsFile(), 'utf8'));

/** The authorize link ckym printed on stderr. */
async function printedLink(output: () => string): Promise<string> {
  await until(() => /https?:\/\/\S+\/authorize\?\S+/.test(output()));
  return /(https?:\/\/\S+\/authorize\?\S+)/.exec(output())![1]!;
}

describe('ckym login', () => {
  it('--callkeeper-key and --yandex-token: both validated, stored 0600, the Yandex login shown', async () => {
    await loginWorld();
    const result = await world.run(['login', '--callkeeper-key', API_KEY, '--yandex-token', TOKEN], NO_ENV_CREDS);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('connected: CallKeeper key k3y9…t7, Yandex account marketer.ivanova\n');
    expect(fs.statSync(credentialsFile()).mode & 0o777).toBe(0o600);
    expect(stored()).toEqual({ version: 1, callkeeper: { key: API_KEY }, yandex: { accessToken: TOKEN, login: 'marketer.ivanova' } });
    expect(result.stdout + result.stderr).not.toContain(API_KEY);
  });

  it('a CallKeeper key that is not recognised: exit 3, nothing stored', async () => {
    await loginWorld();
    const result = await world.run(['login', '--callkeeper-key', 'notthekey0000000', '--yandex-token', TOKEN], NO_ENV_CREDS);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/CallKeeper did not recognise the API key/);
    expect(fs.existsSync(credentialsFile())).toBe(false);
  });

  it('without a terminal and without --callkeeper-key: exit 2 naming the flag', async () => {
    await loginWorld();
    const result = await world.run(['login', '--yandex-token', TOKEN], NO_ENV_CREDS);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/pass --callkeeper-key KEY/);
  });

  it('no yandex.clientId: exit 2 at once, naming the key and the README section (which exists); nothing asked or stored', async () => {
    await loginWorld();
    world.writeConfig({ counters: [{ id: 11111111 }] });
    const started = Date.now();
    const result = await world.run(['login', '--callkeeper-key', API_KEY, '--no-browser'], NO_ENV_CREDS);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `ckym: yandex.clientId is not set in ${world.configPath}: register a Yandex OAuth app (README, "Register a Yandex OAuth app") and put its ClientID there (on a terminal "ckym login" asks for it), or pass --yandex-token\n`,
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(world.callkeeper.requests).toHaveLength(0); // not even the key was checked
    expect(fs.existsSync(credentialsFile())).toBe(false);
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/^#+ .*Register a Yandex OAuth app/m);
  });

  it("the example config's placeholder clientId: exit 2 at once instead of opening a sign-in that cannot work", async () => {
    await loginWorld();
    const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'ckym.config.example.json'), 'utf8'));
    world.writeConfig({ yandex: example.yandex });
    const started = Date.now();
    const result = await world.run(['login', '--callkeeper-key', API_KEY, '--no-browser'], NO_ENV_CREDS);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^ckym: yandex\.clientId in .* is the example's placeholder "paste-your-yandex-oauth-app-client-id": register a Yandex OAuth app/);
    expect(result.stderr).not.toMatch(/authorize/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('browser flow (--no-browser): PKCE code flow through the loopback callback; wrong state is rejected first', async () => {
    await loginWorld();
    const { done, stderr } = world.start(['login', '--callkeeper-key', API_KEY, '--no-browser'], NO_ENV_CREDS);
    const link = await printedLink(stderr);
    const authorize = new URL(link);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const redirectUri = authorize.searchParams.get('redirect_uri')!;
    expect(redirectUri).toMatch(/^http:\/\/localhost:\d+\/callback$/);

    // a callback with another state is refused, and the login keeps waiting
    const forged = await fetch(redirectUri.replace('localhost', '127.0.0.1') + '?code=stolen&state=not-the-state');
    expect(forged.status).toBe(400);
    expect(await forged.text()).toMatch(/does not belong to the waiting login/);

    // the browser: authorize → 302 to the loopback callback → ckym's success page
    const consent = await fetch(link, { redirect: 'manual' });
    expect(consent.status).toBe(302);
    const callback = consent.headers.get('location')!;
    expect(callback.startsWith(redirectUri)).toBe(true);
    const page = await fetch(callback.replace('localhost', '127.0.0.1'));
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/ckym is connected to Yandex Metrica[\s\S]*Signed in as marketer\.ivanova/);

    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/connected: CallKeeper key k3y9…t7, Yandex account marketer\.ivanova; the token is valid until \d{4}-\d{2}-\d{2}/);
    expect(stored().yandex).toMatchObject({ accessToken: TOKEN, login: 'marketer.ivanova', refreshToken: expect.any(String), expiresAt: expect.any(Number) });
    expect(world.oauth!.issued.map((i) => i.grant)).toEqual(['authorization_code']);
    // the loopback server is closed after the one accepted callback
    await expect(fetch(redirectUri.replace('localhost', '127.0.0.1'))).rejects.toThrow();
  });

  it('consent declined in the browser: exit 3, the page says so, nothing stored', async () => {
    await loginWorld({ consent: 'deny' });
    const { done, stderr } = world.start(['login', '--callkeeper-key', API_KEY, '--no-browser'], NO_ENV_CREDS);
    const link = await printedLink(stderr);
    const redirect = await fetch(link, { redirect: 'manual' });
    const page = await fetch(redirect.headers.get('location')!.replace('localhost', '127.0.0.1'));
    expect(await page.text()).toMatch(/You declined to give ckym access/);
    const result = await done;
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/declined in the browser; nothing was saved/);
    expect(fs.existsSync(credentialsFile())).toBe(false);
  });

  it('device flow: authorization_pending until the user approves on another device', async () => {
    await loginWorld();
    const { done, stdout } = world.start(['login', '--callkeeper-key', API_KEY, '--device'], NO_ENV_CREDS);
    await until(() => /enter the code: \S+/.test(stdout()));
    const userCode = /enter the code: (\S+)/.exec(stdout())![1]!;
    await new Promise((r) => setTimeout(r, 2500)); // at least one poll answered authorization_pending
    expect(world.oauth!.requests.some((r) => r.grantType === 'device_code' && r.status === 400)).toBe(true);
    world.oauth!.approveDevice(userCode);
    const result = await done;
    expect(result.code).toBe(0);
    expect(stored().yandex.login).toBe('marketer.ivanova');
  });

  it('--code: the verification code pasted on stdin', async () => {
    await loginWorld({ secret: 'app-secret-value-01' });
    const { child, done, stderr } = world.start(
      ['login', '--callkeeper-key', API_KEY, '--code', '--no-browser'],
      { ...NO_ENV_CREDS, CKYM_YANDEX_CLIENT_SECRET: 'app-secret-value-01' },
      { keepStdin: true },
    );
    const link = await printedLink(stderr);
    expect(new URL(link).searchParams.get('redirect_uri')).toBe('https://oauth.yandex.ru/verification_code');
    const shown = await fetch(link);
    expect(shown.status).toBe(200);
    const code = world.oauth!.lastVerificationCode!;
    child.stdin!.write(`${code}\n`);
    const result = await done;
    expect(result.code).toBe(0);
    expect(stored().yandex).toMatchObject({ login: 'marketer.ivanova', clientSecret: 'app-secret-value-01' });
    expect(result.stdout + result.stderr).not.toContain('app-secret-value-01');
  });

  it('sync refreshes a stored token with under 30 days left, and stores the new tokens', async () => {
    await loginWorld({ expiresIn: 40 * 86_400 });
    const { done, stderr } = world.start(['login', '--callkeeper-key', API_KEY, '--no-browser'], NO_ENV_CREDS);
    const link = await printedLink(stderr);
    const redirect = await fetch(link, { redirect: 'manual' });
    await fetch(redirect.headers.get('location')!.replace('localhost', '127.0.0.1'));
    expect((await done).code).toBe(0);
    const before = stored().yandex;

    // 20 days later: 20 days left → refreshed before the sync uses it
    const later = new Date(Date.parse(NOW) + 20 * 86_400_000).toISOString();
    const sync = await world.run(['sync'], { ...NO_ENV_CREDS, CKYM_NOW: later });
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    expect(world.oauth!.issued.map((i) => i.grant)).toEqual(['authorization_code', 'refresh_token']);
    const after = stored().yandex;
    expect(after.refreshToken).not.toBe(before.refreshToken);
    expect(after.expiresAt).toBeGreaterThan(before.expiresAt);
    expect(after.login).toBe('marketer.ivanova');
  });

  it('logout forgets the stored credentials; then sync says to run ckym login (exit 3)', async () => {
    await loginWorld();
    await world.run(['login', '--callkeeper-key', API_KEY, '--yandex-token', TOKEN], NO_ENV_CREDS);
    const out = await world.run(['logout'], NO_ENV_CREDS);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/forgot the stored credentials/);
    expect(fs.existsSync(credentialsFile())).toBe(false);
    const sync = await world.run(['sync'], NO_ENV_CREDS);
    expect(sync.code).toBe(3);
    expect(sync.stderr).toMatch(/run "ckym login"/);
  });

  it('the value - reads the key and the token from standard input: never in the command line ps shows', async () => {
    await loginWorld();
    const { child, done } = world.start(['login', '--callkeeper-key', '-', '--yandex-token', '-'], NO_ENV_CREDS, { keepStdin: true });
    // while it waits for them, the command line other users can read holds neither
    const cmdline = fs.existsSync(`/proc/${child.pid}/cmdline`) ? fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8') : null;
    if (cmdline !== null) {
      expect(cmdline.split('\0')).toContain('--callkeeper-key');
      expect(cmdline).not.toContain(API_KEY);
      expect(cmdline).not.toContain(TOKEN);
    }
    child.stdin!.end(`${API_KEY}\n${TOKEN}\n`);
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('connected: CallKeeper key k3y9…t7, Yandex account marketer.ivanova\n');
    expect(stored()).toEqual({ version: 1, callkeeper: { key: API_KEY }, yandex: { accessToken: TOKEN, login: 'marketer.ivanova' } });
  });

  it('the value - with nothing on standard input: exit 2 naming the flag; nothing stored', async () => {
    await loginWorld();
    const result = await world.run(['login', '--callkeeper-key', '-', '--yandex-token', TOKEN], NO_ENV_CREDS);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('ckym: --callkeeper-key -: no CallKeeper API key on standard input (give it as one line, e.g. ckym login --callkeeper-key - < file)\n');
    expect(fs.existsSync(credentialsFile())).toBe(false);
  });

  it('--help says a flag is visible in ps, and how to keep it out', async () => {
    await loginWorld();
    const help = await world.run(['login', '--help']);
    expect(help.stdout).toMatch(/A flag's value is visible to every user of this machine \(in ps\)/);
    expect(help.stdout).toMatch(/--callkeeper-key - --yandex-token -/);
  });
});

describe('ckym login and logout when the home cannot be written', () => {
  const readOnly = (dir: string): (() => void) | null => {
    if (process.getuid?.() !== 0) {
      fs.chmodSync(dir, 0o555);
      return () => fs.chmodSync(dir, 0o700);
    }
    try {
      execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
      return () => execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
    } catch {
      return null;
    }
  };

  it('a read-only home: login and logout say so in one line (exit 1), no stack, nothing half-written', async () => {
    await loginWorld();
    const home = path.join(world.home, 'state');
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    const undo = readOnly(home);
    if (!undo) return; // (neither chmod nor chattr can make it read-only here)
    try {
      const login = await world.run(['login', '--callkeeper-key', API_KEY, '--yandex-token', TOKEN], NO_ENV_CREDS);
      expect(login.code).toBe(1);
      // (the two checks that passed, then one line; no stack)
      expect(login.stderr).toMatch(/\nckym: cannot save the credentials to \S+credentials\.json: (permission denied|the operation is not permitted)[^\n]*; nothing was saved\n$/);
      expect(login.stderr).not.toMatch(/internal error|\n\s+at /);
      expect(fs.readdirSync(home)).toEqual([]);
    } finally {
      undo();
    }
    expect((await world.run(['login', '--callkeeper-key', API_KEY, '--yandex-token', TOKEN], NO_ENV_CREDS)).code).toBe(0);
    const again = readOnly(home)!;
    try {
      const logout = await world.run(['logout'], NO_ENV_CREDS);
      expect(logout.code).toBe(1);
      expect(logout.stderr).toMatch(/^ckym: cannot remove \S+credentials\.json: [^\n]+; the credentials are still stored\n$/);
    } finally {
      again();
    }
    expect(fs.existsSync(credentialsFile())).toBe(true);
  });

  it.runIf(canMountTmpfs())('a full disk during login: one line (exit 1), no credentials.json.PID.tmp left behind', async () => {
    await loginWorld();
    const home = path.join(world.home, 'state');
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    // a 4 KiB tmpfs over the home, filled up: the credentials' write fails with ENOSPC, in a private mount namespace
    const script = [
      'set -e',
      'home="$1"; shift',
      'mount -t tmpfs -o size=4k,mode=0700 tmpfs "$home"',
      'head -c 4096 /dev/zero > "$home/fill" || true',
      'set +e',
      '"$@"; rc=$?',
      'echo "left: $(ls -A "$home" | tr "\n" " ")"',
      'exit $rc',
    ].join('\n');
    const r = await runVia(world, ['unshare', '-m', 'bash', '-c', script, 'ckym-full-disk', home], ['login', '--callkeeper-key', API_KEY, '--yandex-token', TOKEN], NO_ENV_CREDS);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\nckym: cannot save the credentials to \S+credentials\.json: the disk is full; free some space and try again \(ENOSPC\); nothing was saved\n$/);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(r.stdout).toMatch(/^left: fill $/m);
  });
});
