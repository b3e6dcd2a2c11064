import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeDocument, type IO } from '../../cli/io.js';
import type { GlobalOptions } from '../../cli/setup.js';
import type { CronFlags } from './flags.js';
import { ConfigError, ExitCode, LocalError } from '../../errors.js';
import { CredentialStore } from '../../credentials.js';
import { commandBase } from '../shared.js';
import { ACCEPTED_EVERY, cronLine, mergeCrontab, parseEvery, type MergeAction } from './schedule.js';

/** ckym's own bin/ckym.js: the package root is the nearest directory up from here whose package.json is ckym's. */
export function ckymBin(from: string = fileURLToPath(import.meta.url)): string {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string };
        const bin = path.join(dir, 'bin', 'ckym.js');
        if (pkg.name === 'ckym' && fs.existsSync(bin)) return fs.realpathSync(bin);
      } catch {
        // not ours; keep looking
      }
    }
    if (path.dirname(dir) === dir) throw new LocalError(`cannot find ckym's bin/ckym.js above ${from}; reinstall ckym`);
  }
}

function readCrontab(env: NodeJS.ProcessEnv): string {
  const r = spawnSync('crontab', ['-l'], { env, encoding: 'utf8' });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new LocalError(code === 'ENOENT' ? 'crontab is not installed (no "crontab" command); install cron, or add the line yourself' : `crontab -l failed: ${r.error.message}`);
  }
  if (r.status === 0) return r.stdout;
  // "no crontab for USER": nothing there yet.
  if (/no crontab/i.test(r.stderr)) return '';
  throw new LocalError(`crontab -l failed: ${r.stderr.trim() || `exit ${r.status}`}`);
}

function writeCrontab(env: NodeJS.ProcessEnv, text: string): void {
  const r = spawnSync('crontab', ['-'], { env, encoding: 'utf8', input: text });
  if (r.error || r.status !== 0) {
    throw new LocalError(`crontab - failed: ${r.error ? r.error.message : r.stderr.trim() || `exit ${r.status}`}`);
  }
}

/** `ckym cron`: returns the exit code (contract). */
export async function runCronCommand(flags: CronFlags, globals: GlobalOptions, io: IO): Promise<number> {
  const every = flags.every ?? '15m';
  const schedule = parseEvery(every);
  if (!schedule) throw new ConfigError(`--every: expected ${ACCEPTED_EVERY}; got ${JSON.stringify(every)}`);
  const base = await commandBase(globals, io, { quiet: Boolean(flags.json) });
  const { printer, loaded, home } = base;
  if (!loaded.filepath) {
    throw new ConfigError('no config file found: run "ckym counters add" first, or pass --config PATH (cron needs a file to point at)');
  }
  if (loaded.config.counters.length === 0) printer.warn(`${loaded.filepath}: no counters configured yet; sync will have nothing to do`);

  // Under cron the environment of this shell is gone: the credentials must be stored.
  try {
    const stored = new CredentialStore(home.credentials).read();
    if (base.env.callkeeperKey && !stored.callkeeper?.key) {
      printer.warn('CKYM_CALLKEEPER_KEY is set here but cron will not have it: run "ckym login" to store the key');
    }
    if (base.env.yandexToken && !stored.yandex?.accessToken) {
      printer.warn('CKYM_YANDEX_TOKEN is set here but cron will not have it: run "ckym login" to store the token');
    }
  } catch (error) {
    printer.warn(error instanceof Error ? error.message : String(error));
  }

  const log = flags.log ? path.resolve(io.cwd, flags.log) : path.join(home.dataDir, 'ckym.log');
  const line = cronLine({
    schedule,
    node: process.execPath,
    bin: ckymBin(),
    config: path.resolve(loaded.filepath),
    log,
    ckymHome: base.env.ckymHome ? home.dataDir : null,
  });

  let action: MergeAction | null = null;
  if (flags.install) {
    const merged = mergeCrontab(readCrontab(io.env), line);
    action = merged.action;
    if (action !== 'unchanged') {
      fs.mkdirSync(path.dirname(log), { recursive: true, mode: 0o700 });
      writeCrontab(io.env, merged.text);
    }
  }

  if (flags.json) {
    const doc = { version: 1, command: 'cron', every: schedule.every, schedule: schedule.expression, line, log, installed: action !== null, action: action ?? 'printed' };
    writeDocument(io, doc);
    return ExitCode.ok;
  }
  if (!flags.install) {
    printer.out(line);
    printer.info('add it with "crontab -e", or run "ckym cron --install"');
    return ExitCode.ok;
  }
  const said: Record<MergeAction, string> = {
    added: 'added to your crontab',
    replaced: 'replaced the earlier ckym line in your crontab',
    unchanged: 'already in your crontab; nothing changed',
  };
  printer.out(`${said[action!]}:`);
  printer.out(line);
  printer.info(`output goes to ${log}`);
  return ExitCode.ok;
}
