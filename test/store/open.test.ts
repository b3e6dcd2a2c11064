/**
 * Opening the database: created 0600 with its schema in place, never through a link, and an existing file that is
 * empty or has no ckym schema refused as damaged (exit 2), never taken for a new install.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, LocalError } from '../../src/errors.js';
import { Store } from '../../src/store/store.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-open-'));
  file = path.join(dir, 'home', 'ckym.db');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const DAMAGED = /ckym will not start a new one in its place, which would send again every call of the look-back window\. Move it aside \(mv .*ckym\.db .*ckym\.db\.damaged\), then run "ckym sync --since DATE" .* or "ckym sync --adopt"/;

describe('Store.open', () => {
  it('a brand-new home: the database is created 0600 in a 0700 folder, schema and all, nothing left beside it', () => {
    const store = Store.open(file);
    expect(store.schemaVersion).toBeGreaterThan(0);
    store.close();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(path.dirname(file)).filter((f) => f.includes('.new'))).toEqual([]);
    const again = Store.open(file, { readonly: true });
    expect(again.schemaVersion).toBeGreaterThan(0);
    again.close();
  });

  it('an empty (0-byte) database is refused as damaged, read-only too, and left as it is', () => {
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, '', { mode: 0o600 });
    for (const readonly of [false, true]) {
      const error = (() => {
        try {
          Store.open(file, { readonly });
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(new RegExp(`^database ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is empty \\(0 bytes\\): `));
      expect((error as Error).message).toMatch(DAMAGED);
    }
    expect(fs.statSync(file).size).toBe(0);
  });

  it('a database without ckym tables (another program\'s, or its tables gone) is refused, not migrated', () => {
    fs.mkdirSync(path.dirname(file));
    const other = new Database(file);
    other.exec('CREATE TABLE notes (text TEXT)');
    other.close();
    expect(() => Store.open(file)).toThrow(/has no ckym tables \(it is damaged, or not a ckym database\)/);
    const db = new Database(file, { readonly: true });
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all()).toEqual(['notes']);
    db.close();
  });

  it('a dry run on a damaged database is refused too, naming the database (not its copy)', async () => {
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, '');
    await expect(Store.openCopy(file)).rejects.toThrow(new RegExp(`^database ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is empty`));
    const copy = await Store.openCopy(path.join(dir, 'none', 'ckym.db')); // no database yet: an empty new one
    expect(copy.schemaVersion).toBeGreaterThan(0);
    copy.close();
  });

  it('a link planted at the database path is refused; its target is not touched', () => {
    fs.mkdirSync(path.dirname(file));
    const target = path.join(dir, 'elsewhere.db');
    fs.symlinkSync(target, file);
    expect(() => Store.open(file)).toThrow(LocalError);
    expect(() => Store.open(file)).toThrow(/^database .*ckym\.db is a symbolic link; ckym does not follow links/);
    expect(fs.existsSync(target)).toBe(false);
    // … and at the files SQLite opens beside it
    fs.rmSync(file);
    Store.open(file).close();
    for (const suffix of ['-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
    fs.symlinkSync(target, `${file}-wal`);
    expect(() => Store.open(file)).toThrow(/^database file .*ckym\.db-wal is a symbolic link/);
    expect(fs.existsSync(target)).toBe(false);
  });

  it("a -wal left by a database moved aside is kept aside too, never applied to the new one", () => {
    const first = Store.open(file);
    first.installationId();
    // keep the WAL: copy the files while the connection is open (as if the database was lost with its WAL beside)
    const wal = fs.readFileSync(`${file}-wal`);
    first.close();
    fs.renameSync(file, `${file}.damaged`);
    fs.writeFileSync(`${file}-wal`, wal);
    const fresh = Store.open(file);
    expect(fresh.schemaVersion).toBeGreaterThan(0);
    fresh.close();
    expect(fs.readdirSync(path.dirname(file)).some((f) => /^ckym\.db-wal\.orphan-\d+$/.test(f))).toBe(true);
  });
});
