/** The one table of counter settings, checked against the config schema it feeds, and its flags' parsing. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema, counterSchema } from '../../src/config/schema.js';
import { validateConfig } from '../../src/config/load.js';
import {
  ASKED,
  SETTINGS,
  SETTING_LIST,
  attributeOf,
  counterEntry,
  describeCounter,
  settingDefaults,
  settingsFromFlags,
} from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';
import { ROOT } from '../support/harness.js';

describe('the settings table and the config schema', () => {
  it('have the same keys: every setting is in the counter schema, and the schema has nothing else but id', () => {
    expect(Object.keys(counterSchema.shape).sort()).toEqual(['id', ...SETTING_LIST.map((s) => s.key)].sort());
    for (const [name, s] of Object.entries(SETTINGS)) expect(s.key).toBe(name);
  });

  it("a counter given only its id gets every setting's default from the table", () => {
    const parsed = configSchema.parse({ counters: [{ id: 5 }] }).counters[0]!;
    for (const s of SETTING_LIST) expect(parsed[s.key as keyof typeof parsed], s.key).toEqual(s.default);
  });

  it("each default is a valid value of its setting's type, and defaults are never shared between counters", () => {
    for (const s of SETTING_LIST) expect(s.type.safeParse(s.default).success, s.key).toBe(true);
    const [a, b] = configSchema.parse({ counters: [{ id: 1 }, { id: 2 }] }).counters;
    a!.tags.include.push('x');
    a!.sites.push('y');
    expect(b!.tags.include).toEqual([]);
    expect(b!.sites).toEqual([]);
    expect(settingDefaults().tags.include).toEqual([]);
  });

  it("a setting with choices has a schema that takes exactly those values", () => {
    for (const s of SETTING_LIST.filter((x) => x.choices)) {
      const values = s.choices!.map((c) => c.value);
      for (const v of values) expect(s.type.safeParse(v).success).toBe(true);
      expect(s.type).toBeInstanceOf(z.ZodEnum);
      expect((s.type as z.ZodEnum<[string, ...string[]]>).options).toEqual(values);
    }
  });

  it('every asked setting has an explanation and a flag; flags are unique', () => {
    for (const s of ASKED) {
      expect(s.explain, s.key).not.toBe('');
      expect(s.flags.length, s.key).toBeGreaterThan(0);
    }
    const names = SETTING_LIST.flatMap((s) => s.flags.map((f) => attributeOf(f.flags)));
    expect(new Set(names).size).toBe(names.length);
  });

  it('counterEntry writes every setting explicitly, and the entry validates back to the same values', () => {
    const values = { ...settingDefaults(), minDuration: 30, goal: 'call', sites: ['shop.example'] };
    const entry = counterEntry(12345678, values);
    expect(Object.keys(entry)).toEqual(['id', ...SETTING_LIST.map((s) => s.key)]);
    expect(validateConfig({ counters: [entry] }, '/x.json').config.counters[0]).toEqual({ id: 12345678, ...values });
  });

  it('ckym.config.example.json validates', () => {
    const file = path.join(ROOT, 'ckym.config.example.json');
    const { config } = validateConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file);
    expect(config.counters.map((c) => c.id)).toEqual([12345678, 87654321]);
  });

  it('counters show prints one aligned line per setting', () => {
    const text = describeCounter({ id: 7, ...settingDefaults(), name: 'shop', minDuration: 30 });
    const lines = text.split('\n');
    expect(lines[0]).toBe('7 — shop');
    expect(lines).toContain('  min duration    30 s');
    expect(lines).toContain('  goal            (none)');
    expect(new Set(lines.slice(1).map((l) => /^ {2}\S+( \S+)* +/.exec(l)![0].length)).size).toBe(1);
  });
});

describe('settingsFromFlags: each flag validated by its setting\'s type', () => {
  const parse = (opts: Record<string, unknown>) => settingsFromFlags(opts, settingDefaults());
  const refusal = (opts: Record<string, unknown>): string => {
    try {
      parse(opts);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('turns flag text into values and says which questions are answered', () => {
    const { given, answered } = parse({ callType: 'incoming', minDuration: '30', site: [' shop.example ', ''], price: 'none', currency: 'EUR', goal: ' call ' });
    expect(given).toEqual({ callType: 'incoming', minDuration: 30, sites: ['shop.example'], price: null, currency: 'EUR', goal: 'call' });
    expect([...answered].sort()).toEqual(['callType', 'currency', 'goal', 'minDuration', 'price', 'sites']);
  });

  it('the tag flags combine with the current tags', () => {
    const current = { ...settingDefaults(), tags: { source: 'call' as const, include: ['SEO'], callback: 'Обратный', incoming: '' } };
    expect(settingsFromFlags({ tagIncoming: 'Входящий' }, current).given.tags).toEqual({ source: 'call', include: ['SEO'], callback: 'Обратный', incoming: 'Входящий' });
    expect(settingsFromFlags({ tags: 'none' }, current).given.tags?.source).toBe('none');
  });

  it.each([
    [{ callType: 'foo' }, '--call-type: expected one of "all", "callback", "incoming"; got "foo"'],
    [{ status: 'answered' }, '--status: expected one of "all", "successful", "unsuccessful"; got "answered"'],
    [{ minDuration: '-5' }, '--min-duration: expected a value ≥ 0; got "-5"'],
    [{ minDuration: '1.5' }, '--min-duration: expected a whole number; got "1.5"'],
    [{ minDuration: 'abc' }, '--min-duration: expected number; got "abc"'],
    [{ currency: 'rubles' }, '--currency: expected an ISO 4217 code such as RUB; got "rubles"'],
    [{ currency: 'XYZ' }, '--currency: expected an ISO 4217 code such as RUB; got "XYZ"'],
    [{ goal: 'has space' }, '--goal: expected a goal identifier: letters, digits, "_", "-", "." or ":" (e.g. calltracking_call_order); got "has space"'],
    [{ price: '-1' }, '--price: expected a value ≥ 0; got "-1"'],
    [{ tags: 'all' }, '--tags: expected one of "call", "none"; got "all"'],
  ])('%j → %s', (opts, expected) => {
    expect(refusal(opts)).toBe(expected);
  });
});
