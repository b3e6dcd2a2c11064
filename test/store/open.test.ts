/**
 * Opening the database: created 0600 with its schema in place, never through a link, and an existing file that is
 * empty or has no ckym schema refused as damaged (exit 2), never taken for a new install.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, LocalError } from '../../src/errors.js';
import { Store } from '../../src/store/store.js';
import { MIGRATIONS } from '../../src/store/migrations.js';

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

/** What went wrong, or null. */
async function failure(f: () => unknown): Promise<Error | null> {
  try {
    await f();
  } catch (e) {
    return e as Error;
  }
  return null;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A ckym database at `at` with uncheckpointed writes in its -wal (copied while the writer was open), and its installation id. */
function databaseWithWal(at: string): string {
  const writer = Store.open(path.join(dir, 'writer', 'ckym.db'));
  const id = writer.installationId();
  writer.startRun(1, 0);
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.copyFileSync(writer.file, at);
  fs.copyFileSync(`${writer.file}-wal`, `${at}-wal`);
  writer.close();
  return id;
}

describe('Store.openCopy: a dry run\'s private copy (mutation testing)', () => {
  let tmp: string;
  let saved: string | undefined;
  beforeEach(() => {
    // the copies go in a folder of this test's own, so that what is left behind can be seen
    saved = process.env['TMPDIR'];
    tmp = path.join(dir, 'tmp');
    fs.mkdirSync(tmp);
    process.env['TMPDIR'] = tmp;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  });

  it('copies what the source holds, its -wal included, reading it only: the -wal stays as it was; closing removes the copy\'s folder', async () => {
    const id = databaseWithWal(file);
    const wal = fs.readFileSync(`${file}-wal`);
    const source = fs.readFileSync(file);
    const copy = await Store.openCopy(file);
    expect(copy.installationId()).toBe(id);
    expect(path.dirname(path.dirname(copy.file))).toBe(tmp);
    copy.close();
    expect(fs.readdirSync(tmp)).toEqual([]);
    // a writable open would have folded the -wal into the database when it closed
    expect(fs.readFileSync(`${file}-wal`).equals(wal)).toBe(true);
    expect(fs.readFileSync(file).equals(source)).toBe(true);
  });

  it('closes the source: the next writer is the last connection, and folds its -wal in when it closes', async () => {
    Store.open(file).close();
    (await Store.openCopy(file)).close();
    const writer = Store.open(file);
    writer.startRun(1, 0);
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
    writer.close();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  });

  it('a source without ckym tables is refused by its own name, and no copy is left behind', async () => {
    fs.mkdirSync(path.dirname(file));
    const other = new Database(file);
    other.exec('CREATE TABLE notes (text TEXT)');
    other.close();
    const error = await failure(() => Store.openCopy(file));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.message).toMatch(new RegExp(`^database ${escape(file)} has no ckym tables \\(it is damaged, or not a ckym database\\): `));
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('a database path that cannot be looked at (its folder is a file) is an error, not "no database yet"', async () => {
    fs.writeFileSync(path.join(dir, 'home'), 'not a folder');
    const error = await failure(() => Store.openCopy(file));
    expect((error as NodeJS.ErrnoException | null)?.code).toBe('ENOTDIR');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});

describe('checkDatabaseFile and the schema check (mutation testing)', () => {
  it('a link planted at -shm or -journal is refused by name, as at -wal', () => {
    const target = path.join(dir, 'elsewhere');
    Store.open(file).close();
    for (const suffix of ['-shm', '-journal']) {
      for (const s of ['-wal', '-shm', '-journal']) fs.rmSync(`${file}${s}`, { force: true });
      fs.symlinkSync(target, `${file}${suffix}`);
      expect(() => Store.open(file), suffix).toThrow(new RegExp(`^database file ${escape(file)}${suffix} is a symbolic link`));
      expect(fs.existsSync(target)).toBe(false);
    }
  });

  it('a folder at the database path is refused as no regular file', () => {
    fs.mkdirSync(file, { recursive: true });
    for (const readonly of [false, true]) {
      expect(() => Store.open(file, { readonly })).toThrow(new LocalError(`database ${file} is not a regular file; move it away, or point CKYM_HOME elsewhere`));
    }
  });

  it('a database at schema 1 is ckym\'s: migrated, not refused', () => {
    fs.mkdirSync(path.dirname(file));
    const v1 = new Database(file);
    v1.exec(MIGRATIONS[0]!);
    v1.pragma('user_version = 1');
    v1.close();
    const store = Store.open(file);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    store.close();
  });

  it('ckym\'s tables without a schema version, or a schema version without all of ckym\'s tables, are no ckym database', () => {
    fs.mkdirSync(path.dirname(file));
    const noVersion = new Database(file);
    noVersion.exec(MIGRATIONS[0]!);
    noVersion.close();
    expect(() => Store.open(file)).toThrow(/has no ckym tables/);
    fs.rmSync(file);
    const fewTables = new Database(file);
    fewTables.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE calls (id TEXT)`);
    fewTables.pragma('user_version = 3');
    fewTables.close();
    expect(() => Store.open(file)).toThrow(/has no ckym tables/);
    const db = new Database(file, { readonly: true });
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1`).pluck().all()).toEqual(['calls', 'meta']);
    db.close();
  });
});

describe('createDatabase: a new database is built aside and put in place (mutation testing)', () => {
  afterEach(() => vi.restoreAllMocks());
  const leftovers = () => fs.readdirSync(path.dirname(file)).filter((f) => f !== 'ckym.db');

  it('a -shm left without its database is kept aside as well, named for what it was', () => {
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(`${file}-shm`, 'stale index');
    Store.open(file).close();
    const aside = fs.readdirSync(path.dirname(file)).filter((f) => /^ckym\.db-shm\.orphan-\d+$/.test(f));
    expect(aside).toHaveLength(1);
    expect(fs.readFileSync(path.join(path.dirname(file), aside[0]!), 'utf8')).toBe('stale index');
  });

  it('a temporary file left by a crashed creation (same process id) is cleared first', () => {
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(`${file}.${process.pid}.new`, 'half-built');
    const store = Store.open(file);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    store.close();
    expect(leftovers()).toEqual([]);
  });

  it('another process that put its database in place meanwhile wins: its database and its -wal are kept, ours dropped', () => {
    const theirs = path.join(dir, 'theirs', 'ckym.db');
    const id = databaseWithWal(theirs);
    const openSync = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation((p, ...rest) => {
      if (String(p).endsWith('.new') && !fs.existsSync(file)) {
        // the other process: its database appears while this one builds its own
        fs.copyFileSync(theirs, file);
        fs.copyFileSync(`${theirs}-wal`, `${file}-wal`);
      }
      return openSync(p, ...(rest as [fs.OpenMode, fs.Mode]));
    });
    fs.mkdirSync(path.dirname(file));
    const store = Store.open(file);
    expect(store.installationId()).toBe(id);
    store.close();
    expect(leftovers()).toEqual([]);
  });

  it.each(['EPERM', 'ENOTSUP', 'EOPNOTSUPP'])('a file system without hard links (link fails %s): the new database is renamed into place', (code) => {
    vi.spyOn(fs, 'linkSync').mockImplementation(() => {
      throw Object.assign(new Error(`${code}: link not supported`), { code });
    });
    const store = Store.open(file);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    store.close();
    expect(leftovers()).toEqual([]);
  });

  it('any other failure to put it in place is an error, and nothing is left at the path', () => {
    vi.spyOn(fs, 'linkSync').mockImplementation(() => {
      throw Object.assign(new Error('EIO: i/o error, link'), { code: 'EIO' });
    });
    expect(() => Store.open(file)).toThrow('EIO: i/o error, link');
    expect(fs.readdirSync(path.dirname(file))).toEqual([]);
  });
});

describe("a database of another user (issue 13: its owner could change ckym's record of what was sent)", () => {
  // Giving a file away needs root; CI runs as root, so these run there (skipped only for a developer who is not).
  const root = process.getuid?.() === 0;
  const refusal = (f: string, uid: number) =>
    new RegExp(`^database ${escape(f)} belongs to another user \\(uid ${uid}\\), who could change ckym's record of what was sent; run ckym as that user \\(sudo -u '#${uid}' ckym …\\), or, if it is yours to take over, run "chown \\S+ ${escape(file)}\\*"$`);

  it.runIf(root)('is refused by a sync, a read (stats, doctor) and a dry run alike, and left as it is (exit 1)', async () => {
    Store.open(file).close();
    fs.chownSync(file, 4242, 4242);
    const before = fs.readFileSync(file);
    for (const readonly of [false, true]) {
      const error = await failure(() => Store.open(file, { readonly }));
      expect(error).toBeInstanceOf(LocalError);
      expect(error?.message).toMatch(refusal(file, 4242));
    }
    await expect(Store.openCopy(file)).rejects.toThrow(refusal(file, 4242));
    expect(fs.statSync(file).uid).toBe(4242);
    expect(fs.readFileSync(file)).toEqual(before);
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['ckym.db']);
  });

  it.runIf(root)('a -wal or -shm of another user beside a database of ours is refused too (SQLite applies them to it)', async () => {
    Store.open(file).close();
    for (const suffix of ['-wal', '-shm', '-journal']) {
      for (const s of ['-wal', '-shm', '-journal']) fs.rmSync(`${file}${s}`, { force: true });
      fs.writeFileSync(`${file}${suffix}`, '');
      fs.chownSync(`${file}${suffix}`, 4242, 4242);
      const error = await failure(() => Store.open(file, { readonly: true }));
      expect(error, suffix).toBeInstanceOf(LocalError);
      expect(error?.message, suffix).toMatch(new RegExp(`^database file ${escape(file)}${suffix} belongs to another user \\(uid 4242\\)`));
    }
  });

  it.runIf(root)("a data folder of another user is refused before anything is created in it; a folder of root's is not", async () => {
    const folder = path.dirname(file);
    fs.mkdirSync(folder, { mode: 0o700 });
    fs.chownSync(folder, 4242, 4242);
    const error = await failure(() => Store.open(file));
    expect(error).toBeInstanceOf(LocalError);
    expect(error?.message).toBe(
      `data folder ${folder} belongs to another user (uid 4242), who could replace ckym's files in it; run ckym as that user (sudo -u '#4242' ckym …), or point CKYM_HOME at a folder of yours`,
    );
    expect(fs.readdirSync(folder)).toEqual([]);
    fs.chownSync(folder, 0, 0); // root's (this test runs as root; for another user a root-owned folder is accepted alike)
    Store.open(file).close();
    expect(fs.statSync(file).uid).toBe(0);
  });
});
