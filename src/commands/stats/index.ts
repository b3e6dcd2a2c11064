import type { Command } from 'commander';
import { collect, type CommandSetup, type GlobalOptions } from '../../cli/setup.js';
import type { StatsFlags } from './flags.js';

/** `ckym stats`: flags and help only; the work is imported when the command runs. */
export function registerStats(program: Command, { io, result }: CommandSetup): void {
  program
    .command('stats')
    .description('what was sent (per counter, goal and day), what was skipped and why, uploads with their Metrica status, last runs')
    .option('--since <iso-date>', 'only calls from this date (YYYY-MM-DD in callkeeper.timezone, or a full ISO time)')
    .option('--counter <id>', 'only this counter (repeatable)', collect)
    .option('--refresh', "ask Metrica for each listed upload's current processing status first (needs the Yandex token)")
    .option('--json', 'print one JSON document on stdout (human text goes to stderr)')
    .addHelpText(
      'after',
      `
Counts come from ckym's database alone: no network, no credentials, and a running sync is neither
blocked nor waited for. "Sent" is what Metrica acknowledged. Calls older than 21 days when uploaded
are delivered (they appear in Metrica's call reports) but cannot be linked to visits: stats counts them.

Examples:
  $ ckym stats
  $ ckym stats --counter 12345678 --since 2024-05-01
  $ ckym stats --refresh            # LINKAGE_FAILURE and dropped lines stand out
  $ ckym stats --json | jq '.counters[] | {id, sent: .calls.sent}'

Exit codes: 0 done (also "nothing synced yet"), 2 usage/config error,
3 --refresh without a working Yandex token (run "ckym login"), 4 Metrica unavailable during --refresh
(the stored figures are still printed).`,
    )
    .action(async (flags: StatsFlags, command: Command) => {
      const { runStatsCommand } = await import('./run.js');
      result.exitCode = await runStatsCommand(flags, command.optsWithGlobals<GlobalOptions>(), io);
    });
}
