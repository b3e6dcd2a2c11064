import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * One sync at a time per CKYM_HOME. The lock is an exclusive SQLite transaction on a small file of its own:
 * the operating system releases it when the holder exits in any way (kill -9 included), so a lock can
 * never go stale and nothing has to guess whether a recorded pid is still alive.
 */
export class SyncLock {
  private constructor(private readonly db: Database.Database) {}

  /** The lock, or null when another process holds it. */
  static tryAcquire(file: string): SyncLock | null {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const db = new Database(file, { timeout: 0 });
    try {
      db.exec('BEGIN EXCLUSIVE');
      return new SyncLock(db);
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') return null;
      throw error;
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
