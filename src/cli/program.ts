import { Command, CommanderError, Option } from 'commander';
import type { IO } from './io.js';
import type { CommandSetup } from './setup.js';
import { registerCounters } from '../commands/counters/index.js';
import { registerLogin } from '../commands/login/index.js';
import { registerLogout } from '../commands/logout/index.js';
import { registerSandbox } from '../commands/sandbox/index.js';
import { registerSync } from '../commands/sync/index.js';
import { registerStats } from '../commands/stats/index.js';
import { registerDoctor } from '../commands/doctor/index.js';
import { registerCron } from '../commands/cron/index.js';

/**
 * Builds a fresh program. Each command's module only declares flags and help here; its work is
 * imported inside the action, so `ckym --help` and `ckym --version` load neither SQLite nor got.
 */
export function makeProgram(io: IO, version: string, result: { exitCode: number } = { exitCode: 0 }): Command {
  const program = new Command('ckym')
    .description('Send CallKeeper calls to Yandex Metrica — call reports and goal conversions, exactly once, from cron.')
    .version(version, '-v, --version', 'print the version (-V too)')
    .helpOption('-h, --help', 'show help')
    .option('--config <path>', 'config file (default: ckym.config.json, .ckymrc… searched from here up to the project root or home, then the user config dir; a .js config runs only if it is yours alone)')
    .option('--no-color', 'no colours (also NO_COLOR=1)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // commander says `error: unknown option …`; ckym's one prefix is `ckym: …`.
      outputError: (s, write) => write(s.replace(/^error: /, 'ckym: ')),
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ ckym login                     # connect the CallKeeper key and the Yandex account
  $ ckym counters add              # choose counters and their settings
  $ ckym doctor                    # check everything once
  $ ckym sync --dry-run            # the CSVs that would be uploaded
  $ ckym sync                      # upload them (what cron runs: ckym cron --install)
  $ ckym stats                     # what was sent, skipped, and when

Every command has --help with its own examples. Exit codes: 0 done, 1 internal error, 2 usage or config,
3 credentials, 4 a service unavailable, 5 some counters failed.`,
    );
  // -V prints the version as -v does (commander takes one pair of flags for it).
  program.addOption(new Option('-V').hideHelp());
  program.on('option:V', () => {
    io.stdout.write(`${version}\n`);
    throw new CommanderError(0, 'commander.version', version);
  });

  const setup: CommandSetup = { io, result };
  registerLogin(program, setup);
  registerLogout(program, setup);
  registerCounters(program, setup);
  registerSync(program, setup);
  registerSandbox(program, setup);
  registerStats(program, setup);
  registerDoctor(program, setup);
  registerCron(program, setup);
  return program;
}
