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

/**
 * Every form a secret may be found in, written here independently of src/redact.ts (a check that reused ckym's
 * redactor would agree with its bugs): as it is, URL-encoded (upper- and lower-case hex, and the way
 * `encodeURI` leaves `/`, `+` and `=` alone), JSON-escaped (`JSON.stringify`, PHP's `\/`, all `\uXXXX`), and base64
 * (standard and URL alphabets) at each of the three byte offsets it can have inside a longer base64 text.
 */
export function secretForms(secret: string): { form: string; text: string }[] {
  const forms = new Map<string, string>();
  const add = (form: string, text: string) => {
    if (text.length >= 6 && !forms.has(text)) forms.set(text, form);
  };
  add('raw', secret);
  const url = encodeURIComponent(secret);
  add('URL-encoded', url);
  add('URL-encoded (lower-case hex)', url.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
  add('URL-encoded (encodeURI)', encodeURI(secret));
  add('form-encoded', new URLSearchParams({ s: secret }).toString().slice(2));
  const json = JSON.stringify(secret).slice(1, -1);
  add('JSON-escaped', json);
  add('JSON-escaped (PHP)', json.replace(/\//g, '\\/'));
  add('JSON \\u-escaped', [...secret].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''));
  const bytes = Buffer.from(secret, 'utf8');
  for (let offset = 0; offset < 3; offset++) {
    const b64 = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const inner = b64.slice(Math.ceil((offset * 8) / 6), Math.floor(((offset + bytes.length) * 8) / 6));
    if (inner.length < 8) continue;
    add(`base64 (offset ${offset})`, inner);
    add(`base64url (offset ${offset})`, inner.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...forms].map(([text, form]) => ({ form, text }));
}

/** Where each secret was found, in any of its forms (UTF-8 or UTF-16, as SQLite may store text either way); [] when nowhere. */
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
      for (const { form, text } of secretForms(secret)) {
        if (data.includes(Buffer.from(text, 'utf8')) || data.includes(Buffer.from(text, 'utf16le'))) {
          leaks.push(`a secret (${secret.slice(0, 3)}…, ${form}) in ${where}`);
        }
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
