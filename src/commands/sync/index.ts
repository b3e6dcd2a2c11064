import type { Command } from 'commander';
import { collect, type CommandSetup, type GlobalOptions } from '../../cli/setup.js';
import type { SyncFlags } from './flags.js';

/** `ckym sync`: flags and help only; the work is imported when the command runs. */
export function registerSync(program: Command, { io, result }: CommandSetup): void {
  program
    .command('sync')
    .description('the cron job: fetch new calls from CallKeeper, filter them per counter, upload to Metrica, record')
    .option('--dry-run', 'build the CSVs and print them (or write them to --out); send nothing, change no state')
    .option('--out <dir>', 'with --dry-run: write one CSV file per counter and kind into this directory')
    .option('--counter <id>', 'only this counter (repeatable)', collect)
    .option('--since <iso-date>', 'backfill: fetch calls from this date (YYYY-MM-DD in callkeeper.timezone, or a full ISO time)')
    .option('-q, --quiet', 'print nothing on success (errors still go to stderr)')
    .option('--json', 'print one JSON document on stdout (human text goes to stderr)')
    .option('--retry-failed', 'first put the rows Metrica refused back in line (after the cause is fixed); they go out like any other')
    .option(
      '--adopt',
      "a new or lost database: take Metrica's uploadings list as the record of what ckym already sent, and go on after the newest call it holds",
    )
    .addHelpText(
      'after',
      `
Examples:
  $ ckym sync                                  # what crontab runs
  $ ckym sync --dry-run                        # see the CSVs that would be uploaded
  $ ckym sync --dry-run --out ./preview        # …written to files
  $ ckym sync --counter 12345678 --since 2024-05-01
  $ ckym sync --retry-failed --counter 12345678  # send again what Metrica refused, once fixed
  $ ckym sync --adopt                          # the database was lost: go on after what Metrica already has
  $ ckym sync --quiet --config /etc/ckym/ckym.config.json >> ~/ckym.log 2>&1

A counter this database has no history of, whose uploads by ckym are already in Metrica (a new or lost
database), stops the run (exit 2) before anything is sent, saying when the last one was: go on with --adopt,
or with --since a date after it.

Exit codes: 0 done (or nothing to do, or another sync is running), 2 usage/config error (or the stop above),
3 credentials rejected (run "ckym login"), 4 a service unavailable after retries,
5 some counters failed while others were delivered.`,
    )
    .action(async (flags: SyncFlags, command: Command) => {
      const { runSyncCommand } = await import('./run.js');
      result.exitCode = await runSyncCommand(flags, command.optsWithGlobals<GlobalOptions>(), io);
    });
}
