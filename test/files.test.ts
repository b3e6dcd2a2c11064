import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ForeignOwnerError, LocalError } from '../src/errors.js';
import { checkOwnFolder, checkOwnRecordFile, openPrivateFile, openToOthers, writePrivateFile } from '../src/files.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-files-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const mode = (file: string) => fs.statSync(file).mode & 0o777;
const root = process.getuid?.() === 0;

describe('private files', () => {
  it('openPrivateFile creates 0600, and makes a file of ours that others could open 0600', () => {
    const file = path.join(dir, 'sync.lock');
    openPrivateFile(file, 'sync lock');
    expect(mode(file)).toBe(0o600);
    fs.chmodSync(file, 0o644); // as an older ckym left it
    openPrivateFile(file, 'sync lock');
    expect(mode(file)).toBe(0o600);
    expect(openToOthers(file)).toBeNull();
  });

  it('never follows a link planted at the path', () => {
    const target = path.join(dir, 'victim');
    fs.writeFileSync(target, 'untouched', { mode: 0o644 });
    const link = path.join(dir, 'sync.lock');
    fs.symlinkSync(target, link);
    expect(() => openPrivateFile(link, 'sync lock')).toThrow(LocalError);
    expect(() => openPrivateFile(link, 'sync lock')).toThrow(/^sync lock .*sync\.lock is a symbolic link; ckym does not follow links/);
    expect(() => writePrivateFile(link, 'phone numbers')).toThrow(/is a symbolic link/);
    expect(fs.readFileSync(target, 'utf8')).toBe('untouched');
    expect(mode(target)).toBe(0o644);
    fs.symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'dangling'));
    expect(() => openPrivateFile(path.join(dir, 'dangling'), 'sync lock')).toThrow(/is a symbolic link/);
    expect(fs.existsSync(path.join(dir, 'nowhere'))).toBe(false);
  });

  it.runIf(root)("refuses another user's file", () => {
    const file = path.join(dir, 'sync.lock');
    fs.writeFileSync(file, '', { mode: 0o600 });
    fs.chownSync(file, 4242, 4242);
    expect(() => openPrivateFile(file, 'sync lock')).toThrow(/^sync lock .* belongs to another user \(uid 4242\), who could hold or change it; remove it and run again/);
  });

  // (Debian, CI included, names uid 65534 "nobody" in /etc/passwd; 4242 has no name there)
  const nobody = fs.readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.startsWith('nobody:x:65534:'));
  it.runIf(root && nobody)('names the owner of a database or folder of another user by its name when it has one, and says how to run as them', () => {
    const file = path.join(dir, 'ckym.db');
    fs.writeFileSync(file, '', { mode: 0o600 });
    fs.chownSync(file, 65534, 65534);
    expect(() => checkOwnRecordFile(file, fs.lstatSync(file), 'database', file)).toThrow(
      new ForeignOwnerError(`database ${file} belongs to another user (nobody, uid 65534), who could change ckym's record of what was sent; run ckym as that user (sudo -u nobody ckym …), or, if it is yours to take over, run "chown root ${file}*"`),
    );
    fs.chownSync(dir, 65534, 65534);
    expect(() => checkOwnFolder(dir)).toThrow(/^data folder \S+ belongs to another user \(nobody, uid 65534\), who could replace ckym's files in it; run ckym as that user \(sudo -u nobody ckym …\)/);
    fs.chownSync(dir, 0, 0);
    expect(() => checkOwnFolder(dir)).not.toThrow();
    expect(() => checkOwnFolder(path.join(dir, 'not yet'))).not.toThrow(); // made by ckym when it is needed
  });

  it('writePrivateFile writes 0600, also over an existing file others could read', () => {
    const file = path.join(dir, 'preview.csv');
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    expect(openToOthers(file)).toBe('644');
    writePrivateFile(file, 'PhoneNumber\n+79991234567\n');
    expect(mode(file)).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe('PhoneNumber\n+79991234567\n');
  });
});
