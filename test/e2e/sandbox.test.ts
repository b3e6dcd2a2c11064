/** `ckym sandbox` on a terminal: a progress line while it generates, then pasteable exports (CKYM_HOME too). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../support/harness.js';
import { spawnOnPty } from '../support/pty.js';

describe('ckym sandbox', () => {
  it('shows how far the generation got, prints the exports with CKYM_HOME (emptied), stops on Ctrl-C', async () => {
    // Its own temporary directory (TMPDIR), so the README test's sandbox home is left alone.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-sandbox-test-'));
    const SANDBOX_HOME = path.join(tmp, 'ckym-sandbox-home');
    fs.mkdirSync(SANDBOX_HOME, { recursive: true });
    fs.writeFileSync(path.join(SANDBOX_HOME, 'ckym.db'), 'left over from an earlier sandbox');
    const ports = '--callkeeper-port 0 --metrika-port 0 --oauth-port 0';
    const child = spawnOnPty(`node ${BIN} sandbox --calls 30000 --days 30 ${ports}`, {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', TERM: 'xterm', TMPDIR: tmp },
    });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const start = Date.now();
    while (!/# device codes are approved at \S+\/device/.test(screen)) {
      if (Date.now() - start > 60_000) throw new Error(`the sandbox did not start:\n${screen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(screen).toMatch(/generating 30000 calls over 30 days… 33%/);
    expect(screen).toMatch(/generating 30000 calls over 30 days… 66%/);
    const exports = screen.split(/\r?\n/).filter((l) => l.startsWith('export '));
    expect(exports[0]).toBe(`export CKYM_HOME=${SANDBOX_HOME}`);
    expect(exports.map((l) => l.split('=')[0])).toEqual([
      'export CKYM_HOME',
      'export CKYM_CALLKEEPER_URL',
      'export CKYM_METRIKA_URL',
      'export CKYM_OAUTH_URL',
      'export CKYM_LOGIN_URL',
      'export CKYM_CALLKEEPER_KEY',
      'export CKYM_YANDEX_TOKEN',
    ]);
    expect(fs.existsSync(path.join(SANDBOX_HOME, 'ckym.db'))).toBe(false);
    child.stdin.write('\u0003');
    expect(await closed).toBe(0);
    fs.rmSync(tmp, { recursive: true, force: true });
  }, 90_000);
});
