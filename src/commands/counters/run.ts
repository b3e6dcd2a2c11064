import { canPrompt, writeDocument, type IO, type Printer } from '../../cli/io.js';
import { parseCounterIds, type GlobalOptions } from '../../cli/setup.js';
import { ConfigError } from '../../errors.js';
import { MetrikaClient, type Goal, type MetrikaCounter } from '../../clients/metrika.js';
import { retryPolicy } from '../../clients/retry.js';
import { openEditable, removeCounter, saveEditable, upsertCounter } from '../../config/write.js';
import type { CounterSettings } from '../../domain/types.js';
import { commandBase, credentials, yandexToken, type CommandBase } from '../shared.js';
import type { CountersFlags } from './index.js';
import {
  QUESTIONS,
  counterEntry,
  defaultSettings,
  goalDisplayName,
  settingsFromFlags,
  suggestedGoals,
  type ChosenSettings,
  type QuestionKey,
} from './settings.js';

type Sub = 'list' | 'add' | 'edit' | 'remove' | 'show';

export async function runCounters(sub: Sub, ids: string[], flags: CountersFlags, globals: GlobalOptions, io: IO): Promise<number> {
  const base = await commandBase(globals, io, { quiet: Boolean(flags.json) });
  switch (sub) {
    case 'list':
      return list(base, flags);
    case 'show':
      return show(base, ids, flags);
    case 'remove':
      return remove(base, ids, flags, globals);
    case 'add':
      return add(base, ids, flags, globals);
    case 'edit':
      return edit(base, ids, flags, globals);
  }
}

// ── Metrica access ────────────────────────────────────────────────────────

async function metrika(base: CommandBase): Promise<MetrikaClient> {
  const creds = credentials(base);
  const token = await yandexToken(base, creds);
  return new MetrikaClient({ baseUrl: base.urls.metrika, token, policy: retryPolicy(base.loaded.config.network) });
}

const uploadable = (c: MetrikaCounter) => c.permission === 'own' || c.permission === 'edit';

/** JS-event goals: type `action` with an `exact` condition, whose url is the identifier. */
export function jsEventGoals(goals: Goal[]): { identifier: string; name: string }[] {
  return goals.flatMap((g) =>
    g.type === 'action' ? (g.conditions ?? []).filter((c) => c.type === 'exact' && c.url).map((c) => ({ identifier: c.url, name: g.name })) : [],
  );
}

// ── list / show ───────────────────────────────────────────────────────────

async function list(base: CommandBase, flags: CountersFlags): Promise<number> {
  const client = await metrika(base);
  const all = await client.counters();
  const configured = new Set(base.loaded.config.counters.map((c) => c.id));
  const rows = all.filter(uploadable).map((c) => ({ ...c, configured: configured.has(c.id) }));
  if (flags.json) {
    writeDocument(base.io, { version: 1, command: 'counters list', counters: rows });
    return 0;
  }
  if (rows.length === 0) {
    base.printer.out('this Yandex account cannot upload to any counter (it needs the "own" or "edit" permission)');
    return 0;
  }
  const width = Math.max(...rows.map((r) => String(r.id).length));
  for (const r of rows) {
    base.printer.out(`${r.configured ? '✓' : ' '} ${String(r.id).padEnd(width)}  ${r.name}${r.site ? `  (${r.site})` : ''}  [${r.permission}]`);
  }
  const hidden = all.length - rows.length;
  base.printer.info(`✓ = configured${hidden ? `; ${hidden} view-only counter${hidden === 1 ? '' : 's'} not shown` : ''}`);
  return 0;
}

async function show(base: CommandBase, ids: string[], flags: CountersFlags): Promise<number> {
  const wanted = parseCounterIds(ids, 'counter id');
  const counters = base.loaded.config.counters.filter((c) => !wanted || wanted.includes(c.id));
  if (wanted && counters.length === 0) throw notConfigured(wanted[0]!, base);
  if (flags.json) {
    writeDocument(base.io, { version: 1, command: 'counters show', file: base.loaded.filepath, counters });
    return 0;
  }
  if (counters.length === 0) {
    base.printer.out('no counters configured; run "ckym counters add"');
    return 0;
  }
  for (const c of counters) base.printer.out(describe(c));
  return 0;
}

