/**
 * `ckym cron`: schedules, the line, merging into a crontab (pure), and the command in-process with a fake crontab.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { ckymBin } from '../../src/commands/cron/run.js';
import { cronCommand, cronLine, crontabEscape, isCkymLine, mergeCrontab, parseEvery } from '../../src/commands/cron/schedule.js';
import { shellQuote } from '../../src/cli/shell.js';
import { ROOT } from '../support/harness.js';
import { argv, memoryIO } from './io.js';

describe('parseEvery', () => {
  it('minutes that divide the hour, hours that divide the day, and 1d', () => {
    expect(parseEvery('15m')).toEqual({ every: '15m', expression: '*/15 * * * *' });
    expect(parseEvery(' 1m ')).toEqual({ every: '1m', expression: '* * * * *' });
    expect(parseEvery('30M')).toEqual({ every: '30m', expression: '*/30 * * * *' });
    expect(parseEvery('1h')).toEqual({ every: '1h', expression: '0 * * * *' });
    expect(parseEvery('12h')).toEqual({ every: '12h', expression: '0 */12 * * *' });
    expect(parseEvery('1d')).toEqual({ every: '1d', expression: '0 3 * * *' });
  });

  it('refuses what cron cannot repeat evenly', () => {
    for (const bad of ['7m', '0m', '45m', '60m', '90m', '5h', '24h', '2d', '0d', '15', 'm', '15 minutes', '-5m', '1.5h', '']) {
      expect(parseEvery(bad), bad).toBeNull();
    }
  });
});

describe('the line', () => {
  const parts = {
    schedule: parseEvery('15m')!,
    node: '/usr/bin/node',
    bin: '/opt/ckym/bin/ckym.js',
    config: '/etc/ckym/ckym.config.json',
    log: '/var/log/ckym.log',
    ckymHome: null,
  };

  it('absolute paths, the config, sync --quiet, appended to the log, marked', () => {
    expect(cronLine(parts)).toBe(
      '*/15 * * * * /usr/bin/node /opt/ckym/bin/ckym.js --config /etc/ckym/ckym.config.json sync --quiet >> /var/log/ckym.log 2>&1 # ckym',
    );
    expect(cronCommand({ ...parts, ckymHome: '/srv/ckym' })).toMatch(/^CKYM_HOME=\/srv\/ckym \/usr\/bin\/node /);
  });

  it('quotes what the shell would split, escapes % for cron', () => {
    expect(shellQuote('/home/me/My Files/ckym.json')).toBe(`'/home/me/My Files/ckym.json'`);
    expect(shellQuote(`/it's`)).toBe(`'/it'\\''s'`);
    expect(crontabEscape('a%b')).toBe('a\\%b');
    const line = cronLine({ ...parts, config: '/home/me/100% sure/ckym.config.json', ckymHome: '/home/me/ckym home' });
    expect(line).toBe(
      `*/15 * * * * CKYM_HOME='/home/me/ckym home' /usr/bin/node /opt/ckym/bin/ckym.js --config '/home/me/100\\% sure/ckym.config.json' sync --quiet >> /var/log/ckym.log 2>&1 # ckym`,
    );
  });
});

describe('mergeCrontab', () => {
  const line = '*/15 * * * * node ckym.js sync # ckym';

  it('adds to an empty or foreign crontab, keeping what is there', () => {
    expect(mergeCrontab('', line)).toEqual({ text: `${line}\n`, action: 'added' });
    expect(mergeCrontab('MAILTO=a@b\n0 1 * * * backup\n', line)).toEqual({ text: `MAILTO=a@b\n0 1 * * * backup\n${line}\n`, action: 'added' });
    expect(mergeCrontab('0 1 * * * backup', line).text).toBe(`0 1 * * * backup\n${line}\n`);
  });

  it('is idempotent, and replaces its own line (dropping extra copies) in place', () => {
    const once = mergeCrontab('0 1 * * * backup\n', line).text;
    expect(mergeCrontab(once, line)).toEqual({ text: once, action: 'unchanged' });
    const old = '0 * * * * node old/ckym.js sync # ckym';
    expect(mergeCrontab(`${old}\n0 1 * * * backup\n${old}\n`, line)).toEqual({ text: `${line}\n0 1 * * * backup\n`, action: 'replaced' });
    expect(mergeCrontab(`${line}\n${line}\n`, line)).toEqual({ text: `${line}\n`, action: 'replaced' });
  });

  it('recognises only the trailing marker', () => {
    expect(isCkymLine('* * * * * x # ckym')).toBe(true);
    expect(isCkymLine('* * * * * x # ckym  ')).toBe(true);
    expect(isCkymLine('* * * * * x # ckym-other')).toBe(false);
    expect(isCkymLine('# ckym is great, * * * * * x')).toBe(false);
  });
});

describe('ckymBin', () => {
  it('finds bin/ckym.js of this package from src and from dist', () => {
    const bin = fs.realpathSync(path.join(ROOT, 'bin', 'ckym.js'));
    expect(ckymBin(path.join(ROOT, 'src', 'commands', 'cron', 'run.ts'))).toBe(bin);
    expect(ckymBin(path.join(ROOT, 'dist', 'commands', 'cron', 'run.js'))).toBe(bin);
    expect(ckymBin()).toBe(bin);
  });
});

describe('ckym cron (in process)', () => {
  let dir: string;
  let table: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-cron-cmd-'));
    table = path.join(dir, 'crontab.txt');
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(
      path.join(bin, 'crontab'),
      `#!/bin/sh\ncase "$1" in\n  -l) [ -f "${table}" ] && exec cat "${table}"; echo "no crontab for tester" >&2; exit 1 ;;\n  -) cat > "${table}" ;;\nesac\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(dir, 'ckym.config.json'), JSON.stringify({ counters: [{ id: 1 }] }));
    env = { PATH: `${bin}:${process.env.PATH}`, CKYM_HOME: path.join(dir, 'state') };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds the config from the working directory and prints the line', async () => {
    const io = memoryIO(env, dir);
    expect(await run(argv('cron', '--every', '30m'), io)).toBe(0);
    expect(io.out()).toBe(
      `*/30 * * * * CKYM_HOME=${path.join(dir, 'state')} ${process.execPath} ${ckymBin()} --config ${path.join(dir, 'ckym.config.json')} sync --quiet >> ${path.join(dir, 'state', 'ckym.log')} 2>&1 # ckym\n`,
    );
  });

  it('--install twice: one line; the log directory exists', async () => {
    expect(await run(argv('cron', '--install'), memoryIO(env, dir))).toBe(0);
    const io = memoryIO(env, dir);
    expect(await run(argv('cron', '--install'), io)).toBe(0);
    expect(io.out()).toMatch(/^already in your crontab; nothing changed:\n/);
    expect(fs.readFileSync(table, 'utf8').match(/# ckym$/gm)).toHaveLength(1);
    expect(fs.statSync(path.join(dir, 'state')).isDirectory()).toBe(true);
  });

  it('no config file: exit 2 and nothing installed', async () => {
    fs.rmSync(path.join(dir, 'ckym.config.json'));
    const io = memoryIO(env, dir);
    expect(await run(argv('--config', path.join(dir, 'gone.json'), 'cron', '--install'), io)).toBe(2);
    expect(fs.existsSync(table)).toBe(false);
  });

  it('no crontab command: exit 1 saying so', async () => {
    const io = memoryIO({ ...env, PATH: path.join(dir, 'empty') }, dir);
    expect(await run(argv('cron', '--install'), io)).toBe(1);
    expect(io.err()).toMatch(/crontab is not installed/);
  });
});
