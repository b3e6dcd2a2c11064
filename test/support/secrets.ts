/**
 * The secrets check every harness world ends with: no secret in anything a spawned ckym printed, nor in any
 * file under the world's home (database, WAL, logs, CSVs, config) but the credentials file itself.
 */
import fs from 'node:fs';
import path from 'node:path';

/** How much the checks looked at, in this test process (printed for docs/RELIABILITY.md). */
export const secretScans = { worlds: 0, outputs: 0, files: 0, bytes: 0 };

export interface Scannable {
  home: string;
  env: NodeJS.ProcessEnv;
  transcript: string[];
}

/** Where each secret was found (UTF-8 or UTF-16, as SQLite may store text either way); [] when nowhere. */
export function findSecrets(world: Scannable, secrets: Iterable<string>): string[] {
  const list = [...new Set(secrets)].filter((s) => s.length >= 6);
  const credentials = world.env.CKYM_HOME ? path.join(world.env.CKYM_HOME, 'credentials.json') : null;
  const blobs: { where: string; data: Buffer }[] = world.transcript.map((t, i) => ({ where: `output #${i}`, data: Buffer.from(t) }));
  secretScans.outputs += world.transcript.length;
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.isFile() && file !== credentials && !(credentials && file.startsWith(`${credentials}.`) && file.endsWith('.tmp'))) {
        blobs.push({ where: file, data: fs.readFileSync(file) });
        secretScans.files++;
      }
    }
  };
  walk(world.home);
  const leaks: string[] = [];
  for (const { where, data } of blobs) {
    secretScans.bytes += data.length;
    for (const secret of list) {
      if (data.includes(Buffer.from(secret, 'utf8')) || data.includes(Buffer.from(secret, 'utf16le'))) {
        leaks.push(`a secret (${secret.slice(0, 3)}…) in ${where}`);
      }
    }
  }
  secretScans.worlds++;
  return leaks;
}

/** "secrets: 12 worlds, 40 outputs and 31 files (2.1 MiB) checked, 0 leaks" — a leak fails the test that closes the world. */
export function scanSummary(): string {
  return `secrets: ${secretScans.worlds} worlds, ${secretScans.outputs} outputs and ${secretScans.files} files (${(secretScans.bytes / 1048576).toFixed(1)} MiB) checked, 0 leaks`;
}
