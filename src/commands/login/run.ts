import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { canPrompt, safePrompt, type IO, type Printer } from '../../cli/io.js';
import type { GlobalOptions } from '../../cli/setup.js';
import { ConfigError, OAuthError } from '../../errors.js';
import { CredentialStore, type StoredCredentials } from '../../credentials.js';
import { mask, registerSecret } from '../../redact.js';
import { CallKeeperClient } from '../../clients/callkeeper.js';
import { retryPolicy, sleep } from '../../clients/retry.js';
import { VERIFICATION_CODE_URI, YandexOAuthClient, type TokenSet } from '../../clients/oauth.js';
import { makePkce, makeState } from '../../auth/pkce.js';
import { startLoopback } from '../../auth/loopback.js';
import { commandBase, type CommandBase } from '../shared.js';
import { openEditable, saveEditable } from '../../config/write.js';
import type { LoginFlags } from './flags.js';

/** `ckym login`: CallKeeper key first (validated), then the Yandex account; nothing is stored unless both work. */
export async function runLogin(given: LoginFlags, globals: GlobalOptions, io: IO): Promise<number> {
  const base = await commandBase(globals, io);
  const { printer } = base;
  const timeoutMs = parseTimeout(given.timeout);
  // `-` reads a secret from standard input (a flag's value is visible to every user in `ps`), before anything else.
  const lines = stdinLines(io);
  const flags: LoginFlags = {
    ...given,
    ...(given.callkeeperKey === '-' ? { callkeeperKey: await secretFromStdin('--callkeeper-key', 'CallKeeper API key', io, lines) } : {}),
    ...(given.yandexToken === '-' ? { yandexToken: await secretFromStdin('--yandex-token', 'Yandex OAuth token', io, lines) } : {}),
  };
  if ([flags.device, flags.code, flags.yandexToken !== undefined].filter(Boolean).length > 1) {
    throw new ConfigError('choose one way to connect Yandex: --device, --code or --yandex-token');
  }
  // Without a usable Yandex app there is nothing to sign in to: ask for it on a terminal, else say so at once.
  const app = flags.yandexToken === undefined ? await yandexApp(base) : { clientId: base.loaded.config.yandex.clientId.trim(), asked: false };
  const store = new CredentialStore(base.home.credentials);
  const stored = store.read();

  const key = await callkeeperKey(flags, stored, base);
  const yandex = await yandexAccount(flags, stored, base, timeoutMs, app.clientId, lines);

  // Nothing is written before every question was answered and both accounts worked.
  if (app.asked) {
    const editable = openEditable(base.loaded.filepath, globals.config, io.cwd);
    const section = editable.root.yandex;
    editable.root.yandex = { ...(section && typeof section === 'object' ? section : {}), clientId: app.clientId };
    saveEditable(editable);
    printer.info(`saved yandex.clientId in ${editable.file}`);
  }

  store.write({
    ...stored,
    version: 1,
    callkeeper: { key },
    yandex: {
      accessToken: yandex.tokens.accessToken,
      ...(yandex.tokens.refreshToken ? { refreshToken: yandex.tokens.refreshToken } : {}),
      ...(yandex.tokens.expiresAt ? { expiresAt: yandex.tokens.expiresAt } : {}),
      login: yandex.login,
      ...(yandex.clientSecret ? { clientSecret: yandex.clientSecret } : {}),
    },
  });
  const until = yandex.tokens.expiresAt ? `; the token is valid until ${new Date(yandex.tokens.expiresAt).toISOString().slice(0, 10)}` : '';
  printer.out(`connected: CallKeeper key ${mask(key)}, Yandex account ${yandex.login}${until}`);
  printer.info(`credentials saved to ${store.file} (mode 0600). Next: "ckym counters add".`);
  return 0;
}

/** What ckym.config.example.json and the README put in yandex.clientId before the user has an app. */
export function isPlaceholderClientId(clientId: string): boolean {
  return /paste|your|client[-_ ]?id\b.*here|^<.*>$|^x{3,}$|…|\.\.\.|\s/i.test(clientId);
}

