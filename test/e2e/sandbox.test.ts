/** `ckym sandbox` on a terminal: a progress line while it generates, then pasteable exports (CKYM_HOME too). */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
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

  it('a second sandbox whose port is taken says so (exit 2) and leaves the running one\'s CKYM_HOME alone (audit)', async () => {
    // The running sandbox's home holds the user's database; the second one used to empty it before finding its
    // port taken, then stop.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-sandbox-test-'));
    const home = path.join(tmp, 'ckym-sandbox-home');
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(path.join(home, 'ckym.db'), 'the running sandbox\'s database');
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const r = spawnSync(process.execPath, [BIN, 'sandbox', '--calls', '10', '--callkeeper-port', String(port), '--metrika-port', '0', '--oauth-port', '0'], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1', TMPDIR: tmp },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(r.stderr).toMatch(/^ckym: a sandbox port is in use .*; stop the other sandbox or pick ports with/m);
      expect(r.status).toBe(2);
      expect(fs.readFileSync(path.join(home, 'ckym.db'), 'utf8')).toBe('the running sandbox\'s database');
    } finally {
      busy.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 90_000);
});
