import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LocalError } from '../errors.js';
import { storeError } from './store.js';

/**
 * One sync at a time per CKYM_HOME. The lock is an exclusive SQLite transaction on a small file of its own:
 * the operating system releases it when the holder exits in any way (kill -9 included), so a lock can
 * never go stale and nothing has to guess whether a recorded pid is still alive.
 */
export class SyncLock {
  private constructor(private readonly db: Database.Database) {}

  /** The lock, or null when another process holds it. A lock file that cannot be used is one clear error. */
  static tryAcquire(file: string): SyncLock | null {
    let db: Database.Database | null = null;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      db = new Database(file, { timeout: 0 });
      db.exec('BEGIN EXCLUSIVE');
      return new SyncLock(db);
    } catch (error) {
      db?.close();
      const code = (error as { code?: string }).code ?? '';
      if (code === 'SQLITE_BUSY') return null;
      if (code === 'SQLITE_NOTADB') {
        throw new LocalError(
          `sync lock ${file} is not a ckym lock file; move it away and run again (ckym recreates it)`,
          { cause: error },
        );
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
