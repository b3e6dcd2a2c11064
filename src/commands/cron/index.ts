import { Option, type Command } from 'commander';
import type { CommandSetup, GlobalOptions } from '../../cli/setup.js';
import { ACCEPTED_EVERY } from './schedule.js';
import type { CronFlags } from './flags.js';

/** `ckym cron`: flags and help only; the work is imported when the command runs. */
export function registerCron(program: Command, { io, result }: CommandSetup): void {
  program
    .command('cron')
    .description("print a crontab line that runs \"ckym sync\" with absolute paths; --install adds it to the user's crontab")
    .addOption(new Option('--every <interval>', `how often: ${ACCEPTED_EVERY}`).default('15m', '15m'))
    .option('--log <path>', 'append the output here (default: ckym.log in CKYM_HOME / the data directory)')
    .option('--install', 'add the line to your crontab (replacing an earlier ckym line, marked "# ckym")')
    .option('--json', 'print one JSON document on stdout (human text goes to stderr)')
    .addHelpText(
      'after',
      `
The line runs this node and this ckym with the config file found now (--config), --quiet, and appends
the output to the log. CKYM_HOME is included when it is set. Credentials come from "ckym login"
(the environment variables of this shell are not there under cron).

Examples:
  $ ckym cron                       # every 15 minutes, printed
  $ ckym cron --every 1h --install
  $ ckym --config /etc/ckym/ckym.config.json cron --every 30m --log /var/log/ckym.log

Exit codes: 0 done, 1 crontab could not be read or written, 2 usage error (a bad --every, no config file).`,
    )
    .action(async (flags: CronFlags, command: Command) => {
      const { runCronCommand } = await import('./run.js');
      result.exitCode = await runCronCommand(flags, command.optsWithGlobals<GlobalOptions>(), io);
    });
}
