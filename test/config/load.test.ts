import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { settingDefaults } from '../../src/config/settings.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-config-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const write = (name: string, value: unknown) =>
  fs.writeFileSync(path.join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));

function problem(raw: unknown): string {
  try {
    validateConfig(raw, '/x/ckym.config.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('finds ckym.config.json by searching up from the working directory and applies defaults', async () => {
    write('ckym.config.json', { counters: [{ id: 1 }] });
    fs.mkdirSync(path.join(dir, '.git')); // the project root: where the search stops
    const nested = path.join(dir, 'a', 'b');
    fs.mkdirSync(nested, { recursive: true });
    const loaded = await loadConfig({ cwd: nested });
    expect(loaded.filepath).toBe(path.join(dir, 'ckym.config.json'));
    expect(loaded.config.sync).toEqual({ initialDays: 7, lookbackHours: 24, settleMinutes: 10, confirmGraceMinutes: 10, maxWaitHours: 72 });
    expect(loaded.config.callkeeper).toEqual({ method: 'get', timezone: 'Europe/Moscow' });
    // a counter's defaults are the settings table's
    expect(loaded.config.counters[0]).toEqual({ id: 1, ...settingDefaults() });
  });

  it('reads a "ckym" key in package.json and .ckymrc', async () => {
    write('package.json', { name: 'x', ckym: { counters: [{ id: 5 }] } });
    expect((await loadConfig({ cwd: dir })).config.counters[0]?.id).toBe(5);
    write('.ckymrc', JSON.stringify({ counters: [{ id: 6 }] }));
    expect((await loadConfig({ cwd: dir })).config.counters[0]?.id).toBe(6);
  });

  it('--config names a file; a missing one is a clear error', async () => {
    write('other.json', { counters: [{ id: 9 }] });
    expect((await loadConfig({ cwd: dir, configPath: 'other.json' })).config.counters[0]?.id).toBe(9);
    await expect(loadConfig({ cwd: dir, configPath: 'nope.json' })).rejects.toThrow(/config file not found: .*nope\.json/);
  });

  it('a JSON syntax error: file:line:column and what was expected, then a code frame on its own lines', async () => {
    const lines = [
      '{',
      '  "callkeeper": { "timezone": "Europe/Moscow" },',
      '  "counters": [',
      '    {',
      '      "id": 12345678,',
      '      "callType": "all",',
      '      "minDuration": 30,',
      '      "status": "all",',
      '      "uniqueness": "all",',
      '      "goal": "call"',
      '      "sites": ["shop.example"]',
      '    }',
      '  ]',
      '}',
    ];
    write('ckym.config.json', lines.join('\n'));
    const error = await loadConfig({ cwd: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const [first, ...frame] = (error as Error).message.split('\n');
    expect(first).toBe(`${path.join(dir, 'ckym.config.json')}:11:7: expected ',' or '}'`);
    expect(frame).toEqual([
      '     9 |       "uniqueness": "all",',
      '    10 |       "goal": "call"',
      '  > 11 |       "sites": ["shop.example"]',
      '       |       ^',
      '    12 |     }',
    ]);
  });

  it.each([
    ['{ "counters": [ ', '1:17: expected a value, but the file ends here'],
    ['{ "counters": [], }', "1:17: a trailing comma: remove the ',' before '}'"],
    ["{ 'counters': [] }", '1:3: keys take double quotes (")'],
    ['{ "sync": { "initialDays": 07 } }', '1:29: invalid number'],
    ['{ "yandex": { "clientId": "abc\n" } }', '1:31: line break inside a string'],
    ['{} {}', '1:4: unexpected text after the end of the JSON value'],
    ['\ufeff{ "counters": [1 2] }', "1:18: expected ',' or ']'"],
  ])('JSON error in %j → %s', async (text, expected) => {
    write('ckym.config.json', text);
    await expect(loadConfig({ cwd: dir })).rejects.toThrow(`ckym.config.json:${expected}`);
  });

  it('--config naming a directory: "is a directory", not EISDIR', async () => {
    await expect(loadConfig({ cwd: dir, configPath: '.' })).rejects.toThrow(`--config ${dir} is a directory; name the config file in it`);
  });
});

describe('unknown keys are errors, naming the closest known key', () => {
  it.each([
    [{ counters: [{ id: 1, minDurations: 30 }] }, 'counters[0].minDurations: unknown key; did you mean "minDuration"?'],
    [{ counter: [{ id: 1 }] }, 'counter: unknown key; did you mean "counters"?'],
    [{ sinc: {} }, 'sinc: unknown key; did you mean "sync"?'],
    [{ counters: [{ id: 1, tags: { sorce: 'call' } }] }, 'counters[0].tags.sorce: unknown key; did you mean "source"?'],
    [{ yandex: { clientID: 'x' } }, 'yandex.clientID: unknown key; did you mean "clientId"?'],
    [{ network: { retrys: 1 } }, 'network.retrys: unknown key; did you mean "retries"?'],
    [{ mine: { keep: true } }, 'mine: unknown key; known keys here: callkeeper, yandex, sync, network, counters'],
  ])('%j', (raw, expected) => {
    expect(problem(raw)).toBe(`/x/ckym.config.json: ${expected}`);
  });

  it('"__proto__" in the JSON file is seen (JSON.parse makes it an own key), at the top and in a counter', async () => {
    write('ckym.config.json', '{ "__proto__": { "counters": [] }, "counters": [ { "id": 1, "__proto__": { "minDuration": 5 } } ] }');
    const error = (await loadConfig({ cwd: dir }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message.split('\n')).toEqual([
      expect.stringMatching(/ckym\.config\.json: __proto__: unknown key; known keys here: callkeeper, yandex, sync, network, counters$/),
      expect.stringMatching(/ckym\.config\.json: counters\[0\]\.__proto__: unknown key; known keys here: id, name, enabled, /),
    ]);
  });

  it('an object whose prototype was set (a JS config) is reported as "__proto__" too', () => {
    const raw = { counters: [] } as Record<string, unknown>;
    Object.setPrototypeOf(raw, { sync: {} });
    expect(problem(raw)).toBe('/x/ckym.config.json: __proto__: unknown key; known keys here: callkeeper, yandex, sync, network, counters');
  });

  it('every problem is listed, one line each', () => {
    expect(problem({ counter: [], counters: [{ id: 1, minDurations: 1 }] }).split('\n')).toHaveLength(2);
  });
});

describe('validateConfig errors name the file, the key path, what was expected and what was found', () => {
  it.each([
    [{ counters: [{ id: 1, callType: 'incomming' }] }, 'counters[0].callType: expected one of "all", "callback", "incoming"; got "incomming"'],
    [{ counters: [{ id: 1, minDuration: -5 }] }, 'counters[0].minDuration: expected a value ≥ 0; got -5'],
    [{ counters: [{ id: 1, minDuration: '30' }] }, 'counters[0].minDuration: expected number; got "30"'],
    [{ counters: [{ id: 1, status: 'ok' }] }, 'counters[0].status: expected one of "all", "successful", "unsuccessful"; got "ok"'],
    [{ counters: [{ id: 1, uniqueness: 'uniq' }] }, 'counters[0].uniqueness: expected one of "all", "unique", "target", "unique-target"; got "uniq"'],
    [{ counters: [{ id: 1, tags: { source: 'all' } }] }, 'counters[0].tags.source: expected one of "call", "none"; got "all"'],
    [{ counters: [{ id: 1, currency: 'rub' }] }, 'counters[0].currency: expected an ISO 4217 code such as RUB; got "rub"'],
    // Metrica refuses every row whose Currency names no currency (audit): three capital letters are not enough
    [{ counters: [{ id: 1, currency: 'ABC' }] }, 'counters[0].currency: expected an ISO 4217 code such as RUB; got "ABC"'],
    [{ counters: [{ id: 1, currency: 'RUR' }] }, 'counters[0].currency: expected an ISO 4217 code such as RUB; got "RUR"'],
    [{ counters: [{ id: 1, goal: 'has space' }] }, 'counters[0].goal: expected a goal identifier'],
    [{ counters: [{ id: 'abc' }] }, 'counters[0].id: expected number; got "abc"'],
    [{ counters: [{}] }, 'counters[0].id: expected number; got nothing'],
    [{ counters: [{ id: 1 }, { id: 1 }] }, 'counters[1].id: counter 1 is configured twice'],
    [{ callkeeper: { timezone: 'Mars/Olympus' } }, 'callkeeper.timezone: expected an IANA time zone such as "Europe/Moscow"; got "Mars/Olympus"'],
    [{ callkeeper: { method: 'list' } }, 'callkeeper.method: expected one of "get", "getWithRole", "getByRole"; got "list"'],
    [{ sync: { initialDays: 0 } }, 'sync.initialDays: expected a value ≥ 1; got 0'],
    [{ counters: {} }, 'counters: expected array; got {}'],
  ])('%j', (raw, expected) => {
    const message = problem(raw);
    expect(message).toContain('/x/ckym.config.json: ');
    expect(message).toContain(expected);
  });
});
