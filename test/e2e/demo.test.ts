/** `npm run demo` — the README's "run it now" — works: login, counters add, sync, stats, all against the sandbox. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/harness.js';

describe('npm run demo', () => {
  it('goes through the whole journey and Metrica receives each upload once', () => {
    const result = spawnSync('npm', ['run', '--silent', 'demo'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const out = result.stdout;
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
