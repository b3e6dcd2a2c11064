import type { Command } from 'commander';
import type { CommandSetup, GlobalOptions } from '../../cli/setup.js';
import type { DoctorFlags } from './flags.js';

/** `ckym doctor`: flags and help only; the work is imported when the command runs. */
export function registerDoctor(program: Command, { io, result }: CommandSetup): void {
  program
    .command('doctor')
    .description('check config, credentials, counters (permission, goal, call and conversion linking), clock, database and lock — one line each, with the fix')
    .option('--json', 'print one JSON document on stdout (human text goes to stderr)')
    .addHelpText(
      'after',
      `
Each line: ✓ fine, ! a warning (works for now), ✗ a problem (with what to do), - not checked.
Checks: the config file; the CallKeeper API key (a small request); the Yandex token (Metrica's counter list)
and its expiry; this machine's clock against Metrica's; for each configured counter: access with own/edit
permission, its JavaScript-event goal, call linking and, with a goal, conversion linking; the database (readable,
schema) and its file mode; the last sync; the sync lock.
Secrets are never printed.

Examples:
  $ ckym doctor
  $ ckym --config /etc/ckym/ckym.config.json doctor
  $ ckym doctor --json | jq '.checks[] | select(.status == "fail")'

Exit codes: 0 every check passed (warnings allowed), 1 some check failed (✗), 2 usage error.`,
    )
    .action(async (flags: DoctorFlags, command: Command) => {
      const { runDoctorCommand } = await import('./run.js');
      result.exitCode = await runDoctorCommand(flags, command.optsWithGlobals<GlobalOptions>(), io);
    });
}