/**
 * The Yandex OAuth app's ClientID: `yandex.clientId`, or asked on a terminal (and saved once the login works).
 * Not set without a terminal, or the example's placeholder: exit 2 at once, naming the key and where to read how.
 */
async function yandexApp(base: CommandBase): Promise<{ clientId: string; asked: boolean }> {
  const clientId = base.loaded.config.yandex.clientId.trim();
  const where = base.loaded.filepath ? `in ${base.loaded.filepath}` : '(no config file found)';
  const how = `register a Yandex OAuth app (README, "Register a Yandex OAuth app") and put its ClientID there`;
  if (clientId && isPlaceholderClientId(clientId)) {
    throw new ConfigError(`yandex.clientId ${where} is the example's placeholder ${JSON.stringify(clientId)}: ${how}, or pass --yandex-token`);
  }
  if (clientId) return { clientId, asked: false };
  if (!canPrompt(base.io)) {
    throw new ConfigError(`yandex.clientId is not set ${where}: ${how} (on a terminal "ckym login" asks for it), or pass --yandex-token`);
  }
  const { input } = await import('@inquirer/prompts');
  base.printer.info(`ckym signs in to Yandex through your own Yandex OAuth app (README, "Register a Yandex OAuth app").`);
  const answer = await input(
    safePrompt({
      message: 'ClientID of your Yandex OAuth app',
      required: true,
      validate: (text: string) => (isPlaceholderClientId(text.trim()) ? 'the ClientID from the app\'s page on oauth.yandex.ru' : true),
    }),
    { input: base.io.stdin, output: base.io.stderr },
  );
  return { clientId: answer.trim(), asked: true };
}

function parseTimeout(text: string | number | undefined): number {
  const seconds = Number(text ?? 300);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new ConfigError(`--timeout: expected seconds (e.g. 300); got ${JSON.stringify(text)}`);
  return seconds * 1000;
}

/** The key from the flag, a prompt, or the one already stored; proven with a cheap CallKeeper request. */
async function callkeeperKey(flags: LoginFlags, stored: StoredCredentials, base: CommandBase): Promise<string> {
  const { io, printer } = base;
  let key = flags.callkeeperKey?.trim() ?? '';
  if (!key && canPrompt(io)) {
    const { password } = await import('@inquirer/prompts');
    const keep = stored.callkeeper?.key;
    key = (
      await password(
        safePrompt({ message: keep ? `CallKeeper API key (Enter keeps ${mask(keep)})` : 'CallKeeper API key (cabinet → Integrations → API)', mask: '*' }),
        { input: io.stdin, output: io.stderr },
      )
    ).trim();
    if (!key && keep) key = keep;
  }
  if (!key) key = stored.callkeeper?.key ?? '';
  if (!key) {
    throw new ConfigError('no CallKeeper API key: pass --callkeeper-key KEY (there is no terminal to ask on)');
  }
  registerSecret(key);
  const { config } = base.loaded;
  const client = new CallKeeperClient({
    baseUrl: base.urls.callkeeper,
    apiKey: key,
    method: config.callkeeper.method,
    policy: { ...retryPolicy(config.network), retries: Math.min(config.network.retries, 2) },
  });
  printer.status('checking the CallKeeper key…');
  await client.verifyKey(Math.floor(base.clock.now() / 1000));
  printer.info(`✓ CallKeeper key ${mask(key)} works`);
  return key;
}

interface YandexAccount {
  tokens: TokenSet;
  login: string;
  clientSecret: string | undefined;
}

