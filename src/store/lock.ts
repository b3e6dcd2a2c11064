import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LocalError } from '../errors.js';
import { storeError } from './store.js';
import { checkOwnFolder, openPrivateFile } from '../files.js';

/**
 * One sync at a time per CKYM_HOME. The lock is an exclusive SQLite transaction on a small file of its own:
 * the operating system releases it when the holder exits in any way (kill -9 included), so a lock can
 * never go stale and nothing has to guess whether a recorded pid is still alive.
 *
 * The file is this user's alone (0600, created without following a link): a lock file others can open could be
 * held by another user's process, and every sync would then say "already running" and do nothing, for ever. So a
 * lock file of another user is refused, one of ours that others could open is made 0600, and when the lock is
 * busy, a holder that is another user's process (Linux: /proc/locks) is named and refused rather than taken for a
 * running sync. A folder of another user (who could replace the file) is refused before the file is made.
 */
export class SyncLock {
  private constructor(private readonly db: Database.Database) {}

  /** The lock, or null when another sync of this user holds it. A lock file that cannot be used is one clear error. */
  static tryAcquire(file: string): SyncLock | null {
    let db: Database.Database | null = null;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      checkOwnFolder(path.dirname(file));
      const checked = openPrivateFile(file, 'sync lock');
      db = new Database(file, { timeout: 0 });
      // The file SQLite opened by name is the one just checked (nobody swapped it in between).
      const now = fs.lstatSync(file);
      if (now.ino !== checked.ino || now.dev !== checked.dev) {
        throw new LocalError(`sync lock ${file} was replaced while ckym opened it; check who else writes to ${path.dirname(file)}`);
      }
      db.exec('BEGIN EXCLUSIVE');
      return new SyncLock(db);
    } catch (error) {
      db?.close();
      if (error instanceof LocalError) throw error;
      const code = (error as { code?: string }).code ?? '';
      if (code === 'SQLITE_BUSY') {
        const foreign = lockHolders(file).find((h) => h.uid !== process.getuid?.());
        if (foreign) {
          throw new LocalError(
            `sync lock ${file} is held by another user's process (pid ${foreign.pid}, uid ${foreign.uid}), not by a ckym sync of yours; remove the file and run again (ckym recreates it, readable by you only)`,
          );
        }
        return null;
      }
      if (code === 'SQLITE_NOTADB') {
        throw new LocalError(`sync lock ${file} is not a ckym lock file; move it away and run again (ckym recreates it)`, { cause: error });
      }
      const mapped = storeError(file, error);
      if (mapped instanceof LocalError) throw new LocalError(`sync lock: ${mapped.message}`, { cause: error });
      throw mapped;
    }
  }

  release(): void {
    if (!this.db.open) return;
    try {
      this.db.exec('ROLLBACK');
    } finally {
      this.db.close();
    }
  }
}

/** The processes holding a POSIX lock on `file`, with their user (Linux only; [] where /proc cannot tell). */
export function lockHolders(file: string): { pid: number; uid: number }[] {
  let stat: fs.Stats;
  let locks: string;
  try {
    stat = fs.statSync(file);
    locks = fs.readFileSync('/proc/locks', 'utf8');
  } catch {
    return [];
  }
  // /proc/locks names a file as MAJOR:MINOR:INODE, the device numbers in hex (glibc's major()/minor() of st_dev).
  const dev = BigInt(stat.dev);
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${stat.ino}`;
  const holders: { pid: number; uid: number }[] = [];
  for (const line of locks.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const at = fields.indexOf(id);
    if (at < 1) continue;
    const pid = Number(fields[at - 1]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      holders.push({ pid, uid: fs.statSync(`/proc/${pid}`).uid });
    } catch {
      // gone meanwhile
    }
  }
  return holders;
}
