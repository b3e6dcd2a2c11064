/**
 * The README's sync example works exactly as written: its block is extracted and run with bash,
 * against `ckym sandbox`'s emulators (`npm run sandbox`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/harness.js';

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const block = /<!-- readme-example:start -->\n```sh\n([\s\S]*?)```\n<!-- readme-example:end -->/.exec(readme)?.[1] ?? '';

let sandbox: ReturnType<typeof spawn>;
let sandboxOut = '';

beforeAll(async () => {
  for (const dir of ['/tmp/ckym-sandbox-home', '/tmp/ckym-preview']) fs.rmSync(dir, { recursive: true, force: true });
  sandbox = spawn(process.execPath, [path.join(ROOT, 'bin', 'ckym.js'), 'sandbox'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  sandbox.stdout!.on('data', (d: Buffer) => (sandboxOut += d.toString()));
  const start = Date.now();
  while (!sandboxOut.includes('CKYM_YANDEX_TOKEN')) {
    if (Date.now() - start > 15_000) throw new Error(`sandbox did not start: ${sandboxOut}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(() => {
  sandbox.kill('SIGTERM');
});

describe('README', () => {
  it('has the example block, and the sandbox prints the same environment it uses', () => {
    expect(block).toMatch(/node bin\/ckym\.js sync --config ckym\.config\.example\.json/);
    const printed = sandboxOut.split('\n').filter((l) => l.startsWith('export '));
    expect(printed.length).toBeGreaterThanOrEqual(4);
    for (const line of printed) {
      const [name, value] = line.slice('export '.length).split('=');
      if (block.includes(`${name}=`)) expect(block).toContain(`${name}=${value}`);
    }
    for (const name of ['CKYM_HOME', 'CKYM_CALLKEEPER_URL', 'CKYM_METRIKA_URL', 'CKYM_CALLKEEPER_KEY', 'CKYM_YANDEX_TOKEN']) {
      expect(block).toContain(`${name}=`);
      expect(printed.some((l) => l.startsWith(`export ${name}=`)), `the sandbox prints ${name}`).toBe(true);
    }
  });

  it('its sync example runs exactly as written: preview, upload, then nothing new', () => {
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' };
    const result = spawnSync('bash', ['-euo', 'pipefail', '-c', block], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.status).toBe(0);
    expect(fs.readdirSync('/tmp/ckym-preview').sort()).toEqual([
      '12345678-calls.csv',
      '12345678-conversions.csv',
      '87654321-calls.csv',
      '87654321-conversions.csv',
    ]);
    const [first, second] = result.stdout.trim().split('\n');
    expect(first).toMatch(/^sync: fetched \d+ calls .*12345678 .*: sent [1-9]\d* calls, [1-9]\d* conversions/);
    expect(second).toMatch(/12345678 .*: sent 0 calls.*87654321 .*: sent 0 calls/);
  });
});

describe('README sections that ckym names', () => {
  /** `README, "Section"` / `README "Section"` in ckym's messages and help. */
  const named = (): { file: string; section: string }[] =>
    fs
      .readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) =>
        [...fs.readFileSync(path.join(ROOT, 'src', f), 'utf8').matchAll(/README,? "([^"$]+)"/g)].map((m) => ({ file: f, section: m[1]! })),
      );
  const headings = readme.split('\n').filter((l) => /^#+ /.test(l)).map((l) => l.replace(/^#+ /, '').trim());

  it('exist: every section a message or a help text points to is a heading of README.md', () => {
    const found = named();
    expect(found.map((n) => n.section)).toContain('Register a Yandex OAuth app');
    for (const { file, section } of found) expect(headings, `src/${file} names README "${section}"`).toContain(section);
  });

  it('its own links to its sections (#anchor) lead somewhere', () => {
    const anchors = new Set(headings.map((h) => h.toLowerCase().replace(/[^\p{L}\p{N} -]/gu, '').replace(/ /g, '-')));
    for (const [, anchor] of readme.matchAll(/\]\(#([^)]+)\)/g)) expect(anchors, `#${anchor}`).toContain(anchor);
  });
});

