/**
 * `ckym cron` end to end: the printed line, `--install` into a fake `crontab` (a script on PATH that keeps
 * the table in a file), and the line itself run through /bin/sh as cron would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { BIN, makeWorld, type World } from '../support/harness.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const CALLS = generateCalls({ count: 300, seed: 31337, nowUnix: NOW_UNIX, days: 3 });
const COUNTER = { id: 12345678, name: 'shop.example', callType: 'all', goal: '', sites: [] };

let world: World;
let fakeBin: string;
let table: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  world = await makeWorld({
    calls: CALLS,
    counters: [{ id: COUNTER.id, name: COUNTER.name, site: COUNTER.name }],
    config: { counters: [COUNTER], network: { retries: 1, backoffSeconds: 0.01, timeoutSeconds: 5 } },
    nowIso: NOW,
  });
  fakeBin = path.join(world.home, 'fake-bin');
  table = path.join(world.home, 'crontab.txt');
  fs.mkdirSync(fakeBin);
  // Like Vixie/cronie crontab: -l prints the table or "no crontab for USER" (exit 1); "-" reads a new one from stdin.
  fs.writeFileSync(
    path.join(fakeBin, 'crontab'),
    `#!/bin/sh
TABLE="${table}"
case "$1" in
  -l) if [ -f "$TABLE" ]; then cat "$TABLE"; else echo "no crontab for tester" >&2; exit 1; fi ;;
  -) cat > "$TABLE" ;;
  *) echo "usage: crontab [-l | -]" >&2; exit 2 ;;
esac
`,
    { mode: 0o755 },
  );
  env = { PATH: `${fakeBin}:${process.env.PATH}` };
});
beforeEach(() => fs.rmSync(table, { force: true }));
afterAll(() => world.close());

const ckymLines = () => fs.readFileSync(table, 'utf8').split('\n').filter((l) => l.endsWith('# ckym'));

describe('ckym cron', () => {
  it('prints one crontab line with absolute paths, the config, sync --quiet and the log', async () => {
    const r = await world.run(['cron', '--every', '15m'], env);
    expect(r.code).toBe(0);
    const home = world.env.CKYM_HOME!;
    expect(r.stdout).toBe(
      `*/15 * * * * CKYM_HOME=${home} ${process.execPath} ${fs.realpathSync(BIN)} --config ${world.configPath} sync --quiet >> ${path.join(home, 'ckym.log')} 2>&1 # ckym\n`,
    );
    expect(r.stderr).toMatch(/crontab -e/);
    expect(fs.existsSync(table)).toBe(false); // printing installs nothing
  });

  it('accepts Nm, Nh and 1d; anything else is exit 2 listing the accepted forms', async () => {
    for (const [every, fields] of [
      ['5m', '*/5 * * * *'],
      ['1m', '* * * * *'],
      ['1h', '0 * * * *'],
      ['6h', '0 */6 * * *'],
      ['1d', '0 3 * * *'],
    ]) {
      const r = await world.run(['cron', '--every', every!], env);
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith(`${fields} `)).toBe(true);
    }
    for (const bad of ['7m', '0m', '60m', '5h', '2d', 'hourly', '15']) {
      const r = await world.run(['cron', '--every', bad], env);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toMatch(/^ckym: --every: expected Nm with N one of 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30; Nh with N one of 1, 2, 3, 4, 6, 8, 12; or 1d/);
    }
  });

  it('--log changes the log file (relative to the working directory)', async () => {
    const r = await world.run(['cron', '--log', 'logs/sync.log'], env);
    expect(r.stdout).toMatch(new RegExp(` >> ${path.join(world.home, 'logs', 'sync.log').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} 2>&1 # ckym\\n$`));
  });

  it('--install adds the line once, keeps other entries, and replaces its own on a change', async () => {
    fs.writeFileSync(table, 'MAILTO=ops@example.com\n0 1 * * * /usr/bin/backup\n');
    const first = await world.run(['cron', '--install'], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^added to your crontab:\n\*\/15 \* \* \* \* /);
    expect(ckymLines()).toHaveLength(1);

    const again = await world.run(['cron', '--install'], env);
    expect(again.stdout).toMatch(/^already in your crontab; nothing changed/);
    expect(ckymLines()).toHaveLength(1);

    const hourly = await world.run(['cron', '--install', '--every', '1h'], env);
    expect(hourly.stdout).toMatch(/^replaced the earlier ckym line in your crontab:\n0 \* \* \* \* /);
    const text = fs.readFileSync(table, 'utf8');
    expect(text.startsWith('MAILTO=ops@example.com\n0 1 * * * /usr/bin/backup\n0 * * * * ')).toBe(true);
    expect(ckymLines()).toHaveLength(1);
  });

  it('--install with no crontab yet ("no crontab for user") creates one; --json says what happened', async () => {
    const r = await world.run(['cron', '--install', '--json'], env);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { version: number; command: string; action: string; line: string; schedule: string };
    expect(doc).toMatchObject({ version: 1, command: 'cron', action: 'added', schedule: '*/15 * * * *' });
    expect(fs.readFileSync(table, 'utf8')).toBe(`${doc.line}\n`);
  });

  it('a crontab that fails otherwise is exit 1 with its message', async () => {
    const broken = path.join(world.home, 'broken-bin');
    fs.mkdirSync(broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'crontab'), '#!/bin/sh\necho "crontab: permission denied" >&2\nexit 1\n', { mode: 0o755 });
    const r = await world.run(['cron', '--install'], { PATH: `${broken}:${process.env.PATH}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\nckym: crontab -l failed: crontab: permission denied\n$/);
  });

  it('the installed command works when /bin/sh runs it the way cron does', async () => {
    await world.run(['cron', '--install'], env);
    const line = ckymLines()[0]!;
    const command = line.split(' ').slice(5).join(' ').replace(/ # ckym$/, '');
    // cron's environment: no CKYM_HOME from the shell (the line sets it), the test's service URLs and keys
    const { CKYM_HOME: _, ...rest } = world.env;
    // (not spawnSync: the emulators live in this process and must keep answering)
    const status = await new Promise<number | null>((resolve) => {
      spawn('/bin/sh', ['-c', command], { env: rest, cwd: '/', stdio: 'ignore' }).on('close', resolve);
    });
    const log = fs.readFileSync(path.join(world.env.CKYM_HOME!, 'ckym.log'), 'utf8');
    expect(status, log).toBe(0);
    expect(log).toBe(''); // --quiet: nothing on success
    expect(world.metrika.rows(COUNTER.id, 'calls').length).toBeGreaterThan(0);
  });

  it('without a config file: exit 2', async () => {
    const r = await world.run(['--config', path.join(world.home, 'nope.json'), 'cron'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config file not found/);
  });
});
