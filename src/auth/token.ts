import type { CredentialStore, ResolvedCredentials } from '../credentials.js';
import { AuthError, OAuthError, RemoteError } from '../errors.js';
import { registerSecret } from '../redact.js';
import type { YandexOAuthClient } from '../clients/oauth.js';

const DAY_MS = 86_400_000;
/** Refresh when less than this remains (Yandex tokens live about a year). */
export const REFRESH_BEFORE_MS = 30 * DAY_MS;

export interface FreshTokenOptions {
  store: CredentialStore;
  creds: ResolvedCredentials;
  /** `CKYM_YANDEX_TOKEN` (read in env.ts), used as given. */
  fromEnv: string | null;
  /** Null when yandex.clientId is not configured (refresh impossible). */
  oauth: YandexOAuthClient | null;
  now: number;
  warn: (message: string) => void;
}

/**
 * The Yandex token to use now. A stored token with under 30 days left is refreshed (and the new tokens
 * stored); `CKYM_YANDEX_TOKEN` is used as given. An expired token that cannot be refreshed is exit 3.
 */
export async function freshYandexToken(options: FreshTokenOptions): Promise<string> {
  const { creds, fromEnv, now } = options;
  if (fromEnv) return fromEnv;
  const stored = creds.stored.yandex;
  if (!stored?.accessToken) throw new AuthError('no Yandex token: run "ckym login" (or set CKYM_YANDEX_TOKEN)');
  const expiresAt = stored.expiresAt;
  if (expiresAt === undefined || expiresAt - now >= REFRESH_BEFORE_MS) return stored.accessToken;

  const expired = expiresAt <= now;
  const cannot = !stored.refreshToken
    ? 'no refresh token is stored'
    : !options.oauth
      ? 'yandex.clientId is not set in the config'
      : null;
  if (cannot) {
    if (expired) throw new AuthError(`the Yandex token expired on ${iso(expiresAt)} and ${cannot}; run "ckym login"`);
    options.warn(`the Yandex token expires on ${iso(expiresAt)} and ${cannot}; run "ckym login" before then`);
    return stored.accessToken;
  }
  try {
    const tokens = await options.oauth!.refresh(stored.refreshToken!);
    registerSecret(tokens.accessToken);
    registerSecret(tokens.refreshToken);
    const latest = options.store.read();
    options.store.write({
      ...latest,
      version: 1,
      yandex: {
        ...stored,
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken ?? stored.refreshToken,
        expiresAt: tokens.expiresAt,
      },
    });
    return tokens.accessToken;
  } catch (error) {
    if (error instanceof OAuthError && !expired) {
      options.warn(`could not refresh the Yandex token (${error.code}); it still works until ${iso(expiresAt)} — run "ckym login"`);
      return stored.accessToken;
    }
    if (error instanceof OAuthError) {
      throw new AuthError(`the Yandex token expired and Yandex refused to refresh it (${error.code}); run "ckym login"`);
    }
    if (error instanceof RemoteError && !expired) {
      options.warn(`could not reach Yandex OAuth to refresh the token; it still works until ${iso(expiresAt)}`);
      return stored.accessToken;
    }
    throw error;
  }
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
