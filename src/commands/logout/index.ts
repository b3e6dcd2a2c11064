import type { Command } from 'commander';
import type { CommandSetup, GlobalOptions } from '../../cli/setup.js';

export function registerLogout(program: Command, { io, result }: CommandSetup): void {
  program
    .command('logout')
    .description('forget the stored credentials (the CallKeeper key and the Yandex tokens)')
    .action(async (_flags: unknown, command: Command) => {
      const { runLogout } = await import('./run.js');
      result.exitCode = await runLogout(command.optsWithGlobals<GlobalOptions>(), io);
    });
}
