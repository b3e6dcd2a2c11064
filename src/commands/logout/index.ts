import type { Command } from 'commander';
import type { CommandSetup, GlobalOptions } from '../../cli/setup.js';

export function registerLogout(program: Command, { io, result }: CommandSetup): void {
  program
    .command('logout')
    .description('forget the stored credentials (the CallKeeper key and the Yandex tokens)')
    .addHelpText(
      'after',
      `
The config file is left as it is; CKYM_CALLKEEPER_KEY and CKYM_YANDEX_TOKEN, when set, are still used.

Examples:
  $ ckym logout
  $ CKYM_HOME=/srv/ckym/home ckym logout     # the credentials of another home`,
    )
    .action(async (_flags: unknown, command: Command) => {
      const { runLogout } = await import('./run.js');
      result.exitCode = await runLogout(command.optsWithGlobals<GlobalOptions>(), io);
    });
}