async function yandexAccount(
  flags: LoginFlags,
  stored: StoredCredentials,
  base: CommandBase,
  timeoutMs: number,
  clientId: string,
  lines: LineReader,
): Promise<YandexAccount> {
  const { printer, loaded } = base;
  const clientSecret = await secret(stored, base, Boolean(flags.yandexToken));
  const oauth = new YandexOAuthClient({
    oauthUrl: base.urls.oauth,
    loginUrl: base.urls.login,
    clientId,
    clientSecret,
    timeoutMs: loaded.config.network.timeoutSeconds * 1000,
    now: () => base.clock.now(),
  });

  if (flags.yandexToken !== undefined) {
    const token = flags.yandexToken.trim();
    if (!token) throw new ConfigError('--yandex-token: the token is empty');
    registerSecret(token);
    const who = await oauth.loginInfo(token);
    printer.info(`✓ Yandex token belongs to ${who.login}`);
    return { tokens: { accessToken: token }, login: who.login, clientSecret };
  }
  const tokens = flags.device
    ? await deviceFlow(oauth, printer, timeoutMs, base)
    : flags.code
      ? await pasteFlow(oauth, flags, base, lines)
      : await browserFlow(oauth, flags, base, timeoutMs);
  registerSecret(tokens.accessToken);
  registerSecret(tokens.refreshToken);
  const who = await oauth.loginInfo(tokens.accessToken);
  printer.info(`✓ Yandex account ${who.login} connected`);
  return { tokens, login: who.login, clientSecret };
}

/** `CKYM_YANDEX_CLIENT_SECRET`, else the stored one, else asked on a terminal (empty = a public PKCE client). */
async function secret(stored: StoredCredentials, base: CommandBase, tokenGiven: boolean): Promise<string | undefined> {
  const fromEnv = base.env.yandexClientSecret;
  if (fromEnv) {
    registerSecret(fromEnv);
    return fromEnv;
  }
  if (stored.yandex?.clientSecret) return stored.yandex.clientSecret;
  if (tokenGiven || !canPrompt(base.io)) return undefined;
  const { password } = await import('@inquirer/prompts');
  const answer = (
    await password(
      safePrompt({ message: 'Client secret of your Yandex OAuth app (Enter if it has none)', mask: '*' }),
      { input: base.io.stdin, output: base.io.stderr },
    )
  ).trim();
  registerSecret(answer);
  return answer || undefined;
}

/** Authorization code + PKCE through a loopback redirect on 127.0.0.1. */
async function browserFlow(oauth: YandexOAuthClient, flags: LoginFlags, base: CommandBase, timeoutMs: number): Promise<TokenSet> {
  const { printer } = base;
  const pkce = makePkce();
  const state = makeState();
  let tokens: TokenSet | null = null;
  const loopback = await startLoopback({
    port: base.loaded.config.yandex.redirectPort,
    state,
    timeoutMs,
    complete: async (code) => {
      tokens = await oauth.exchangeCode(code, pkce.verifier, loopback.redirectUri);
      registerSecret(tokens.accessToken);
      return oauth.loginInfo(tokens.accessToken);
    },
  });
  const url = oauth.authorizeUrl({ redirectUri: loopback.redirectUri, state, codeChallenge: pkce.challenge });
  if (flags.browser === false) {
    printer.info(`Open this link in a browser to sign in to Yandex:\n  ${url}`);
  } else {
    printer.info(`Opening the browser to sign in to Yandex. If it does not open, visit:\n  ${url}`);
    try {
      const open = (await import('open')).default;
      await open(url);
    } catch {
      printer.warn('could not open a browser; open the link above yourself');
    }
  }
  printer.info(`Waiting for the sign-in (up to ${Math.round(timeoutMs / 1000)} s)…`);
  await loopback.result;
  return tokens!;
}

