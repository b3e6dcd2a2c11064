import { Option, type Command } from 'commander';
import { collect, type CommandSetup, type GlobalOptions } from '../../cli/setup.js';
import type { CountersFlags } from './flags.js';

/**
 * Every setting's flags, from the one table of counter settings. `add` shows each setting's default; `edit` does not:
 * there a flag left out keeps the counter's current value, and "(default: all)" would read as "reset to all".
 */
async function addSettingsOptions(command: Command, sub: 'add' | 'edit'): Promise<void> {
  const { SETTING_LIST, flagHelp } = await import('../../config/settings.js');
  for (const setting of SETTING_LIST) {
    for (const spec of setting.flags) {
      const option = new Option(spec.flags, sub === 'add' ? flagHelp(setting, spec) : spec.help);
      if (spec.repeatable) option.argParser(collect);
      command.addOption(option);
    }
  }
  command
    .option('--no-linking', "leave Metrica's linking switches as they are (else those that are off are offered: calls', and conversions' for a counter with a goal)")
    .option(
      '-y, --yes',
      sub === 'add'
        ? "ask nothing: the defaults fill what the flags leave out, and Metrica's linking switches are turned on"
        : "ask nothing: the flags given change, every other setting stays, and Metrica's linking switches are turned on",
    );
}

/**
 * The options `add` and `edit` have from the start: the hidden old name of --no-linking (it is also what makes
 * `ckym help counters` list them as `add [options]` before the others are added).
 */
const oldLinkingOption = () => new Option('--no-call-linking', 'the old name of --no-linking').hideHelp();

const SETTINGS_NOTE = `
On a terminal each setting the flags leave out is asked, with one line on what it does; without one
(scripts, cron) every asked setting needs its flag, or --yes for the defaults.`;

const EDIT_NOTE = `
Flags change just their settings; every other setting keeps its current value. On a terminal the settings the
flags leave out are asked too, each with its current value as the default (Enter keeps it); --yes asks nothing.`;

export function registerCounters(program: Command, { io, result }: CommandSetup): void {
  const counters = program
    .command('counters')
    .description("list, add, edit, remove and show the counters ckym uploads to (CallKeeper's «Настройки счётчиков»)")
    .addHelpText(
      'after',
      `
Examples:
  $ ckym counters list                      # counters this Yandex account can upload to
  $ ckym counters add                       # pick counters, answer the questions
  $ ckym counters add 12345678 --yes        # defaults for everything
  $ ckym counters edit 12345678 --min-duration 60
  $ ckym counters show 12345678
  $ ckym counters remove 12345678 --yes`,
    );

  const run = async (sub: 'list' | 'add' | 'edit' | 'remove' | 'show', ids: string[], flags: CountersFlags, command: Command) => {
    const { runCounters } = await import('./run.js');
    result.exitCode = await runCounters(sub, ids, flags, command.optsWithGlobals<GlobalOptions>(), io);
  };

  counters
    .command('list')
    .description('counters the Yandex account can upload to (own/edit), marking those configured')
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ ckym counters list
  $ ckym counters list --json | jq '.counters[] | select(.configured | not) | .id'`,
    )
    .action((flags: CountersFlags, command: Command) => run('list', [], flags, command));

  const add = counters
    .command('add')
    .argument('[ids...]', 'Metrica counter ids (else pick from a list)')
    .addOption(oldLinkingOption())
    .description("configure counters: pick them, then set each one like CallKeeper's cabinet does")
    .addHelpText(
      'after',
      `${SETTINGS_NOTE}

Examples:
  $ ckym counters add                                   # pick counters, answer the questions
  $ ckym counters add 12345678 --call-type incoming --min-duration 30 --status successful \\
      --uniqueness all --tags call --goal calltracking_call_order --site shop.example
  $ ckym counters add 12345678 87654321 --yes           # defaults for everything`,
    )
    .action((ids: string[], flags: CountersFlags, command: Command) => run('add', ids, flags, command));

  const edit = counters
    .command('edit')
    .argument('<id>', 'a configured counter id')
    .addOption(oldLinkingOption())
    .description("change a configured counter's settings (flags change just those; on a terminal, Enter keeps each current value)")
    .addHelpText(
      'after',
      `${EDIT_NOTE}

Examples:
  $ ckym counters edit 12345678                         # every question, the current value as the default
  $ ckym counters edit 12345678 --min-duration 60 --status successful
  $ ckym counters edit 12345678 --goal ""               # stop sending conversions
  $ ckym counters edit 12345678 --yes                   # turn on Metrica's linking switches that are off`,
    )
    .action((id: string, flags: CountersFlags, command: Command) => run('edit', [id], flags, command));
  // The settings' flags come from the table of counter settings, whose value types are zod schemas (zod is 141 KB of
  // the bundle): added when `counters` is the command run — before it parses anything, its help included — so that
  // `--version`, `--help` and the commands that do not read the config load no zod for them.
  program.hook('preSubcommand', async (_program, sub) => {
    if (sub !== counters || add.options.length > 1) return;
    await addSettingsOptions(add, 'add');
    await addSettingsOptions(edit, 'edit');
  });

  counters
    .command('remove')
    .argument('<id>', 'a configured counter id')
    .description('remove a counter from the config (what was sent stays recorded)')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText(
      'after',
      `
Examples:
  $ ckym counters remove 12345678            # asks first
  $ ckym counters remove 12345678 --yes      # scripts`,
    )
    .action((id: string, flags: CountersFlags, command: Command) => run('remove', [id], flags, command));

  counters
    .command('show')
    .argument('[id]', 'a configured counter id (else all)')
    .description('print the settings of one counter, or of all')
    .option('--json', 'one JSON document on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ ckym counters show
  $ ckym counters show 12345678 --json`,
    )
    .action((id: string | undefined, flags: CountersFlags, command: Command) => run('show', id ? [id] : [], flags, command));
}
