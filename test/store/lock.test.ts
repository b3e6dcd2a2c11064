/**
 * The sync lock: 0600, never through a link, never another user's; a lock another user's process holds is said
 * loudly (exit 1), not taken for "another sync is running" (exit 0).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ForeignOwnerError, LocalError } from '../../src/errors.js';
import { SyncLock, lockHolders } from '../../src/store/lock.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-lock-'));
  file = path.join(dir, 'sync.lock');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const root = process.getuid?.() === 0;
const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');

/** A process of another user (nobody) holding a read lock on `file` through SQLite, as any local user could. */
async function foreignHolder(target: string) {
  const script = `const D = require(${JSON.stringify(sqlite)}); const db = new D(${JSON.stringify(target)}, { readonly: true });
db.exec('BEGIN'); db.prepare('SELECT COUNT(*) FROM sqlite_master').get(); console.log('held'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => resolve());
    child.on('exit', (code) => reject(new Error(`the holder exited (${code})`)));
  });
  return child;
}

describe('SyncLock', () => {
  it('is created 0600; a second taker in this user gets null ("already running"); released, it is free', () => {
    const lock = SyncLock.tryAcquire(file)!;
    expect(lock).not.toBeNull();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(SyncLock.tryAcquire(file)).toBeNull();
    lock.release();
    const again = SyncLock.tryAcquire(file);
    expect(again).not.toBeNull();
    again!.release();
  });

  it('a link planted at sync.lock is refused, its target untouched', () => {
    const target = path.join(dir, 'target');
    fs.symlinkSync(target, file);
    expect(() => SyncLock.tryAcquire(file)).toThrow(LocalError);
    expect(() => SyncLock.tryAcquire(file)).toThrow(/^sync lock .*sync\.lock is a symbolic link/);
    expect(fs.existsSync(target)).toBe(false);
  });

  it.runIf(root)("a lock file of another user is refused loudly, not waited on", () => {
    fs.writeFileSync(file, '', { mode: 0o600 });
    fs.chownSync(file, 65534, 65534);
    expect(() => SyncLock.tryAcquire(file)).toThrow(/^sync lock .*sync\.lock belongs to another user \(uid 65534\)/);
  });

  it.runIf(root)("a data folder of another user: refused before a lock file is made in it (its owner could replace it)", () => {
    const folder = path.join(dir, 'home');
    fs.mkdirSync(folder, { mode: 0o700 });
    fs.chownSync(folder, 4242, 4242);
    const lockFile = path.join(folder, 'sync.lock');
    expect(() => SyncLock.tryAcquire(lockFile)).toThrow(LocalError);
    expect(() => SyncLock.tryAcquire(lockFile)).toThrow(
      new ForeignOwnerError(`data folder ${folder} belongs to another user (uid 4242), who could replace ckym's files in it; run ckym as that user (sudo -u '#4242' ckym …), or point CKYM_HOME at a folder of yours`),
    );
    expect(fs.readdirSync(folder)).toEqual([]);
  });

  it.runIf(root && fs.existsSync('/proc/locks'))(
    "held by another user's process (a lock file others could open, as older ckym made it): named and refused, not \"already running\"",
    async () => {
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(file, '');
      fs.chmodSync(file, 0o644);
      const holder = await foreignHolder(file);
      try {
        expect(lockHolders(file)).toEqual([{ pid: holder.pid, uid: 65534 }]);
        expect(() => SyncLock.tryAcquire(file)).toThrow(
          new RegExp(`^sync lock .*sync\\.lock is held by another user's process \\(pid ${holder.pid}, uid 65534\\), not by a ckym sync of yours; remove the file and run again`),
        );
        expect(fs.statSync(file).mode & 0o777).toBe(0o600); // and no one else can open it from now on
      } finally {
        holder.kill('SIGKILL');
      }
    },
  );
});
