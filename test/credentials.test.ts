import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialStore, requireCallKeeperKey, requireYandexToken, resolveCredentials } from '../src/credentials.js';
import { readEnv } from '../src/env.js';
import { AuthError, ConfigError } from '../src/errors.js';
import { redact } from '../src/redact.js';

let dir: string;
let store: CredentialStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-creds-'));
  store = new CredentialStore(path.join(dir, 'home', 'credentials.json'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('CredentialStore', () => {
  it('writes the file with mode 0600 and reads it back', () => {
    store.write({ version: 1, callkeeper: { key: 'ck0key0value0001' }, yandex: { accessToken: 'tok-0123456789' } });
    expect(fs.statSync(store.file).mode & 0o777).toBe(0o600);
    expect(store.read()).toEqual({ version: 1, callkeeper: { key: 'ck0key0value0001' }, yandex: { accessToken: 'tok-0123456789' } });
  });

  it('refuses a file other users can read, saying how to fix it', () => {
    store.write({ version: 1, callkeeper: { key: 'ck0key0value0001' } });
    fs.chmodSync(store.file, 0o644);
    expect(() => store.read()).toThrow(ConfigError);
    expect(() => store.read()).toThrow(/readable by other users \(mode 644\); run "chmod 600 /);
  });

  it('an absent file means no credentials; clear() forgets them', () => {
    expect(store.read()).toEqual({ version: 1 });
    store.write({ version: 1, callkeeper: { key: 'ck0key0value0001' } });
    expect(store.clear()).toBe(true);
    expect(store.clear()).toBe(false);
  });

  it('the environment overrides what is stored; missing ones name "ckym login"', () => {
    store.write({ version: 1, callkeeper: { key: 'stored0key000001' }, yandex: { accessToken: 'stored-token-1' } });
    const env = resolveCredentials(store, readEnv({ CKYM_CALLKEEPER_KEY: 'env0key000000001' }));
    expect(env.callkeeperKey).toBe('env0key000000001');
    expect(env.yandexToken).toBe('stored-token-1');
    const none = resolveCredentials(new CredentialStore(path.join(dir, 'none.json')), readEnv({}));
    expect(() => requireCallKeeperKey(none)).toThrow(AuthError);
    expect(() => requireYandexToken(none)).toThrow(/run "ckym login" \(or set CKYM_YANDEX_TOKEN\)/);
  });

  it('registers what it reads for redaction', () => {
    store.write({ version: 1, callkeeper: { key: 'zz99secretkey777' } });
    store.read();
    expect(redact('GET /?json/v3/zz99secretkey777/call')).toBe('GET /?json/v3/zz99…77/call');
  });
});