/** The documented console flow: Yandex shows a code, the user pastes it here. */
async function pasteFlow(oauth: YandexOAuthClient, flags: LoginFlags, base: CommandBase, lines: LineReader): Promise<TokenSet> {
  const { printer, io } = base;
  const pkce = makePkce();
  const url = oauth.authorizeUrl({ redirectUri: VERIFICATION_CODE_URI, state: makeState(), codeChallenge: pkce.challenge });
  printer.info(`Open this link, allow access, and copy the code Yandex shows:\n  ${url}`);
  if (flags.browser !== false && canPrompt(io)) {
    try {
      const open = (await import('open')).default;
      await open(url);
    } catch {
      // the link is printed
    }
  }
  let code: string;
  if (canPrompt(io)) {
    const { input } = await import('@inquirer/prompts');
    code = await input(safePrompt({ message: 'Verification code', required: true }), { input: io.stdin, output: io.stderr });
  } else {
    printer.info('Verification code (one line on standard input):');
    code = (await lines.next()) ?? '';
  }
  code = code.trim();
  if (!code) throw new ConfigError('no verification code was given; run "ckym login --code" again');
  try {
    return await oauth.exchangeCode(code, pkce.verifier, VERIFICATION_CODE_URI);
  } catch (error) {
    if (error instanceof OAuthError && (error.code === 'bad_verification_code' || error.code === 'invalid_grant')) {
      throw new OAuthError(error.code, 'the code is wrong or was already used; run "ckym login --code" again', error.status);
    }
    throw error;
  }
}

/** The device flow: a short code typed on another device; polls /token at the interval Yandex asks for. */
async function deviceFlow(oauth: YandexOAuthClient, printer: Printer, timeoutMs: number, base: CommandBase): Promise<TokenSet> {
  const device = await oauth.requestDeviceCode(`ckym on ${hostname()}`);
  printer.out(`On any device, open ${device.verificationUrl} and enter the code: ${device.userCode}`);
  let interval = Math.max(1, device.intervalSeconds) * 1000;
  const deadline = Date.now() + Math.min(timeoutMs, device.expiresInSeconds * 1000);
  printer.info('Waiting for you to allow access…');
  for (;;) {
    await sleep(interval);
    try {
      return await oauth.pollDeviceToken(device.deviceCode);
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      if (error.code === 'authorization_pending') {
        // keep polling
      } else if (error.code === 'slow_down') {
        interval += 5000;
      } else if (error.code === 'access_denied') {
        throw new OAuthError(error.code, 'access was declined on the other device; nothing was saved', error.status);
      } else if (error.code === 'expired_token') {
        throw new OAuthError(error.code, 'the code expired; run "ckym login --device" again', error.status);
      } else {
        throw error;
      }
    }
    if (Date.now() + interval > deadline) {
      throw new OAuthError('expired_token', `no approval within ${Math.round(timeoutMs / 1000)} s; run "ckym login --device" again`, 400);
    }
    base.printer.status(`waiting for approval of code ${device.userCode}…`);
  }
}

/** Lines of standard input, read through one reader (two readers in turn could lose what the first one buffered). */
interface LineReader {
  /** The next line, or null at the end of the input. */
  next(): Promise<string | null>;
}

function stdinLines(io: IO): LineReader {
  let rl: ReturnType<typeof createInterface> | null = null;
  const queued: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let ended = false;
  const start = () => {
    if (rl) return;
    rl = createInterface({ input: io.stdin, terminal: false });
    rl.on('line', (line) => {
      const w = waiting.shift();
      if (w) w(line);
      else queued.push(line);
    });
    rl.once('close', () => {
      ended = true;
      for (const w of waiting.splice(0)) w(null);
    });
  };
  return {
    next() {
      start();
      if (queued.length > 0) return Promise.resolve(queued.shift()!);
      if (ended) return Promise.resolve(null);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/**
 * `--callkeeper-key -` / `--yandex-token -`: the secret from a prompt without echo on a terminal, else one line of
 * standard input (both `-`: the key's line first, then the token's).
 */
async function secretFromStdin(flag: string, what: string, io: IO, lines: LineReader): Promise<string> {
  let value: string;
  if (canPrompt(io)) {
    const { password } = await import('@inquirer/prompts');
    value = await password(safePrompt({ message: what, mask: false }), { input: io.stdin, output: io.stderr });
  } else {
    value = (await lines.next()) ?? '';
  }
  value = value.trim();
  if (!value) throw new ConfigError(`${flag} -: no ${what} on standard input (give it as one line, e.g. ckym login ${flag} - < file)`);
  registerSecret(value);
  return value;
}