export function describe(c: CounterSettings): string {
  const tags =
    c.tags.source === 'none' ? 'none' : c.tags.include.length ? `the call's tags, only ${c.tags.include.join(', ')}` : "the call's tags";
  const fixed = [c.tags.callback && `callbacks: "${c.tags.callback}"`, c.tags.incoming && `incoming: "${c.tags.incoming}"`].filter(Boolean);
  return [
    `${c.id}${c.name ? ` — ${c.name}` : ''}${c.enabled ? '' : ' (disabled)'}`,
    `  call type      ${c.callType}`,
    `  min duration   ${c.minDuration} s`,
    `  status         ${c.status}`,
    `  uniqueness     ${c.uniqueness}`,
    `  tags           ${tags}${fixed.length ? `; fixed text for ${fixed.join(', ')}` : ''}`,
    `  goal           ${c.goal || '(none)'}`,
    `  call goal name ${c.callGoalName || '(Metrica\'s default)'}`,
    `  sites          ${c.sites.length ? c.sites.join(', ') : '(any)'}`,
    `  price          ${c.price === null ? '(none)' : `${c.price} ${c.currency}`}`,
  ].join('\n');
}

function notConfigured(id: number, base: CommandBase): ConfigError {
  const file = base.loaded.filepath ?? 'the config';
  return new ConfigError(`counter ${id} is not configured in ${file}; run "ckym counters add ${id}"`);
}

// ── remove ────────────────────────────────────────────────────────────────

async function remove(base: CommandBase, ids: string[], flags: CountersFlags, globals: GlobalOptions): Promise<number> {
  const id = parseCounterIds(ids, 'counter id')![0]!;
  if (!base.loaded.config.counters.some((c) => c.id === id)) throw notConfigured(id, base);
  if (!flags.yes) {
    if (!canPrompt(base.io)) throw new ConfigError(`counters remove ${id}: pass --yes to confirm (there is no terminal to ask on)`);
    const { confirm } = await import('@inquirer/prompts');
    const sure = await confirm({ message: `Remove counter ${id} from the config?`, default: false }, promptContext(base.io));
    if (!sure) {
      base.printer.info('nothing changed');
      return 0;
    }
  }
  const editable = openEditable(base.loaded.filepath, globals.config, base.io.cwd);
  removeCounter(editable, id);
  saveEditable(editable);
  base.printer.out(`removed counter ${id} from ${editable.file} (what was already sent stays recorded)`);
  return 0;
}

// ── add / edit ────────────────────────────────────────────────────────────

const promptContext = (io: IO) => ({ input: io.stdin, output: io.stderr });

async function add(base: CommandBase, ids: string[], flags: CountersFlags, globals: GlobalOptions): Promise<number> {
  const { io, printer } = base;
  const { given, answered } = settingsFromFlags(flags);
  const interactive = canPrompt(io) && !flags.yes;
  requireAnswers(interactive, flags, answered, ids.length > 0, 'add');
  let chosen = parseCounterIds(ids, 'counter id') ?? []; // bad ids are a usage error before anything is asked of Metrica
  const client = await metrika(base);
  const account = await client.counters();
  const configured = new Set(base.loaded.config.counters.map((c) => c.id));

  if (chosen.length === 0) {
    const { checkbox } = await import('@inquirer/prompts');
    const choices = account.filter(uploadable).map((c) => ({
      value: c.id,
      name: `${c.id}  ${c.name}${c.site ? ` (${c.site})` : ''}${configured.has(c.id) ? '  — configured' : ''}`,
    }));
    if (choices.length === 0) throw new ConfigError('this Yandex account cannot upload to any counter (it needs "own" or "edit" permission)');
    chosen = await checkbox({ message: 'Counters to send calls to', choices, required: true, pageSize: 15 }, promptContext(io));
  }

  const editable = openEditable(base.loaded.filepath, globals.config, io.cwd);
  for (const id of chosen) {
    const counter = account.find((c) => c.id === id);
    if (!counter) throw new ConfigError(`counter ${id} is not in this Yandex account (see "ckym counters list")`);
    if (!uploadable(counter)) {
      throw new ConfigError(`counter ${id} is "${counter.permission}" for this account; uploading needs "own" or "edit" permission`);
    }
    const current = base.loaded.config.counters.find((c) => c.id === id);
    const start: ChosenSettings = { ...(current ? fromConfig(current) : defaultSettings(counter)), ...given };
    if (interactive) printer.info(`\nCounter ${id} — ${counter.name}${counter.site ? ` (${counter.site})` : ''}`);
    const settings = interactive ? await ask(start, answered, io, printer) : start;
    settings.goal = await settleGoal(client, id, settings, interactive, answered.has('goal'), io, printer);
    const what = upsertCounter(editable, counterEntry(id, settings));
    saveEditable(editable);
    printer.out(`${what} counter ${id} (${settings.name || counter.name}) in ${editable.file}`);
    if (flags.callLinking !== false) await offerCallLinking(client, id, interactive, Boolean(flags.yes), io, printer);
  }
  printer.info('Next: "ckym sync --dry-run" shows what would be sent; "ckym sync" sends it.');
  return 0;
}

