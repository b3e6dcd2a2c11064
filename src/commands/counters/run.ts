import { askText, canPrompt, safePrompt, writeDocument, type IO, type Printer } from '../../cli/io.js';
import { parseCounterIds, type GlobalOptions } from '../../cli/setup.js';
import { table } from '../../cli/render.js';
import { ConfigError, MetrikaError } from '../../errors.js';
import { MetrikaClient, type Goal, type MetrikaCounter, type UploadKind } from '../../clients/metrika.js';
import { retryPolicy } from '../../clients/retry.js';
import { openEditable, removeCounter, saveEditable, upsertCounter } from '../../config/write.js';
import type { CounterConfig } from '../../config/schema.js';
import { validateConfig } from '../../config/load.js';
import {
  ASKED,
  SETTING_LIST,
  counterEntry,
  describeCounter,
  primaryFlag,
  settingDefaults,
  settingsFromFlags,
  splitList,
  type AskKit,
  type SettingKey,
  type SettingValues,
} from '../../config/settings.js';
import { commandBase, credentials, yandexToken, type CommandBase } from '../shared.js';
import type { CountersFlags } from './flags.js';

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
  const lines = table(
    [{ header: 'counter' }, { header: 'name' }, { header: 'site' }, { header: 'access' }, { header: 'configured' }],
    rows.map((r) => [String(r.id), r.name, r.site, r.permission, r.configured ? '✓' : '']),
  );
  for (const line of lines) base.printer.out(line);
  const hidden = all.length - rows.length;
  if (hidden) base.printer.info(`${hidden} view-only counter${hidden === 1 ? '' : 's'} not shown (uploading needs own or edit access)`);
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
  base.printer.out(counters.map(describeCounter).join('\n\n'));
  return 0;
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
    const sure = await confirm(safePrompt({ message: `Remove counter ${id} from the config?`, default: false }), promptContext(base.io));
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
  // The flags are checked (and a script's missing answers named) before anything is asked of Metrica.
  const { answered } = settingsFromFlags(flags, settingDefaults());
  const interactive = canPrompt(io) && !flags.yes;
  requireAnswers(interactive, flags, answered, ids.length > 0, 'add');
  let chosen = parseCounterIds(ids, 'counter id') ?? [];
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
    // (a prompt does not go through the printer: Metrica's names are made safe for the terminal by safePrompt)
    chosen = await checkbox(safePrompt({ message: 'Counters to send calls to', choices, required: true, pageSize: 15 }), promptContext(io));
  }

  // First every question, for every counter (Ctrl-C at any of them changes nothing); then the changes.
  const plans: Plan[] = [];
  for (const id of chosen) {
    const counter = account.find((c) => c.id === id);
    if (!counter) throw new ConfigError(`counter ${id} is not in this Yandex account (see "ckym counters list")`);
    if (!uploadable(counter)) {
      throw new ConfigError(`counter ${id} is "${counter.permission}" for this account; uploading needs "own" or "edit" permission`);
    }
    const current = base.loaded.config.counters.find((c) => c.id === id);
    const before = current ? valuesOf(current) : suggested(counter);
    const { given } = settingsFromFlags(flags, before);
    const goals = goalsOf(client, id);
    let settings: SettingValues = { ...before, ...given };
    if (interactive) {
      printer.info(`\nCounter ${id} — ${counter.name}${counter.site ? ` (${counter.site})` : ''}`);
      settings = await ask(settings, answered, await promptKit(io, printer, goals, !current));
    }
    const linking = skipLinking(flags) ? null : await linkingPlan(client, id, Boolean(settings.goal.trim()), interactive, Boolean(flags.yes), io);
    plans.push({ id, name: settings.name || counter.name, current, before, settings, goals, linking });
  }

  const editable = openEditable(base.loaded.filepath, globals.config, io.cwd);
  const said: string[] = [];
  let changed = false;
  for (const p of plans) {
    const what = p.current ? update(editable, p.id, p.before, p.settings) : (upsertCounter(editable, counterEntry(p.id, p.settings)), 'added');
    const label = `counter ${p.id} (${p.name})`;
    changed ||= what !== 'unchanged';
    said.push(what === 'unchanged' ? `${label} is already configured with these settings in ${editable.file}` : `${what} ${label} in ${editable.file}`);
  }
  // The result must be a valid config before Metrica is changed (goals created, linking turned on).
  if (changed) validateConfig(editable.root, editable.file);
  for (const p of plans) {
    if (p.settings.goal && (!p.current || p.settings.goal !== p.current.goal)) await ensureGoal(client, p.id, p.settings.goal, await p.goals(), printer);
  }
  if (changed) saveEditable(editable);
  for (const line of said) printer.out(line);
  for (const p of plans) if (p.linking) await applyLinking(client, p.id, p.linking, printer);
  printer.info('Next: "ckym sync --dry-run" shows what would be sent; "ckym sync" sends it.');
  return 0;
}

