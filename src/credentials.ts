import fs from 'node:fs';
import path from 'node:path';
import { AuthError, ConfigError, LocalError } from './errors.js';
import { registerSecret } from './redact.js';
import { checkOwnFile, fileProblem } from './files.js';

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
      checkOwnFile(this.file, stat, `credentials ${this.file} belong`, 'could swap in keys of their own');
      if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
        throw new ConfigError(
          `${this.file} is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run "chmod 600 ${this.file}" and try again`,
        );
      }
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1 };
      if (error instanceof ConfigError || error instanceof LocalError) throw error;
      throw new LocalError(`cannot read ${this.file}: ${fileProblem(error)}`, { cause: error });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`${this.file} is not valid JSON; run "ckym login" to write it again`, { cause: error });
    }
    const credentials = checkShape(parsed, this.file);
    registerSecret(credentials.callkeeper?.key);
    registerSecret(credentials.yandex?.accessToken);
    registerSecret(credentials.yandex?.refreshToken);
    registerSecret(credentials.yandex?.clientSecret);
    return credentials;
  }

  /**
   * Atomic replace, created 0600 from the start (never world-readable, even for a moment). A write that fails
   * (a full disk, a read-only home) leaves neither a temporary file nor a half-written credentials file behind.
   */
  write(credentials: StoredCredentials): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
      // O_EXCL | O_NOFOLLOW: never write through a file or link someone else put there.
      const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | NOFOLLOW, 0o600);
      try {
        fs.writeFileSync(fd, `${JSON.stringify(credentials, null, 2)}\n`);
        fs.fchmodSync(fd, 0o600);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') fs.rmSync(tmp, { force: true });
      throw new LocalError(`cannot save the credentials to ${this.file}: ${fileProblem(error)}; nothing was saved`, { cause: error });
    }
  }

  clear(): boolean {
    try {
      fs.unlinkSync(this.file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new LocalError(`cannot remove ${this.file}: ${fileProblem(error)}; the credentials are still stored`, { cause: error });
    }
  }
}

const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** What a credentials file must look like; anything else is named (key path, what was expected) and refused. */
function checkShape(value: unknown, file: string): StoredCredentials {
  const wrong = (where: string, expected: string, got: unknown): never => {
    const shown = got === null ? 'null' : Array.isArray(got) ? 'an array' : typeof got;
    throw new ConfigError(`${file}: ${where}: expected ${expected}; got ${shown}. Run "ckym login" to write it again`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(value)) return wrong('(top level)', 'an object', value);
  const text = (section: Record<string, unknown>, key: string, where: string, required: boolean): string | undefined => {
    const v = section[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || (required && v.trim() === '')) return wrong(where, 'a non-empty string', v);
    return v;
  };
  const out: StoredCredentials = { version: 1 };
  if (value.callkeeper !== undefined) {
    if (!isObject(value.callkeeper)) return wrong('callkeeper', 'an object', value.callkeeper);
    out.callkeeper = { key: text(value.callkeeper, 'key', 'callkeeper.key', true)! };
  }
  if (value.yandex !== undefined) {
    const y = value.yandex;
    if (!isObject(y)) return wrong('yandex', 'an object', y);
    const expiresAt = y.expiresAt;
    if (expiresAt !== undefined && !(typeof expiresAt === 'number' && Number.isSafeInteger(expiresAt))) {
      wrong('yandex.expiresAt', 'a time in unix milliseconds', expiresAt);
    }
    const refreshToken = text(y, 'refreshToken', 'yandex.refreshToken', false);
    const login = text(y, 'login', 'yandex.login', false);
    const clientSecret = text(y, 'clientSecret', 'yandex.clientSecret', false);
    out.yandex = {
      accessToken: text(y, 'accessToken', 'yandex.accessToken', true)!,
      ...(refreshToken !== undefined ? { refreshToken } : {}),
      ...(expiresAt !== undefined ? { expiresAt: expiresAt as number } : {}),
      ...(login !== undefined ? { login } : {}),
      ...(clientSecret !== undefined ? { clientSecret } : {}),
    };
  }
  return out;
}

/**
 * Registers the secrets the credentials file holds, for masking, and nothing else: never throws, prints nothing,
 * checks neither mode nor shape. For commands that print stored text (stats) without needing the credentials.
 */
export function registerStoredSecrets(file: string): void {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as { callkeeper?: Record<string, unknown>; yandex?: Record<string, unknown> } | null;
    for (const secret of [v?.callkeeper?.key, v?.yandex?.accessToken, v?.yandex?.refreshToken, v?.yandex?.clientSecret]) {
      if (typeof secret === 'string') registerSecret(secret);
    }
  } catch {
    // a file ckym cannot read holds nothing it could print
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
