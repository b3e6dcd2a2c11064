/**
 * Files ckym creates that hold what others must not read (phone numbers, the lock others could hold): created 0600,
 * never through a symbolic link someone planted at the path, never another user's.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ForeignOwnerError, LocalError } from './errors.js';

const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/**
 * Opens `file` (creating it 0600 when missing) without following a link, checks that it is a regular file of this
 * user, makes it 0600 if others could open it, and closes it again. Returns its stat (to check that what is opened
 * next by name is the same file). `what` names it in errors ("sync lock", "database").
 */
export function openPrivateFile(file: string, what: string): fs.Stats {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | NOFOLLOW, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw symlinkError(file, what, error);
    throw error;
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new LocalError(`${what} ${file} is not a regular file; move it away and run again`);
    const uid = process.getuid?.();
    if (uid !== undefined && stat.uid !== uid) {
      throw new LocalError(
        `${what} ${file} belongs to another user (uid ${stat.uid}), who could hold or change it; remove it and run again (ckym recreates it, readable by you only), and run ckym for one CKYM_HOME as one user`,
      );
    }
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) fs.fchmodSync(fd, 0o600);
    return stat;
  } finally {
    // Closed before SQLite takes its locks: closing any descriptor of a file drops the process's POSIX locks on it.
    fs.closeSync(fd);
  }
}

export function symlinkError(file: string, what: string, cause?: unknown): LocalError {
  return new LocalError(
    `${what} ${file} is a symbolic link; ckym does not follow links for its own files (one planted there could send its writes anywhere): remove the link, or point CKYM_HOME at the real directory`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The owner of what `stat` describes, when that is another user than the one running ckym: `uid 4242`, or
 * `alice, uid 1000` when the user has a name; null when it is ours (or on Windows, where there is no owner to check).
 * `rootToo`: a folder of root's is fine (only root can change it, and root can change anything anyway).
 */
export function foreignOwner(stat: fs.Stats, rootToo = false): { uid: number; name: string | null } | null {
  const uid = process.getuid?.();
  if (uid === undefined || stat.uid === uid || (rootToo && stat.uid === 0)) return null;
  return { uid: stat.uid, name: userName(stat.uid) };
}

/** The name /etc/passwd gives `uid`, or null (no such entry, or no such file). */
function userName(uid: number): string | null {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id === String(uid)) return name;
    }
  } catch {
    // no passwd file: the uid alone names the user
  }
  return null;
}

/** The running user's name for chown (its uid when it has none). */
function me(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.());
  }
}

const ownerText = (owner: { uid: number; name: string | null }): string => (owner.name ? `${owner.name}, uid ${owner.uid}` : `uid ${owner.uid}`);
const runAs = (owner: { uid: number; name: string | null }): string => `sudo -u ${owner.name ?? `'#${owner.uid}'`} ckym …`;

/**
 * A file of ckym's record (the database, or a -wal/-shm/-journal SQLite applies to it) that belongs to another user:
 * refused, never used — that user could change the record of what was sent, and ckym writing to it would leave files
 * of the wrong owner beside it. `all` is what to chown to take it over (the database and its side files).
 */
export function checkOwnRecordFile(file: string, stat: fs.Stats, what: string, all: string): void {
  checkOwnFile(file, stat, `${what} ${file} belongs`, "could change ckym's record of what was sent", `${all}*`);
}

/**
 * A file ckym trusts that belongs to another user: refused, never read. `subject` names it ("credentials … belong"),
 * `could` says what its owner could do, `chown` is what to take over.
 */
export function checkOwnFile(file: string, stat: fs.Stats, subject: string, could: string, chown = file): void {
  const owner = foreignOwner(stat);
  if (!owner) return;
  throw new ForeignOwnerError(
    `${subject} to another user (${ownerText(owner)}), who ${could}; run ckym as that user (${runAs(owner)}), or, if it is yours to take over, run "chown ${me()} ${chown}"`,
  );
}

/**
 * The folder ckym keeps its database and lock in must be this user's (or root's): the owner of a folder can replace
 * any file in it. Refused before anything is created there. A folder that is not there yet is fine (ckym makes it).
 */
export function checkOwnFolder(dir: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir); // a CKYM_HOME that is a link to a folder is the user's choice: its target is checked
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const owner = foreignOwner(stat, true);
  if (!owner) return;
  throw new ForeignOwnerError(
    `data folder ${dir} belongs to another user (${ownerText(owner)}), who could replace ckym's files in it; run ckym as that user (${runAs(owner)}), or point CKYM_HOME at a folder of yours`,
  );
}

/** `mode 644` when group or others can read or write `file`; null when it is private (or absent, or on Windows). */
export function openToOthers(file: string): string | null {
  if (process.platform === 'win32') return null;
  try {
    const mode = fs.statSync(file).mode & 0o777;
    return (mode & 0o077) !== 0 ? mode.toString(8) : null;
  } catch {
    return null;
  }
}

/** Writes `content` to `file` as a private file (0600, replacing what is there, never through a link). */
export function writePrivateFile(file: string, content: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkError(file, 'file', error);
    throw new LocalError(`cannot write ${file}: ${fileProblem(error)}`, { cause: error });
  }
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeFileSync(fd, content);
  } catch (error) {
    throw new LocalError(`cannot write ${file}: ${fileProblem(error)}`, { cause: error });
  } finally {
    fs.closeSync(fd);
  }
}

/** A file-system error as a few words and the fix (never a stack). */
export function fileProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const problems: Record<string, string> = {
    ENOSPC: 'the disk is full; free some space and try again',
    EDQUOT: 'the disk quota is used up; free some space and try again',
    EROFS: 'the file system is read-only; point CKYM_HOME at a writable directory',
    EACCES: 'permission denied; check the permissions of CKYM_HOME (or point CKYM_HOME elsewhere)',
    EPERM: 'the operation is not permitted (an immutable file or directory?); check CKYM_HOME',
    EEXIST: 'a file of that name is in the way (another login running?); remove it and try again',
    ELOOP: 'it is a symbolic link; ckym does not follow links there: remove it and try again',
    ENOTDIR: 'a part of the path is not a directory; check CKYM_HOME',
    EISDIR: 'it is a directory; move it away',
    EIO: 'a disk error occurred; check the disk',
  };
  const problem = problems[code];
  return problem ? `${problem} (${code})` : (error as Error).message ?? String(error);
}
