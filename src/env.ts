/**
 * The environment, read once. Every `CKYM_*` variable ckym knows (contract) is read here, checked and typed, and
 * the result is passed on; nothing else in ckym reads them. A malformed value is a usage error (exit 2) at once.
 */
import { clockAt, type Clock } from './clock.js';
import { ConfigError } from './errors.js';
import { registerSecret } from './redact.js';
import { homePaths, type HomePaths } from './paths.js';
import { CALLKEEPER_DEFAULT_URL } from './clients/callkeeper.js';
import { METRIKA_DEFAULT_URL } from './clients/metrika.js';
import { LOGIN_DEFAULT_URL, OAUTH_DEFAULT_URL } from './clients/oauth.js';

/** The base URLs of the services (`CKYM_*_URL`, else the real ones). */
export interface ServiceUrls {
  callkeeper: string;
  metrika: string;
  oauth: string;
  login: string;
}

export interface Env {
  /** `CKYM_HOME` as set, or null (then the platform's directories). */
  ckymHome: string | null;
  /** Where ckym keeps what it writes (from `CKYM_HOME` or the platform's directories). */
  home: HomePaths;
  /** `CKYM_CALLKEEPER_KEY`: overrides the stored key. */
  callkeeperKey: string | null;
  /** `CKYM_YANDEX_TOKEN`: overrides the stored token. */
  yandexToken: string | null;
  /** `CKYM_YANDEX_CLIENT_SECRET`: the OAuth app's secret, for `login` and refreshing the token. */
  yandexClientSecret: string | null;
  urls: ServiceUrls;
  /** `CKYM_NOW` as given (tests only), or null. */
  fixedNow: string | null;
  /** The clock `CKYM_NOW` fixes, or the system's. */
  clock: Clock;
}

const URLS: readonly { key: keyof ServiceUrls; name: string; fallback: string }[] = [
  { key: 'callkeeper', name: 'CKYM_CALLKEEPER_URL', fallback: CALLKEEPER_DEFAULT_URL },
  { key: 'metrika', name: 'CKYM_METRIKA_URL', fallback: METRIKA_DEFAULT_URL },
  { key: 'oauth', name: 'CKYM_OAUTH_URL', fallback: OAUTH_DEFAULT_URL },
  { key: 'login', name: 'CKYM_LOGIN_URL', fallback: LOGIN_DEFAULT_URL },
];

/** Reads the environment (`process.env` in production, a plain object in tests). Blank values count as unset. */
export function readEnv(vars: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): Env {
  const text = (name: string): string | null => vars[name]?.trim() || null;
  const urls = Object.fromEntries(URLS.map((u) => [u.key, serviceUrl(u.name, text(u.name), u.fallback)])) as unknown as ServiceUrls;
  const ckymHome = text('CKYM_HOME');
  const env: Env = {
    ckymHome,
    home: homePaths(ckymHome, vars, platform),
    callkeeperKey: text('CKYM_CALLKEEPER_KEY'),
    yandexToken: text('CKYM_YANDEX_TOKEN'),
    yandexClientSecret: text('CKYM_YANDEX_CLIENT_SECRET'),
    urls,
    fixedNow: text('CKYM_NOW'),
    clock: clockAt(text('CKYM_NOW')),
  };
  registerSecret(env.callkeeperKey);
  registerSecret(env.yandexToken);
  registerSecret(env.yandexClientSecret);
  return env;
}

/** An http(s) base URL, or the fallback when unset; anything else is a usage error naming the variable. */
function serviceUrl(name: string, value: string | null, fallback: string): string {
  if (value === null) return fallback;
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new ConfigError(`${name}: expected an http(s) URL such as ${fallback}; got ${JSON.stringify(value)}`);
  }
  return value;
}
