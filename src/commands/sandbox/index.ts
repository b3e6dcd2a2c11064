import { Option, type Command } from 'commander';
import type { CommandSetup, GlobalOptions } from '../../cli/setup.js';
import type { SandboxFlags } from './flags.js';

export function registerSandbox(program: Command, { io, result }: CommandSetup): void {
  program
    .command('sandbox')
    .description('run loopback CallKeeper, Metrica and Yandex OAuth emulators with a generated call history, to try ckym without any account')
    .addOption(new Option('--calls <n>', 'how many calls to generate').default(2000))
    .addOption(new Option('--days <n>', 'over how many days').default(14))
    .addOption(new Option('--seed <n>', 'seed of the generator (same seed, same calls)').default(1))
    .addOption(new Option('--callkeeper-port <port>', 'CallKeeper emulator port').default(8701))
    .addOption(new Option('--metrika-port <port>', 'Metrica emulator port').default(8702))
    .addOption(new Option('--oauth-port <port>', 'Yandex OAuth emulator port').default(8703))
    .addHelpText(
      'after',
      `
It prints the environment that points ckym at the emulators (CKYM_HOME included: ckym-sandbox-home in the
temporary directory, emptied at each start, as the emulators start empty),
then each upload Metrica receives; Ctrl-C stops it. Paste the exports into another terminal.

Examples:
  $ ckym sandbox                                   # 2000 calls over 14 days, on ports 8701-8703
  $ ckym sandbox --calls 100000 --days 60          # a bigger history
  $ ckym sync --config ckym.config.example.json --dry-run   # in another terminal, after the exports
  $ npm run demo                                   # the whole journey at once: login, counters add, sync, stats
`,
    )
    .action(async (flags: SandboxFlags, command: Command) => {
      const { runSandbox } = await import('./run.js');
      result.exitCode = await runSandbox(flags, command.optsWithGlobals<GlobalOptions>(), io);
    });
}
