import type { Command } from 'commander';
import type { CommandSetup } from '../../cli/setup.js';
import type { SandboxFlags } from './flags.js';

export function registerSandbox(program: Command, { io, result }: CommandSetup): void {
  program
    .command('sandbox')
    .description('run loopback CallKeeper, Metrica and Yandex OAuth emulators with a generated call history, to try ckym without any account')
    .option('--calls <n>', 'how many calls to generate', '2000')
    .option('--days <n>', 'over how many days', '14')
    .option('--seed <n>', 'seed of the generator (same seed, same calls)', '1')
    .option('--callkeeper-port <port>', 'CallKeeper emulator port', '8701')
    .option('--metrika-port <port>', 'Metrica emulator port', '8702')
    .option('--oauth-port <port>', 'Yandex OAuth emulator port', '8703')
    .addHelpText(
      'after',
      `
It prints the environment that points ckym at the emulators; paste it into another terminal:
  $ ckym sandbox
  $ export CKYM_CALLKEEPER_URL=… CKYM_METRIKA_URL=…   # as printed
  $ ckym sync --config ckym.config.example.json --dry-run
Or run the whole journey (login, counters add, sync, stats) at once: npm run demo`,
    )
    .action(async (flags: SandboxFlags) => {
      const { runSandbox } = await import('./run.js');
      result.exitCode = await runSandbox(flags, io);
    });
}
