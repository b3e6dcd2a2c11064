/**
 * `npm run demo` — the README's "run it now" — works: login, counters add, sync, stats, all against the sandbox.
 * Run on a pseudo-terminal (util-linux `script`), as a person runs it: in colour, each command pasteable.
 */
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/harness.js';
import { spawnOnPty } from '../support/pty.js';

function onTerminal(command: string): Promise<{ code: number | null; screen: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm' };
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    const child = spawnOnPty(command, { cwd: ROOT, env });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
    child.on('close', (code) => resolve({ code, screen: screen.replace(/\r\n/g, '\n') }));
  });
}

describe('npm run demo', () => {
  it('goes through the whole journey and Metrica receives each upload once; commands pasteable, in colour', async () => {
    const result = await onTerminal('npm run --silent demo');
    expect(result.code).toBe(0);
    expect(result.screen).toMatch(/\u001b\[1m\$ ckym sync/); // its own lines in bold
    expect(result.screen).toMatch(/\u001b\[3\dm/); // and ckym's colours come through
    const out = result.screen.replace(/\u001b\[[0-9;]*m/g, '');
    expect(out).not.toMatch(/^demo: /m);
    // every printed command can be pasted into a shell as it is
    expect(out).toContain('$ ckym login --callkeeper-key sandbox0key00001 --no-browser');
    expect(out).toMatch(/\$ ckym counters add 87654321 .* --tag-callback 'Обратный звонок' .*--yes/);
    expect(out).toMatch(/connected: CallKeeper key sand…01, Yandex account sandbox-user/);
    expect(out).toMatch(/added counter 12345678/);
    expect(out).toMatch(/added counter 87654321/);
    const [, calls, conversions] = /\$ ckym sync\n\s+sync: .*12345678 shop\.example: sent (\d+) calls, (\d+) conversions/.exec(out) ?? [];
    expect(Number(calls)).toBeGreaterThan(0);
    // what stats says was sent equals what the emulator says it received
    expect(out).toContain(`counter 12345678: ${calls} calls`);
    expect(out).toContain(`counter 12345678: ${conversions} conversions`);
    expect(out).toMatch(/\$ ckym sync\n\s+sync: fetched \d+ calls \(0 new\).*sent 0 calls/);
    expect(out).toMatch(/done in [\d.]+ s: 4 uploads, each exactly once/);
  }, 130_000);
});