interface Plan {
  id: number;
  name: string;
  current: CounterConfig | undefined;
  before: SettingValues;
  settings: SettingValues;
  goals: () => Promise<{ identifier: string; name: string }[]>;
  linking: Linking[] | null;
}

async function edit(base: CommandBase, ids: string[], flags: CountersFlags, globals: GlobalOptions): Promise<number> {
  const { io, printer } = base;
  const id = parseCounterIds(ids, 'counter id')![0]!;
  const current = base.loaded.config.counters.find((c) => c.id === id);
  if (!current) throw notConfigured(id, base);
  const before = valuesOf(current);
  const { given, answered } = settingsFromFlags(flags, before);
  const interactive = canPrompt(io) && !flags.yes;
  const nothingGiven = answered.size === 0 && Object.keys(given).length === 0;
  // `counters edit ID --yes` alone checks the counter's linking switches (and turns on those that are off).
  if (!interactive && nothingGiven && !(flags.yes && !skipLinking(flags))) {
    throw new ConfigError(
      `counters edit ${id}: nothing to change; pass the settings to change, e.g. --min-duration 30, or --yes to turn Metrica's linking switches on (see --help)`,
    );
  }
  let client: MetrikaClient | null = null;
  const connect = async () => (client ??= await metrika(base));
  const goals = memo(async () => jsEventGoals(await (await connect()).goals(id)));
  let settings: SettingValues = { ...before, ...given };
  if (interactive) {
    printer.info(`Counter ${id}${current.name ? ` — ${current.name}` : ''}: Enter keeps the current value`);
    settings = await ask(settings, answered, await promptKit(io, printer, goals, false));
  }
  if (settings.goal && settings.goal !== current.goal) await ensureGoal(await connect(), id, settings.goal, await goals(), printer);
  // A counter with a goal needs both switches; `--yes` alone asks for them whatever the goal.
  const hasGoal = Boolean(settings.goal.trim());
  const linking = !skipLinking(flags) && (hasGoal || (nothingGiven && flags.yes)) ? await linkingPlan(await connect(), id, hasGoal, interactive, Boolean(flags.yes), io) : null;
  const editable = openEditable(base.loaded.filepath, globals.config, io.cwd);
  if (update(editable, id, before, settings) === 'unchanged') {
    if (!nothingGiven || interactive) printer.out(`counter ${id}: nothing changed`);
  } else {
    saveEditable(editable);
    printer.out(`updated counter ${id} in ${editable.file}`);
  }
  if (linking) await applyLinking(await connect(), id, linking, printer);
  return 0;
}

/** `--no-linking` (or its old name `--no-call-linking`): leave Metrica's linking switches as they are. */
const skipLinking = (flags: CountersFlags): boolean => flags.linking === false || flags.callLinking === false;

