import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openEditable, removeCounter, saveEditable, upsertCounter } from '../../src/config/write.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-write-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const read = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;

describe('openEditable / saveEditable', () => {
  it('no config file yet: a new ckym.config.json in the working directory gets the counter', () => {
    const editable = openEditable(null, undefined, dir);
    expect(editable.existed).toBe(false);
    expect(upsertCounter(editable, { id: 12345678, name: 'shop' })).toBe('added');
    saveEditable(editable);
    expect(read(path.join(dir, 'ckym.config.json'))).toEqual({ counters: [{ id: 12345678, name: 'shop' }] });
  });

  it('a --config path that does not exist yet is created with the counter', () => {
    const editable = openEditable(null, 'conf/mine.json', dir);
    upsertCounter(editable, { id: 1 });
    saveEditable(editable);
    expect(read(path.join(dir, 'conf', 'mine.json'))).toEqual({ counters: [{ id: 1 }] });
  });

  it('an existing file keeps its other keys, their order and its indentation', () => {
    const file = path.join(dir, 'ckym.config.json');
    fs.writeFileSync(file, JSON.stringify({ sync: { initialDays: 3 }, counters: [{ id: 1 }, { id: 2 }] }, null, 4));
    const editable = openEditable(file, undefined, dir);
    expect(upsertCounter(editable, { id: 2, minDuration: 30 })).toBe('updated');
    expect(removeCounter(editable, 1)).toBe(true);
    saveEditable(editable);
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toMatch(/^\{\n {4}"sync"/);
    expect(JSON.parse(text)).toEqual({ sync: { initialDays: 3 }, counters: [{ id: 2, minDuration: 30 }] });
  });

  it('package.json: the counters go under its "ckym" key', () => {
    const file = path.join(dir, 'package.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'site', version: '1.0.0' }, null, 2));
    const editable = openEditable(file, undefined, dir);
    upsertCounter(editable, { id: 7 });
    saveEditable(editable);
    expect(read(file)).toEqual({ name: 'site', version: '1.0.0', ckym: { counters: [{ id: 7 }] } });
  });
});