async function edit(base: CommandBase, ids: string[], flags: CountersFlags, globals: GlobalOptions): Promise<number> {
  const { io, printer } = base;
  const id = parseCounterIds(ids, 'counter id')![0]!;
  const current = base.loaded.config.counters.find((c) => c.id === id);
  if (!current) throw notConfigured(id, base);
  const { given, answered } = settingsFromFlags(flags);
  const interactive = canPrompt(io) && !flags.yes;
  const changes = Object.keys(given).length;
  if (!interactive && changes === 0) {
    throw new ConfigError(`counters edit ${id}: nothing to change; pass the settings to change, e.g. --min-duration 30 (see --help)`);
  }
  let settings: ChosenSettings = { ...fromConfig(current), ...given };
  if (interactive) {
    printer.info(`Counter ${id}${current.name ? ` — ${current.name}` : ''}: Enter keeps the current value`);
    settings = await ask(settings, answered, io, printer);
  }
  const needsGoalCheck = settings.goal !== '' && settings.goal !== current.goal;
  if (needsGoalCheck) {
    const client = await metrika(base);
    settings.goal = await settleGoal(client, id, settings, interactive, true, io, printer);
  }
  const editable = openEditable(base.loaded.filepath, globals.config, io.cwd);
  upsertCounter(editable, counterEntry(id, settings));
  const entry = (editable.root.counters as Record<string, unknown>[]).find((c) => c.id === id)!;
  if (current.enabled === false) entry.enabled = false;
  saveEditable(editable);
  printer.out(`updated counter ${id} in ${editable.file}`);
  return 0;
}

function fromConfig(c: CounterSettings): ChosenSettings {
  return {
    name: c.name,
    callType: c.callType,
    minDuration: c.minDuration,
    status: c.status,
    uniqueness: c.uniqueness,
    tags: { ...c.tags, include: [...c.tags.include] },
    goal: c.goal,
    callGoalName: c.callGoalName,
    sites: [...c.sites],
    price: c.price,
    currency: c.currency,
  };
}

/** Without a terminal (cron, CI), every question needs its flag or --yes: never hang on a prompt. */
function requireAnswers(interactive: boolean, flags: CountersFlags, answered: Set<QuestionKey>, hasIds: boolean, sub: string): void {
  if (interactive || flags.yes) {
    if (!hasIds && !interactive) throw new ConfigError(`counters ${sub}: name the counter ids (there is no terminal to pick them on)`);
    return;
  }
  const missing: string[] = QUESTIONS.filter((q) => !answered.has(q.key)).map((q) => q.flag);
  if (!hasIds) missing.unshift('counter ids');
  if (missing.length > 0) {
    throw new ConfigError(`counters ${sub}: no terminal to ask on, and these are missing: ${missing.join(', ')} (or pass --yes for defaults)`);
  }
}