/** A configured counter's settings (everything but its id). */
function valuesOf(c: CounterConfig): SettingValues {
  const { id: _id, ...values } = structuredClone(c);
  return values;
}

/** A counter not configured yet: the defaults, with what Metrica knows of it (its name, its site). */
function suggested(counter: { name: string; site: string }): SettingValues {
  const values: Record<string, unknown> = settingDefaults();
  for (const s of SETTING_LIST) if (s.suggest) values[s.key] = s.suggest(counter);
  return values as SettingValues;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Writes the settings that changed into the counter's entry (the user's other keys untouched). */
function update(editable: ReturnType<typeof openEditable>, id: number, before: SettingValues, after: SettingValues): 'updated' | 'unchanged' {
  const changed = Object.fromEntries(
    SETTING_LIST.filter((s) => !same(before[s.key as SettingKey], after[s.key as SettingKey])).map((s) => [s.key, after[s.key as SettingKey]]),
  );
  if (Object.keys(changed).length === 0) return 'unchanged';
  upsertCounter(editable, { id, ...structuredClone(changed) });
  return 'updated';
}

/** Without a terminal (cron, CI), every question needs its flag or --yes: never hang on a prompt. */
function requireAnswers(interactive: boolean, flags: CountersFlags, answered: Set<SettingKey>, hasIds: boolean, sub: string): void {
  if (interactive || flags.yes) {
    if (!hasIds && !interactive) throw new ConfigError(`counters ${sub}: name the counter ids (there is no terminal to pick them on)`);
    return;
  }
  // A setting asked on a terminal only takes its default here (scripts written before it keep working).
  const missing: string[] = ASKED.filter((s) => !s.terminalOnly && !answered.has(s.key as SettingKey)).map(primaryFlag);
  if (!hasIds) missing.unshift('counter ids');
  if (missing.length > 0) {
    throw new ConfigError(`counters ${sub}: no terminal to ask on, and these are missing: ${missing.join(', ')} (or pass --yes for defaults)`);
  }
}

/** Asks every setting the flags did not answer, in the table's order, each right after its line of explanation. */
async function ask(start: SettingValues, answered: Set<SettingKey>, kit: AskKit & { explain(text: string): void }): Promise<SettingValues> {
  const values: Record<string, unknown> = structuredClone(start);
  kit.settings = values;
  for (const s of ASKED) {
    if (answered.has(s.key as SettingKey)) continue;
    kit.explain(s.explain);
    values[s.key] = await s.ask!(values[s.key], kit);
  }
  return values as SettingValues;
}

/**
 * The prompts (inquirer) behind the settings' questions. A setting's explanation is printed right before its
 * first question, after whatever it had to look up (the goal question reads the counter's goals first).
 */
async function promptKit(
  io: IO,
  printer: Printer,
  goals: () => Promise<{ identifier: string; name: string }[]>,
  fresh: boolean,
): Promise<AskKit & { explain(text: string): void }> {
  const { select, number, input } = await import('@inquirer/prompts');
  const ctx = promptContext(io);
  let pending = '';
  const explained = () => {
    if (pending) printer.info(`  ${pending}`);
    pending = '';
  };
  return {
    fresh,
    settings: {},
    explain: (text) => {
      pending = text;
    },
    goals,
    select: async (message, choices, current) => {
      explained();
      return select(safePrompt({ message, default: current, choices: choices.map((c) => ({ value: c.value, name: c.label })) }), ctx);
    },
    number: async (message, current, min) => {
      explained();
      return (await number(safePrompt({ message, default: current, min, step: 1, required: true }), ctx)) ?? current;
    },
    text: async (message, current) => {
      explained();
      return askText((config) => input(config, ctx), message, current);
    },
    list: async (message, current) => {
      explained();
      return splitList(await askText((config) => input(config, ctx), message, current.join(', ')));
    },
  };
}

function memo<T>(load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | null = null;
  return () => (value ??= load());
}

