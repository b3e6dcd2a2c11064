import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../src/env.js';
import { ConfigError } from '../src/errors.js';

describe('readEnv: every CKYM_* variable, read once', () => {
  it('defaults: the real services, the system clock, no overrides', () => {
    const env = readEnv({ HOME: '/home/u' }, 'linux');
    expect(env.urls).toEqual({
      callkeeper: 'https://ckct.ru/api/',
      metrika: 'https://api-metrika.yandex.net',
      oauth: 'https://oauth.yandex.ru',
      login: 'https://login.yandex.ru',
    });
    expect(env).toMatchObject({ ckymHome: null, callkeeperKey: null, yandexToken: null, yandexClientSecret: null, fixedNow: null });
    expect(Math.abs(env.clock.now() - Date.now())).toBeLessThan(5000);
  });

  it('reads the contract\'s variables, trimmed; blank ones count as unset', () => {
    const env = readEnv({
      CKYM_HOME: ' /tmp/ckym-home ',
      CKYM_CALLKEEPER_KEY: ' key0key0key0key0 ',
      CKYM_YANDEX_TOKEN: 'y0_token-token-token',
      CKYM_YANDEX_CLIENT_SECRET: '   ',
      CKYM_CALLKEEPER_URL: 'http://127.0.0.1:8080/api/',
      CKYM_METRIKA_URL: ' http://127.0.0.1:8081 ',
      CKYM_OAUTH_URL: '',
      CKYM_NOW: '2024-05-20T09:00:00Z',
    });
    expect(env.ckymHome).toBe('/tmp/ckym-home');
    expect(env.home.database).toBe(path.join('/tmp/ckym-home', 'ckym.db'));
    expect(env.callkeeperKey).toBe('key0key0key0key0');
    expect(env.yandexToken).toBe('y0_token-token-token');
    expect(env.yandexClientSecret).toBeNull();
    expect(env.urls).toMatchObject({ callkeeper: 'http://127.0.0.1:8080/api/', metrika: 'http://127.0.0.1:8081', oauth: 'https://oauth.yandex.ru' });
    expect(env.fixedNow).toBe('2024-05-20T09:00:00Z');
    expect(env.clock.now()).toBe(Date.parse('2024-05-20T09:00:00Z'));
  });

  it('a malformed service URL is a usage error at once, naming the variable', () => {
    for (const name of ['CKYM_CALLKEEPER_URL', 'CKYM_METRIKA_URL', 'CKYM_OAUTH_URL', 'CKYM_LOGIN_URL']) {
      for (const value of ['notaurl', 'ftp://example.org', '127.0.0.1:9', 'http://']) {
        const read = () => readEnv({ [name]: value });
        expect(read, `${name}=${value}`).toThrow(ConfigError);
        expect(read, `${name}=${value}`).toThrow(new RegExp(`^${name}: expected an http\\(s\\) URL such as https://\\S+; got "${value.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"$`));
      }
    }
  });

  it('CKYM_NOW that is not a time is a usage error', () => {
    expect(() => readEnv({ CKYM_NOW: 'tomorrow' })).toThrow(/^CKYM_NOW: expected an ISO-8601 time such as 2024-05-01T12:00:00Z; got "tomorrow"$/);
  });
});
