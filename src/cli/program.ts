import { Command, Option } from 'commander';
import { ConfigError } from '../errors.js';
import type { IO } from './io.js';

export interface GlobalOptions {
  config?: string;
  color?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * Builds a fresh program. Command modules are imported inside their actions, so `ckym --help`
 * and `ckym --version` load neither SQLite nor got.
 */
export function makeProgram(io: IO, version: string, result: { exitCode: number } = { exitCode: 0 }): Command {
  const program = new Command('ckym')
    .description('Send CallKeeper calls to Yandex Metrica — call reports and goal conversions, exactly once, from cron.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--config <path>', 'config file (default: search for ckym.config.json, .ckymrc… from here up, then the user config dir)')
    .option('--no-color', 'no colours (also NO_COLOR=1)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride();

  program
    .command('sync')
    .description('the cron job: fetch new calls from CallKeeper, filter them per counter, upload to Metrica, record')
    .option('--dry-run', 'build the CSVs and print them (or write them to --out); send nothing, change no state')
    .option('--out <dir>', 'with --dry-run: write one CSV file per counter and kind into this directory')
    .option('--counter <id>', 'only this counter (repeatable)', collect)
    .option('--since <iso-date>', 'backfill: fetch calls from this date (YYYY-MM-DD in callkeeper.timezone, or a full ISO time)')
    .option('-q, --quiet', 'print nothing on success (errors still go to stderr)')
    .option('--json', 'print one JSON document on stdout (human text goes to stderr)')
    .addHelpText(
      'after',
      `
Examples:
  $ ckym sync                                  # what crontab runs
  $ ckym sync --dry-run                        # see the CSVs that would be uploaded
  $ ckym sync --dry-run --out ./preview        # …written to files
  $ ckym sync --counter 12345678 --since 2024-05-01
  $ ckym sync --quiet --config /etc/ckym/ckym.config.json >> ~/ckym.log 2>&1

Exit codes: 0 done (or nothing to do, or another sync is running), 2 usage/config error,
3 credentials rejected (run "ckym login"), 4 a service unavailable after retries,
5 some counters failed while others were delivered.`,
    )
    .action(async (options: SyncFlags, command: Command) => {
      const { runSyncCommand } = await import('../commands/sync.js');
      result.exitCode = await runSyncCommand(options, command.optsWithGlobals<GlobalOptions>(), io);
    });

  return program;
}

export interface SyncFlags {
  dryRun?: boolean;
  out?: string;
  counter?: string[];
  since?: string;
  quiet?: boolean;
  json?: boolean;
}

/** `--counter` values as counter ids; a bad one is a usage error. */
export function parseCounterIds(values: readonly string[] | undefined): number[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.map((v) => {
    const id = Number(v);
    if (!Number.isInteger(id) || id <= 0) throw new ConfigError(`--counter: expected a Metrica counter id (a positive number); got ${JSON.stringify(v)}`);
    return id;
  });
}

export { Option };