const goalsOf = (client: MetrikaClient, id: number) => memo(async () => jsEventGoals(await client.goals(id)));

/** A goal the counter lacks is created as a JavaScript-event goal (CallKeeper's names for the usual two). */
async function ensureGoal(client: MetrikaClient, counterId: number, goal: string, existing: { identifier: string }[], printer: Printer): Promise<void> {
  if (existing.some((g) => g.identifier === goal)) return;
  const created = await client.createJsEventGoal(counterId, goalDisplayName(goal), goal);
  printer.info(`created the JavaScript-event goal "${goal}" on counter ${counterId} (goal id ${created?.id ?? '?'})`);
}

export function goalDisplayName(identifier: string): string {
  if (identifier === 'calltracking_call_order') return 'Звонок коллтрекинга (ckym)';
  if (identifier === 'call') return 'Обратный звонок (ckym)';
  return `${identifier} (ckym)`;
}

/** One of the counter's linking switches as found, and whether to turn it on (asked on a terminal when it is off). */
interface Linking {
  kind: UploadKind;
  /** The date Metrica links from; null while off; undefined when Metrica would not say. */
  threshold: string | null | undefined;
  enable: boolean;
  /** Why it could not be read. */
  unread?: string;
}

const SWITCH: Record<UploadKind, { name: string; what: string; refused: string }> = {
  call: { name: 'call linking', what: 'calls', refused: 'Metrica refuses call uploads until it is on' },
  conversion: { name: 'conversion linking', what: 'conversions', refused: "Metrica refuses the goal's conversions (ckym holds them) until it is on" },
};

/**
 * Uploads need Metrica's linking switches on: calls' for every counter, conversions' too for a counter with a goal.
 * Each that is off is asked about (or taken on by --yes). A switch Metrica will not tell about is left alone.
 */
async function linkingPlan(client: MetrikaClient, id: number, hasGoal: boolean, interactive: boolean, yes: boolean, io: IO): Promise<Linking[]> {
  const plan: Linking[] = [];
  for (const kind of hasGoal ? (['call', 'conversion'] as const) : (['call'] as const)) {
    let threshold: string | null;
    try {
      threshold = await client.joinThreshold(id, kind);
    } catch (error) {
      if (!(error instanceof MetrikaError)) throw error;
      plan.push({ kind, threshold: undefined, enable: false, unread: error.message });
      continue;
    }
    if (threshold !== null || !interactive) {
      plan.push({ kind, threshold, enable: threshold === null && yes });
      continue;
    }
    const { confirm } = await import('@inquirer/prompts');
    const message = `${SWITCH[kind].name[0]!.toUpperCase()}${SWITCH[kind].name.slice(1)} is off on counter ${id}; ${SWITCH[kind].refused}. Turn it on?`;
    plan.push({ kind, threshold, enable: await confirm(safePrompt({ message, default: true }), promptContext(io)) });
  }
  return plan;
}

/** Turns on the switches that were chosen, and says from which date each kind can link. */
async function applyLinking(client: MetrikaClient, id: number, plan: Linking[], printer: Printer): Promise<void> {
  for (const l of plan) {
    const { name, what } = SWITCH[l.kind];
    if (l.threshold === undefined) {
      printer.warn(`could not read ${name} of counter ${id} (${l.unread ?? 'no answer'}); check it in Metrica`);
      continue;
    }
    let threshold = l.threshold;
    if (threshold === null) {
      if (!l.enable) {
        printer.warn(`${name} is off on counter ${id}: ${SWITCH[l.kind].refused} (run "ckym counters edit ${id} --yes" or turn it on in Metrica)`);
        continue;
      }
      await client.enableLinking(id, l.kind);
      threshold = await client.joinThreshold(id, l.kind);
      printer.info(`turned ${name} on for counter ${id}`);
    }
    if (threshold) printer.info(`${what} of counter ${id} can be linked to visits from ${threshold} (at most 21 days back)`);
  }
}
