import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

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
    const nested = path.join(dir, 'a', 'b');
    fs.mkdirSync(nested, { recursive: true });
    const loaded = await loadConfig({ cwd: nested });
    expect(loaded.filepath).toBe(path.join(dir, 'ckym.config.json'));
    expect(loaded.config.sync).toEqual({ initialDays: 7, lookbackHours: 24, settleMinutes: 10, confirmGraceMinutes: 10 });
    expect(loaded.config.callkeeper).toEqual({ method: 'get', timezone: 'Europe/Moscow' });
    expect(loaded.config.counters[0]).toMatchObject({
      id: 1,
      enabled: true,
      callType: 'all',
      minDuration: 0,
      status: 'all',
      uniqueness: 'all',
      tags: { source: 'call', include: [], callback: '', incoming: '' },
      goal: '',
      sites: [],
      price: null,
      currency: 'RUB',
    });
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

  it('reports JSON syntax errors with the file', async () => {
    write('ckym.config.json', '{ "counters": [ ');
    await expect(loadConfig({ cwd: dir })).rejects.toThrow(/cannot read the config file: .*ckym\.config\.json/);
  });

  it('warns about unknown keys, with their path', async () => {
    write('ckym.config.json', { sinc: {}, counters: [{ id: 1, calltype: 'all', tags: { sorce: 'call' } }] });
    const { warnings } = await loadConfig({ cwd: dir });
    expect(warnings).toEqual([
      expect.stringMatching(/: sinc: unknown key/),
      expect.stringMatching(/: counters\[0\]\.calltype: unknown key/),
      expect.stringMatching(/: counters\[0\]\.tags\.sorce: unknown key/),
    ]);
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
