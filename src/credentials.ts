import fs from 'node:fs';
import path from 'node:path';
import { AuthError, ConfigError, LocalError } from './errors.js';
import { registerSecret } from './redact.js';

/** What `ckym login` stores (file mode 0600). Tokens never go into the config file. */
export interface StoredCredentials {
  version: 1;
  callkeeper?: { key: string };
  yandex?: {
    accessToken: string;
    refreshToken?: string;
    /** Unix ms when the access token expires, when Yandex said. */
    expiresAt?: number;
    login?: string;
    clientSecret?: string;
  };
}

export interface ResolvedCredentials {
  callkeeperKey: string | null;
  yandexToken: string | null;
  stored: StoredCredentials;
}

export class CredentialStore {
  constructor(readonly file: string) {}

  read(): StoredCredentials {
    let text: string;
    try {
      const stat = fs.statSync(this.file);
      if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
        throw new ConfigError(
          `${this.file} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run "chmod 600 ${this.file}" and try again`,
        );
      }
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1 };
      if (error instanceof ConfigError) throw error;
      throw new LocalError(`cannot read ${this.file}: ${(error as Error).message}`, { cause: error });
    }
    try {
      const parsed = JSON.parse(text) as StoredCredentials;
      registerSecret(parsed.callkeeper?.key);
      registerSecret(parsed.yandex?.accessToken);
      registerSecret(parsed.yandex?.refreshToken);
      registerSecret(parsed.yandex?.clientSecret);
      return { ...parsed, version: 1 };
    } catch (error) {
      throw new ConfigError(`${this.file} is not valid JSON; run "ckym login" to write it again`, { cause: error });
    }
  }

  /** Atomic replace, created 0600 from the start (never world-readable, even for a moment). */
  write(credentials: StoredCredentials): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, this.file);
  }

  clear(): boolean {
    try {
      fs.unlinkSync(this.file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }
}

/** The environment overrides stored credentials (contract: CKYM_CALLKEEPER_KEY, CKYM_YANDEX_TOKEN; read in env.ts). */
export function resolveCredentials(
  store: CredentialStore,
  env: { callkeeperKey: string | null; yandexToken: string | null },
): ResolvedCredentials {
  const stored = store.read();
  const callkeeperKey = env.callkeeperKey || stored.callkeeper?.key || null;
  const yandexToken = env.yandexToken || stored.yandex?.accessToken || null;
  registerSecret(callkeeperKey);
  registerSecret(yandexToken);
  return { callkeeperKey, yandexToken, stored };
}

export function requireCallKeeperKey(creds: ResolvedCredentials): string {
  if (!creds.callkeeperKey) {
    throw new AuthError('no CallKeeper API key: run "ckym login" (or set CKYM_CALLKEEPER_KEY)');
  }
  return creds.callkeeperKey;
}

export function requireYandexToken(creds: ResolvedCredentials): string {
  if (!creds.yandexToken) {
    throw new AuthError('no Yandex token: run "ckym login" (or set CKYM_YANDEX_TOKEN)');
  }
  return creds.yandexToken;
}
