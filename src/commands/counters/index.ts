import type { Command } from 'commander';
import { collect, type CommandSetup, type GlobalOptions } from '../../cli/setup.js';
import type { SettingsFlags } from './settings.js';

export interface CountersFlags extends SettingsFlags {
  json?: boolean;
}

const SETTINGS_HELP = `
Settings (each also asked interactively; with --yes nothing is asked and defaults fill the rest):
  --call-type all|callback|incoming     Тип звонков
  --min-duration N                      Длительность, seconds (0 = every call, missed too)
  --status all|successful|unsuccessful  Статус звонка
  --uniqueness all|unique|target|unique-target   Дополнительно
  --tags call|none, --tag-include T…, --tag-callback TEXT, --tag-incoming TEXT   Тегирование
  --goal IDENTIFIER                     Достижение цели (created as a JS-event goal if missing; "" = none)
  --site HOST…                          only calls from these sites`;

function settingsOptions(command: Command): Command {
  return command
    .option('--call-type <type>', 'all | callback | incoming')
    .option('--min-duration <seconds>', 'shortest talk time sent')
    .option('--status <status>', 'all | successful | unsuccessful')
    .option('--uniqueness <flag>', 'all | unique | target | unique-target')
    .option('--tags <source>', 'call (the call\'s tags) | none')
    .option('--tag-include <tag>', 'send only these of the call\'s tags (repeatable)', collect)
    .option('--tag-callback <text>', 'fixed Tag text for callbacks')
    .option('--tag-incoming <text>', 'fixed Tag text for incoming calls')
    .option('--goal <identifier>', 'JS-event goal identifier, e.g. calltracking_call_order or call ("" for none)')
    .option('--site <host>', 'only calls from this site (repeatable)', collect)
    .option('--price <amount>', 'Price column for every call ("none" for no price)')
    .option('--currency <code>', 'ISO 4217 currency of the price, e.g. RUB')
    .option('--call-goal-name <name>', 'name for Metrica\'s automatic call goal (new_goal_name)')
    .option('--name <name>', 'a name for the counter in the config')
    .option('--no-call-linking', 'do not offer to enable call linking on the counter')
    .option('-y, --yes', 'ask nothing: defaults fill what the flags leave out');
}

export function registerCounters(program: Command, { io, result }: CommandSetup): void {
  const counters = program
    .command('counters')
    .description('list, add, edit, remove and show the counters ckym uploads to (CallKeeper\'s «Настройки счётчиков»)');

  const run = async (sub: 'list' | 'add' | 'edit' | 'remove' | 'show', ids: string[], flags: CountersFlags, command: Command) => {
    const { runCounters } = await import('./run.js');
    result.exitCode = await runCounters(sub, ids, flags, command.optsWithGlobals<GlobalOptions>(), io);
  };

  counters
    .command('list')
    .description('counters the Yandex account can upload to (own/edit), marking those configured')
    .option('--json', 'one JSON document on stdout')
    .action((flags: CountersFlags, command: Command) => run('list', [], flags, command));

  settingsOptions(counters.command('add').argument('[ids...]', 'Metrica counter ids (else pick from a list)'))
    .description('configure counters: pick them, then set each one like CallKeeper\'s cabinet does')
    .addHelpText(
      'after',
      `${SETTINGS_HELP}

Examples:
  $ ckym counters add                                   # pick counters, answer the questions
  $ ckym counters add 12345678 --call-type incoming --min-duration 30 --status successful \\
      --uniqueness all --tags call --goal calltracking_call_order --site shop.example
  $ ckym counters add 12345678 87654321 --yes           # defaults for everything`,
    )
    .action((ids: string[], flags: CountersFlags, command: Command) => run('add', ids, flags, command));

  settingsOptions(counters.command('edit').argument('<id>', 'a configured counter id'))
    .description('change a configured counter\'s settings (flags change just those; on a terminal, asks for the rest)')
    .addHelpText('after', `${SETTINGS_HELP}\n\nExample:\n  $ ckym counters edit 12345678 --min-duration 60 --status successful`)
    .action((id: string, flags: CountersFlags, command: Command) => run('edit', [id], flags, command));

  counters
    .command('remove')
    .argument('<id>', 'a configured counter id')
    .description('remove a counter from the config (what was sent stays recorded)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action((id: string, flags: CountersFlags, command: Command) => run('remove', [id], flags, command));

  counters
    .command('show')
    .argument('[id]', 'a configured counter id (else all)')
    .description('print the settings of one counter, or of all')
    .option('--json', 'one JSON document on stdout')
    .action((id: string | undefined, flags: CountersFlags, command: Command) => run('show', id ? [id] : [], flags, command));
}
