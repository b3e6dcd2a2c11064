import { clockFromEnv, type Clock } from '../clock.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { CredentialStore, resolveCredentials, type ResolvedCredentials } from '../credentials.js';
import { freshYandexToken } from '../auth/token.js';
import { YandexOAuthClient } from '../clients/oauth.js';
import { colorEnabled, makePrinter, type IO, type Printer } from '../cli/io.js';
import type { GlobalOptions } from '../cli/setup.js';
import { homePaths, type HomePaths } from '../paths.js';
import { CALLKEEPER_DEFAULT_URL } from '../clients/callkeeper.js';
import { METRIKA_DEFAULT_URL } from '../clients/metrika.js';

/** What most commands start from: printer, config (warnings shown), home, clock, service URLs. */
export interface CommandBase {
  io: IO;
  printer: Printer;
  loaded: LoadedConfig;
  home: HomePaths;
  clock: Clock;
  urls: { callkeeper: string; metrika: string; oauth: string; login: string };
}

export async function commandBase(globals: GlobalOptions, io: IO, options: { quiet?: boolean } = {}): Promise<CommandBase> {
  const printer = makePrinter(io, { color: colorEnabled(io, globals.color), quiet: options.quiet ?? false });
  const clock = clockFromEnv(io.env);
  const loaded = await loadConfig({ configPath: globals.config, cwd: io.cwd });
  for (const warning of loaded.warnings) printer.warn(warning);
  return {
    io,
    printer,
    loaded,
    home: homePaths(io.env),
    clock,
    urls: serviceUrls(io.env),
  };
}

export function serviceUrls(env: NodeJS.ProcessEnv): CommandBase['urls'] {
  const pick = (name: string, fallback: string) => env[name]?.trim() || fallback;
  return {
    callkeeper: pick('CKYM_CALLKEEPER_URL', CALLKEEPER_DEFAULT_URL),
    metrika: pick('CKYM_METRIKA_URL', METRIKA_DEFAULT_URL),
    oauth: pick('CKYM_OAUTH_URL', 'https://oauth.yandex.ru'),
    login: pick('CKYM_LOGIN_URL', 'https://login.yandex.ru'),
  };
}

export function credentials(base: CommandBase): ResolvedCredentials {
  return resolveCredentials(new CredentialStore(base.home.credentials), base.io.env);
}

/** `2024-05-01` (midnight in `timeZone`) or a full ISO-8601 time → unix seconds. */
export function parseSince(text: string, timeZone: string, zonedToUnix: (t: string, tz: string) => number | null): number | null {
  const trimmed = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(trimmed)) return zonedToUnix(`${trimmed} 00:00:00`, timeZone);
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$/.test(trimmed)) return zonedToUnix(trimmed.replace('T', ' '), timeZone);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(trimmed)) return null;
  const ms = Date.parse(trimmed);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

/** The Yandex token for Metrica, refreshed first when under 30 days remain. */
export async function yandexToken(base: CommandBase, creds: ResolvedCredentials): Promise<string> {
  const { config } = base.loaded;
  const clientId = config.yandex.clientId.trim();
  const oauth = clientId
    ? new YandexOAuthClient({
        oauthUrl: base.urls.oauth,
        loginUrl: base.urls.login,
        clientId,
        clientSecret: base.io.env.CKYM_YANDEX_CLIENT_SECRET?.trim() || creds.stored.yandex?.clientSecret,
        timeoutMs: config.network.timeoutSeconds * 1000,
        now: () => base.clock.now(),
      })
    : null;
  return freshYandexToken({
    store: new CredentialStore(base.home.credentials),
    creds,
    env: base.io.env,
    oauth,
    now: base.clock.now(),
    warn: (m) => base.printer.warn(m),
  });
}
