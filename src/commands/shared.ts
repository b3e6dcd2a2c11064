import { Chalk } from 'chalk';
import type { Clock } from '../clock.js';
import { readEnv, type Env, type ServiceUrls } from '../env.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { CredentialStore, registerStoredSecrets, resolveCredentials, type ResolvedCredentials } from '../credentials.js';
import { freshYandexToken } from '../auth/token.js';
import { YandexOAuthClient } from '../clients/oauth.js';
import { colorEnabled, makePrinter, type IO, type Printer } from '../cli/io.js';
import type { GlobalOptions } from '../cli/setup.js';
import type { Paint } from '../cli/render.js';
import type { HomePaths } from '../paths.js';

/** What most commands start from: the environment (read once), printer, config (warnings shown), home, clock, service URLs. */
export interface CommandBase {
  io: IO;
  env: Env;
  printer: Printer;
  loaded: LoadedConfig;
  home: HomePaths;
  clock: Clock;
  urls: ServiceUrls;
}

export async function commandBase(globals: GlobalOptions, io: IO, options: { quiet?: boolean } = {}): Promise<CommandBase> {
  const printer = makePrinter(io, { color: colorEnabled(io, globals.color), quiet: options.quiet ?? false });
  const env = readEnv(io.env);
  // Whatever the command prints is masked with every secret this home knows, even one it never uses itself.
  registerStoredSecrets(env.home.credentials);
  const loaded = await loadConfig({ configPath: globals.config, cwd: io.cwd });
  for (const warning of loaded.warnings) printer.warn(warning);
  return { io, env, printer, loaded, home: env.home, clock: env.clock, urls: env.urls };
}

export function credentials(base: CommandBase): ResolvedCredentials {
  return resolveCredentials(new CredentialStore(base.home.credentials), base.env);
}

/** Colours for the pure text renderers: chalk's where the terminal has them, none otherwise. */
export function paintFor(color: boolean): Paint {
  const chalk = new Chalk({ level: color ? 1 : 0 });
  return {
    ok: (s) => chalk.green(s),
    bad: (s) => chalk.red(s),
    warn: (s) => chalk.yellow(s),
    dim: (s) => chalk.dim(s),
    bold: (s) => chalk.bold(s),
  };
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
        clientSecret: base.env.yandexClientSecret ?? creds.stored.yandex?.clientSecret,
        timeoutMs: config.network.timeoutSeconds * 1000,
        now: () => base.clock.now(),
      })
    : null;
  return freshYandexToken({
    store: new CredentialStore(base.home.credentials),
    creds,
    fromEnv: base.env.yandexToken,
    oauth,
    now: base.clock.now(),
    warn: (m) => base.printer.warn(m),
  });
}