/** Asks every question the flags did not answer, one line of explanation each. */
async function ask(start: ChosenSettings, answered: Set<QuestionKey>, io: IO, printer: Printer): Promise<ChosenSettings> {
  const { select, number, input } = await import('@inquirer/prompts');
  const ctx = promptContext(io);
  const s: ChosenSettings = { ...start, tags: { ...start.tags } };
  const explain = (key: QuestionKey) => printer.info(`  ${QUESTIONS.find((q) => q.key === key)!.explain}`);

  if (!answered.has('callType')) {
    explain('callType');
    s.callType = await select(
      {
        message: 'Call type',
        default: s.callType,
        choices: [
          { value: 'all' as const, name: 'all — callbacks and incoming calls' },
          { value: 'callback' as const, name: 'callback — only callbacks ordered on the site' },
          { value: 'incoming' as const, name: 'incoming — only incoming calls to tracking numbers' },
        ],
      },
      ctx,
    );
  }
  if (!answered.has('minDuration')) {
    explain('minDuration');
    s.minDuration = (await number({ message: 'Minimum duration, seconds', default: s.minDuration, min: 0, step: 1, required: true }, ctx)) ?? 0;
  }
  if (!answered.has('status')) {
    explain('status');
    s.status = await select(
      {
        message: 'Call status',
        default: s.status,
        choices: [
          { value: 'all' as const, name: 'all — successful and unsuccessful' },
          { value: 'successful' as const, name: 'successful — calls that took place' },
          { value: 'unsuccessful' as const, name: 'unsuccessful — calls that did not' },
        ],
      },
      ctx,
    );
  }
  if (!answered.has('uniqueness')) {
    explain('uniqueness');
    s.uniqueness = await select(
      {
        message: 'Uniqueness',
        default: s.uniqueness,
        choices: [
          { value: 'all' as const, name: 'all calls' },
          { value: 'unique' as const, name: 'unique — first call from the number' },
          { value: 'target' as const, name: 'target — long enough to count' },
          { value: 'unique-target' as const, name: 'unique-target — both' },
        ],
      },
      ctx,
    );
  }
  if (!answered.has('tags')) {
    explain('tags');
    const mode = await select(
      {
        message: 'Tags',
        default: s.tags.source === 'none' ? 'none' : s.tags.include.length ? 'some' : 'call',
        choices: [
          { value: 'call', name: "the call's tags" },
          { value: 'some', name: "only some of the call's tags" },
          { value: 'none', name: 'no tags' },
        ],
      },
      ctx,
    );
    s.tags.source = mode === 'none' ? 'none' : 'call';
    s.tags.include =
      mode === 'some'
        ? splitList(await input({ message: 'Tags to send (comma-separated)', default: s.tags.include.join(', ') }, ctx))
        : [];
    s.tags.callback = await input({ message: 'Fixed tag text for callbacks (empty = as above)', default: s.tags.callback }, ctx);
    s.tags.incoming = await input({ message: 'Fixed tag text for incoming calls (empty = as above)', default: s.tags.incoming }, ctx);
  }
  if (!answered.has('goal')) {
    explain('goal');
    s.goal = GOAL_ASK;
  }
  if (!answered.has('sites')) {
    explain('sites');
    s.sites = splitList(await input({ message: 'Sites (comma-separated; empty = any)', default: s.sites.join(', ') }, ctx));
  }
  return s;
}

/** Marks "ask for the goal once the counter's goals are known" (the goal step needs Metrica). */
const GOAL_ASK = '\u0000ask';

const splitList = (text: string) =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/**
 * The goal step: choose an existing JS-event goal or create one (calltracking_call_order for incoming,
 * call for callbacks — offered by call type). A --goal that the counter lacks is created.
 */
async function settleGoal(
  client: MetrikaClient,
  counterId: number,
  settings: ChosenSettings,
  interactive: boolean,
  fromFlag: boolean,
  io: IO,
  printer: Printer,
): Promise<string> {
  const wanted = settings.goal;
  if (wanted === '' && (fromFlag || !interactive)) return '';
  const existing = jsEventGoals(await client.goals(counterId));
  let goal = wanted;
  if (wanted === GOAL_ASK) {
    const { select } = await import('@inquirer/prompts');
    const known = new Set(existing.map((g) => g.identifier));
    const create = suggestedGoals(settings.callType).filter((id) => !known.has(id));
    goal = await select(
      {
        message: 'Goal',
        default: existing[0]?.identifier ?? create[0] ?? '',
        choices: [
          ...existing.map((g) => ({ value: g.identifier, name: `${g.identifier} — existing goal «${g.name}»` })),
          ...create.map((id) => ({ value: id, name: `${id} — create this JavaScript-event goal` })),
          { value: '', name: 'no goal — calls go to the call reports only' },
        ],
      },
      promptContext(io),
    );
  }
  if (goal && !existing.some((g) => g.identifier === goal)) {
    const created = await client.createJsEventGoal(counterId, goalDisplayName(goal), goal);
    printer.info(`created the JavaScript-event goal "${goal}" on counter ${counterId} (goal id ${created?.id ?? '?'})`);
  }
  return goal;
}

/** Uploads need call linking on the counter: offer to turn it on, and say from which date calls can link. */
async function offerCallLinking(client: MetrikaClient, id: number, interactive: boolean, yes: boolean, io: IO, printer: Printer): Promise<void> {
  let threshold = await client.callJoinThreshold(id);
  if (threshold === null) {
    let enable = yes;
    if (interactive) {
      const { confirm } = await import('@inquirer/prompts');
      enable = await confirm(
        { message: `Call linking is off on counter ${id}; Metrica refuses call uploads until it is on. Turn it on?`, default: true },
        promptContext(io),
      );
    }
    if (!enable) {
      printer.warn(`call linking is off on counter ${id}: uploads fail until it is on (run "ckym counters add ${id} --yes" or turn it on in Metrica)`);
      return;
    }
    await client.enableCallLinking(id);
    threshold = await client.callJoinThreshold(id);
    printer.info(`turned call linking on for counter ${id}`);
  }
  if (threshold) printer.info(`calls of counter ${id} can be linked to visits from ${threshold} (at most 21 days back)`);
}

