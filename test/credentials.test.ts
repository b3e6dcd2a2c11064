import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CredentialStore, requireCallKeeperKey, requireYandexToken, resolveCredentials } from '../src/credentials.js';
import { readEnv } from '../src/env.js';
import { AuthError, ConfigError, LocalError } from '../src/errors.js';
import { redact } from '../src/redact.js';

let dir: string;
let store: CredentialStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-creds-'));
  store = new CredentialStore(path.join(dir, 'home', 'credentials.json'));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

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

  // Giving a file away needs root; CI runs as root, so this runs there (skipped only for a developer who is not).
  it.skipIf(process.getuid?.() !== 0)('refuses a file of another user, who could swap in keys of their own, saying how to fix it', () => {
    store.write({ version: 1, callkeeper: { key: 'ck0key0value0001' } });
    fs.chownSync(store.file, 4242, 4242);
    expect(() => store.read()).toThrow(LocalError);
    expect(() => store.read()).toThrow(
      `credentials ${store.file} belong to another user (uid 4242), who could swap in keys of their own; run ckym as that user (sudo -u '#4242' ckym …), or, if it is yours to take over, run "chown root ${store.file}"`,
    );
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

  it('a file of the wrong shape is one clear sentence naming the key (exit 2), never a crash', () => {
    const cases: [string, RegExp][] = [
      ['null', /credentials\.json: \(top level\): expected an object; got null\. Run "ckym login" to write it again$/],
      ['[1, 2]', /\(top level\): expected an object; got an array/],
      ['"key"', /\(top level\): expected an object; got string/],
      ['{"callkeeper": "k3y"}', /: callkeeper: expected an object; got string/],
      ['{"callkeeper": {"key": 12345678}}', /: callkeeper\.key: expected a non-empty string; got number/],
      ['{"callkeeper": {}}', /: callkeeper\.key: expected a non-empty string; got undefined/],
      ['{"yandex": {"accessToken": ["a"]}}', /: yandex\.accessToken: expected a non-empty string; got an array/],
      ['{"yandex": {"accessToken": "tok-0123456789", "expiresAt": "soon"}}', /: yandex\.expiresAt: expected a time in unix milliseconds; got string/],
      ['{"yandex": {"accessToken": "tok-0123456789", "refreshToken": null}}', /: yandex\.refreshToken: expected a non-empty string; got null/],
    ];
    fs.mkdirSync(path.dirname(store.file), { recursive: true });
    for (const [text, message] of cases) {
      fs.writeFileSync(store.file, text, { mode: 0o600 });
      expect(() => store.read(), text).toThrow(ConfigError);
      expect(() => store.read(), text).toThrow(message);
    }
  });

  it('a full disk while saving: one clear sentence, no temporary file and no half-written file left', () => {
    store.write({ version: 1, callkeeper: { key: 'old0key0value001' } });
    const real = fs.writeFileSync;
    vi.spyOn(fs, 'writeFileSync').mockImplementation((file, data, options) => {
      if (typeof file === 'number') {
        real(file, String(data).slice(0, 10)); // part of it got out, then the disk was full
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return real(file, data, options);
    });
    expect(() => store.write({ version: 1, callkeeper: { key: 'new0key0value002' } })).toThrow(LocalError);
    expect(() => store.write({ version: 1, callkeeper: { key: 'new0key0value002' } })).toThrow(
      `cannot save the credentials to ${store.file}: the disk is full; free some space and try again (ENOSPC); nothing was saved`,
    );
    expect(fs.readdirSync(path.dirname(store.file))).toEqual(['credentials.json']);
    expect(store.read().callkeeper?.key).toBe('old0key0value001');
  });

  it('a read-only home: login and logout say so in one sentence', () => {
    store.write({ version: 1, callkeeper: { key: 'old0key0value001' } });
    const denied = (what: string) => () => {
      throw Object.assign(new Error(`EACCES: permission denied, ${what}`), { code: 'EACCES' });
    };
    vi.spyOn(fs, 'openSync').mockImplementation(denied('open'));
    vi.spyOn(fs, 'unlinkSync').mockImplementation(denied('unlink'));
    expect(() => store.write({ version: 1 })).toThrow(
      `cannot save the credentials to ${store.file}: permission denied; check the permissions of CKYM_HOME (or point CKYM_HOME elsewhere) (EACCES); nothing was saved`,
    );
    expect(() => store.clear()).toThrow(LocalError);
    expect(() => store.clear()).toThrow(/^cannot remove .*credentials\.json: permission denied; .*\(EACCES\); the credentials are still stored$/);
  });

  it('never writes through a link planted at the temporary file', () => {
    fs.mkdirSync(path.dirname(store.file), { recursive: true });
    const target = path.join(dir, 'elsewhere');
    fs.writeFileSync(target, 'untouched');
    fs.symlinkSync(target, `${store.file}.${process.pid}.tmp`);
    expect(() => store.write({ version: 1, callkeeper: { key: 'new0key0value002' } })).toThrow(LocalError);
    expect(fs.readFileSync(target, 'utf8')).toBe('untouched');
  });
});
