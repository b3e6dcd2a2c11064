/**
 * The one table of a counter's settings (CallKeeper's «Настройки счётчиков»), as npm-check-updates keeps one
 * table of its options. Each entry holds the setting's config key, its value type and default (the config
 * schema is built from them), its flags and how their text becomes a value, the question `counters add/edit`
 * asks with its one line of explanation, the help text, and how `counters show` prints it.
 *
 * Adding a setting = one entry here + its rule in src/domain/. Pure: no I/O; the prompts come in as `AskKit`.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { describeExpected } from './issues.js';

// ── what an entry is ───────────────────────────────────────────────────────

export interface Choice<T> {
  value: T;
  /** What the choice means, shown in the prompt and in --help. */
  label: string;
}

/** One commander option of a setting. */
export interface FlagSpec {
  /** As commander takes it: `--call-type <type>`. */
  flags: string;
  help: string;
  /** `--site A --site B`. */
  repeatable?: boolean;
  /** Which part of the setting's value it sets, when the setting has several flags (`--tag-include` → `include`). */
  field?: string;
  /** What `counters add` takes when the flag is left out, in words, for a setting whose default is suggested per counter. */
  suggested?: string;
}

/** The questions' toolbox, handed in by the command (so this file needs no terminal and no inquirer). */
export interface AskKit {
  select<T>(message: string, choices: readonly Choice<T>[], current: T): Promise<T>;
  number(message: string, current: number, min: number): Promise<number>;
  text(message: string, current: string): Promise<string>;
  /** A comma-separated list; Enter keeps `current`. */
  list(message: string, current: readonly string[]): Promise<string[]>;
  /** The counter's JavaScript-event goals in Metrica (read when the goal question comes). */
  goals(): Promise<{ identifier: string; name: string }[]>;
  /** A counter not configured yet: the defaults are suggestions (the goal offers one to create). */
  fresh: boolean;
  /** The answers so far (the goal question offers goals by call type). */
  settings: Record<string, unknown>;
}

export interface Setting<T> {
  /** The config key, as in ckym.config.json. */
  key: string;
  /** The label in `counters show`. */
  label: string;
  /** The seed's name and what it does; printed right before the question. Empty for settings not asked. */
  explain: string;
  /** The value's type, without its default (the schema adds `default`). */
  type: z.ZodType<T, z.ZodTypeDef, unknown>;
  default: T;
  /** For a counter not configured yet: a better first value from what Metrica says about it. */
  suggest?: (counter: { name: string; site: string }) => T;
  choices?: readonly Choice<T>[];
  /** Its flags; none for a setting only the config file sets. */
  flags: readonly FlagSpec[];
  /**
   * The raw value the flags give (validated by `type` afterwards), or undefined when none of them was given.
   * `opts` are commander's parsed options; `current` is the value before.
   */
  fromFlags?: (opts: Record<string, unknown>, current: T) => unknown;
  /** The question; absent for settings only a flag or the file sets. */
  ask?: (current: T, kit: AskKit) => Promise<T>;
  /**
   * Asked on a terminal only: without one the default is taken (a setting added after scripts were written, so
   * that `counters add` with the contract's flags keeps working without it).
   */
  terminalOnly?: boolean;
  /** The value as `counters show` prints it. */
  show: (value: T) => string;
}

const setting = <T>(s: Setting<T>): Setting<T> => s;

/** `--call-type` → `callType`, as commander names an option's attribute. */
export const attributeOf = (flags: string): string =>
  (flags.split(/[ ,]+/).find((f) => f.startsWith('--')) ?? '')
    .replace(/^--(no-)?/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

const flagName = (spec: FlagSpec): string => spec.flags.split(' ')[0]!;

/** A single flag whose text is the value (or a number, for numeric settings). */
const plainFlag =
  (spec: FlagSpec, parse: (text: string) => unknown = (t) => t) =>
  (opts: Record<string, unknown>): unknown => {
    const text = opts[attributeOf(spec.flags)];
    return text === undefined ? undefined : parse(String(text));
  };

/** A flag's text as a number when it reads as one; else the text, for the type to refuse with what was typed. */
const numeric = (text: string): unknown => (/^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text);

const splitList = (text: string): string[] =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

const choiceList = <T>(choices: readonly Choice<T>[]) => choices.map((c) => String(c.value)).join(' | ');

// ── the settings, in the order of the config file and of the questions ─────

const CALL_TYPES = [
  { value: 'all', label: 'all — callbacks and incoming calls' },
  { value: 'callback', label: 'callback — only callbacks ordered on the site' },
  { value: 'incoming', label: 'incoming — only incoming calls to tracking numbers' },
] as const satisfies readonly Choice<string>[];

const STATUSES = [
  { value: 'all', label: 'all — successful and unsuccessful' },
  { value: 'successful', label: 'successful — calls that took place' },
  { value: 'unsuccessful', label: 'unsuccessful — calls that did not' },
] as const satisfies readonly Choice<string>[];

const UNIQUENESS = [
  { value: 'all', label: 'all calls' },
  { value: 'unique', label: 'unique — first call from the number' },
  { value: 'target', label: 'target — long enough to count' },
  { value: 'unique-target', label: 'unique-target — both' },
] as const satisfies readonly Choice<string>[];

type Values<C extends readonly Choice<string>[]> = C[number]['value'];
const enumOf = <C extends readonly Choice<string>[]>(choices: C) =>
  z.enum(choices.map((c) => c.value) as unknown as [Values<C>, ...Values<C>[]]);

/** A select question over `choices`; the flag takes one of their values. */
function oneOf<C extends readonly Choice<string>[]>(
  key: string,
  flag: string,
  choices: C,
  fallback: Values<C>,
  texts: { label: string; explain: string; question: string; help: string },
): Setting<Values<C>> {
  const spec: FlagSpec = { flags: `${flag} <${key === 'callType' ? 'type' : key}>`, help: `${texts.help}: ${choiceList(choices)}` };
  return setting<Values<C>>({
    key,
    label: texts.label,
    explain: texts.explain,
    type: enumOf(choices),
    default: fallback,
    choices,
    flags: [spec],
    fromFlags: plainFlag(spec),
    ask: (current, kit) => kit.select(texts.question, choices, current),
    show: (v) => v,
  });
}

const TAG_SOURCES = ['call', 'none'] as const;
const TAGS_DEFAULT = { source: 'call' as 'call' | 'none', include: [] as string[], callback: '', incoming: '' };
type Tags = typeof TAGS_DEFAULT;

const goalIdentifier = z
  .string()
  .trim()
  .max(255)
  .regex(/^[\w.\-:]*$/, 'a goal identifier: letters, digits, "_", "-", "." or ":" (e.g. calltracking_call_order)');

/** CallKeeper's conventional goal identifiers, offered by call type. */
export function suggestedGoals(callType: unknown): string[] {
  if (callType === 'incoming') return ['calltracking_call_order'];
  if (callType === 'callback') return ['call'];
  return ['calltracking_call_order', 'call'];
}

const NAME_FLAG: FlagSpec = { flags: '--name <name>', help: 'a name for the counter in the config', suggested: 'its name in Metrica' };
const MIN_DURATION_FLAG: FlagSpec = { flags: '--min-duration <seconds>', help: 'shortest talk time sent, whole seconds (0 sends missed calls too)' };
const GOAL_FLAG: FlagSpec = {
  flags: '--goal <identifier>',
  help: 'JavaScript-event goal identifier, e.g. calltracking_call_order or call; created if the counter lacks it ("" for none)',
};
const CALL_GOAL_NAME_FLAG: FlagSpec = { flags: '--call-goal-name <name>', help: "name for Metrica's automatic call goal (new_goal_name)" };
const SITE_FLAG: FlagSpec = { flags: '--site <host>', help: 'only calls from this site, repeatable', suggested: "the counter's own site", repeatable: true };
const PRICE_FLAG: FlagSpec = { flags: '--price <amount>', help: 'Price column for every call ("none" for no price)' };
/** ISO 4217 codes in use, as this Node's ICU knows them (Intl.supportedValuesOf, Node ≥ 18). */
let currencyCodes: ReadonlySet<string> | null = null;
function isCurrencyCode(code: string): boolean {
  currencyCodes ??= new Set(Intl.supportedValuesOf('currency'));
  return /^[A-Z]{3}$/.test(code) && currencyCodes.has(code);
}

const CURRENCY_FLAG: FlagSpec = { flags: '--currency <code>', help: 'ISO 4217 currency of the price, e.g. RUB' };
const IDENTIFIERS_FLAG: FlagSpec = {
  flags: '--identifiers <list>',
  help: 'identifiers a row may carry, in order of preference: clientId (the visitor\'s Metrica ClientID), yclid (the Direct click in the landing URL); e.g. clientId,yclid',
};
const IDENTIFIER_NAMES = ['clientId', 'yclid'] as const;
const IDENTIFIER_CHOICES = [
  { value: 'clientId,yclid', label: "ClientID, else the Direct click's yclid — links the most calls and conversions" },
  { value: 'clientId', label: 'ClientID only — a call without one goes as unlinked' },
  { value: 'yclid,clientId', label: "the Direct click's yclid first, else ClientID" },
] as const satisfies readonly Choice<string>[];
const TAG_FLAGS = {
  source: { flags: '--tags <source>', help: "Тегирование, the Tag column: call (the call's own tags) | none", field: 'source' },
  include: { flags: '--tag-include <tag>', help: "send only these of the call's tags (repeatable)", repeatable: true, field: 'include' },
  callback: { flags: '--tag-callback <text>', help: 'fixed Tag text for callbacks', field: 'callback' },
  incoming: { flags: '--tag-incoming <text>', help: 'fixed Tag text for incoming calls', field: 'incoming' },
} satisfies Record<string, FlagSpec>;

export const SETTINGS = {
  name: setting<string>({
    key: 'name',
    label: 'name',
    explain: '',
    type: z.string(),
    default: '',
    suggest: (counter) => counter.name,
    flags: [NAME_FLAG],
    fromFlags: plainFlag(NAME_FLAG),
    show: (v) => v || '(none)',
  }),
  enabled: setting<boolean>({
    key: 'enabled',
    label: 'enabled',
    explain: '',
    type: z.boolean(),
    default: true,
    flags: [],
    show: (v) => (v ? 'yes' : 'no: configured, but sync leaves it alone'),
  }),
  callType: oneOf('callType', '--call-type', CALL_TYPES, 'all', {
    label: 'call type',
    explain: 'Тип звонков — which calls go to this counter: all, only callbacks (ordered on the site), only incoming tracked calls',
    question: 'Call type',
    help: 'Тип звонков, which calls go to this counter',
  }),
  minDuration: setting<number>({
    key: 'minDuration',
    label: 'min duration',
    explain: 'Длительность — the shortest talk time sent, in seconds (0 sends every call, missed ones too)',
    // (a day at most: a larger number is a typo, e.g. 1e308, and would silently skip every call)
    type: z.number().int().nonnegative().max(86_400),
    default: 0,
    flags: [MIN_DURATION_FLAG],
    fromFlags: plainFlag(MIN_DURATION_FLAG, numeric),
    ask: (current, kit) => kit.number('Minimum duration, seconds', current, 0),
    show: (v) => `${v} s`,
  }),
  status: oneOf('status', '--status', STATUSES, 'all', {
    label: 'status',
    explain: 'Статус звонка — all calls, only successful (answered) or only unsuccessful ones',
    question: 'Call status',
    help: 'Статус звонка',
  }),
  uniqueness: oneOf('uniqueness', '--uniqueness', UNIQUENESS, 'all', {
    label: 'uniqueness',
    explain: 'Дополнительно — keep only unique (first from the number), target (long enough) or unique-target calls',
    question: 'Uniqueness',
    help: 'Дополнительно, which calls count',
  }),
  tags: setting<Tags>({
    key: 'tags',
    label: 'tags',
    explain: "Тегирование — the Tag column: the call's own tags (optionally only some), none, or a fixed text per call type",
    type: z.object({
      source: z.enum(TAG_SOURCES).default(TAGS_DEFAULT.source),
      include: z.array(z.string().trim().min(1)).default(() => [...TAGS_DEFAULT.include]),
      callback: z.string().default(TAGS_DEFAULT.callback),
      incoming: z.string().default(TAGS_DEFAULT.incoming),
    }),
    default: TAGS_DEFAULT,
    flags: Object.values(TAG_FLAGS),
    fromFlags: (opts, current) => {
      const [source, include, callback, incoming] = [TAG_FLAGS.source, TAG_FLAGS.include, TAG_FLAGS.callback, TAG_FLAGS.incoming].map(
        (f) => opts[attributeOf(f.flags)],
      );
      if ([source, include, callback, incoming].every((v) => v === undefined)) return undefined;
      return {
        source: source ?? (include !== undefined ? 'call' : current.source),
        include: include === undefined ? current.include : (include as string[]).map((t) => t.trim()).filter(Boolean),
        callback: callback ?? current.callback,
        incoming: incoming ?? current.incoming,
      };
    },
    ask: async (current, kit) => {
      const mode = await kit.select(
        'Tags',
        [
          { value: 'call', label: "the call's tags" },
          { value: 'some', label: "only some of the call's tags" },
          { value: 'none', label: 'no tags' },
        ],
        current.source === 'none' ? 'none' : current.include.length ? 'some' : 'call',
      );
      const include =
        mode === 'some' ? await kit.list("Tags to send (comma-separated)", current.include) : mode === 'call' ? [] : current.include;
      return {
        source: mode === 'none' ? 'none' : 'call',
        include,
        callback: await kit.text('Fixed tag text for callbacks (empty = as above)', current.callback),
        incoming: await kit.text('Fixed tag text for incoming calls (empty = as above)', current.incoming),
      };
    },
    show: (t) => {
      const which = t.source === 'none' ? 'none' : t.include.length ? `the call's tags, only ${t.include.join(', ')}` : "the call's tags";
      const fixed = [t.callback && `callbacks: "${t.callback}"`, t.incoming && `incoming: "${t.incoming}"`].filter(Boolean);
      return `${which}${fixed.length ? `; fixed text for ${fixed.join(', ')}` : ''}`;
    },
  }),
  goal: setting<string>({
    key: 'goal',
    label: 'goal',
    explain: 'Достижение цели — a JavaScript-event goal that each call with a ClientID also reaches (for Direct strategies)',
    type: z.union([goalIdentifier, z.null()]).transform((g) => g ?? ''),
    default: '',
    flags: [GOAL_FLAG],
    fromFlags: plainFlag(GOAL_FLAG, (t) => t.trim()),
    ask: async (current, kit) => {
      const existing = await kit.goals();
      const known = new Set(existing.map((g) => g.identifier));
      const create = [...new Set([...(current && !known.has(current) ? [current] : []), ...suggestedGoals(kit.settings.callType)])].filter(
        (id) => !known.has(id),
      );
      // Enter keeps the goal the counter has (none included); for a new counter it takes the first offer.
      const fallback = kit.fresh ? (existing[0]?.identifier ?? create[0] ?? '') : current;
      return kit.select(
        'Goal',
        [
          ...existing.map((g) => ({ value: g.identifier, label: `${g.identifier} — existing goal «${g.name}»` })),
          ...create.map((id) => ({ value: id, label: `${id} — create this JavaScript-event goal` })),
          { value: '', label: 'no goal — calls go to the call reports only' },
        ],
        fallback,
      );
    },
    show: (v) => v || '(none)',
  }),
  callGoalName: setting<string>({
    key: 'callGoalName',
    label: 'call goal name',
    explain: '',
    type: z.string().max(255),
    default: '',
    flags: [CALL_GOAL_NAME_FLAG],
    fromFlags: plainFlag(CALL_GOAL_NAME_FLAG),
    show: (v) => v || "(Metrica's default)",
  }),
  sites: setting<string[]>({
    key: 'sites',
    label: 'sites',
    explain: 'Sites — only calls from these hosts (one CallKeeper account often serves several sites)',
    type: z.array(z.string().trim().min(1, 'a host name such as shop.example')),
    default: [],
    suggest: (counter) => (counter.site ? [counter.site] : []),
    flags: [SITE_FLAG],
    fromFlags: (opts) => (opts.site === undefined ? undefined : (opts.site as string[]).map((s) => s.trim()).filter(Boolean)),
    ask: (current, kit) => kit.list('Sites (comma-separated; empty = any)', current),
    show: (v) => (v.length ? v.join(', ') : '(any)'),
  }),
  price: setting<number | null>({
    key: 'price',
    label: 'price',
    explain: '',
    type: z.number().nonnegative().finite().nullable(),
    default: null,
    flags: [PRICE_FLAG],
    fromFlags: plainFlag(PRICE_FLAG, (t) => (t.trim() === '' || t === 'none' ? null : numeric(t))),
    show: (v) => (v === null ? '(none)' : String(v)),
  }),
  currency: setting<string>({
    key: 'currency',
    label: 'currency',
    explain: '',
    // Three capital letters are not enough: Metrica refuses every row of a file whose Currency names no currency
    // (ABC, the withdrawn RUR), so such a config must stop before anything is sent.
    type: z.string().refine(isCurrencyCode, 'expected an ISO 4217 code such as RUB'),
    default: 'RUB',
    flags: [CURRENCY_FLAG],
    fromFlags: plainFlag(CURRENCY_FLAG),
    show: (v) => v,
  }),
  identifiers: setting<('clientId' | 'yclid')[]>({
    key: 'identifiers',
    label: 'identifiers',
    explain: "Identifiers — how a call is linked to its visit: Metrica's ClientID, or Yandex Direct's click id (yclid) in the landing URL",
    type: z
      .array(z.enum(IDENTIFIER_NAMES))
      .min(1, 'at least one of "clientId", "yclid"')
      .refine((list) => new Set(list).size === list.length, 'each identifier once'),
    default: ['clientId', 'yclid'],
    flags: [IDENTIFIERS_FLAG],
    fromFlags: plainFlag(IDENTIFIERS_FLAG, splitList),
    ask: async (current, kit) => {
      const now = current.join(',');
      const choices = IDENTIFIER_CHOICES.some((c) => c.value === now) ? IDENTIFIER_CHOICES : [...IDENTIFIER_CHOICES, { value: now, label: `${now} — as configured` }];
      return (await kit.select('Identifiers', choices, now)).split(',') as ('clientId' | 'yclid')[];
    },
    terminalOnly: true,
    show: (v) => v.map((id) => (id === 'clientId' ? 'ClientID' : 'yclid')).join(', then '),
  }),
};

type Table = typeof SETTINGS;
export type SettingKey = keyof Table;
/** A counter's settings, every one of them (what the config holds besides `id`). */
export type SettingValues = { [K in SettingKey]: Table[K] extends Setting<infer T> ? T : never };

export const SETTING_LIST: readonly Setting<unknown>[] = Object.values(SETTINGS) as Setting<unknown>[];

/** The defaults, as a fresh object (nothing shared with the table). */
export function settingDefaults(): SettingValues {
  return structuredClone(Object.fromEntries(SETTING_LIST.map((s) => [s.key, s.default]))) as SettingValues;
}

/** For the config schema: each setting's type with its default. */
export function settingsShape(): { [K in SettingKey]: z.ZodType<SettingValues[K], z.ZodTypeDef, unknown> } {
  return Object.fromEntries(SETTING_LIST.map((s) => [s.key, s.type.default(() => structuredClone(s.default))])) as never;
}

// ── flags → values ─────────────────────────────────────────────────────────

/**
 * What the flags say, each validated by its setting's type (the same rule as the config file), and which
 * asked settings they answer.
 */
export function settingsFromFlags(opts: Record<string, unknown>, current: SettingValues): { given: Partial<SettingValues>; answered: Set<SettingKey> } {
  const given: Record<string, unknown> = {};
  const answered = new Set<SettingKey>();
  for (const s of SETTING_LIST) {
    const raw = s.fromFlags?.(opts, current[s.key as SettingKey]);
    if (raw === undefined) continue;
    const parsed = s.type.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const spec = s.flags.find((f) => f.field !== undefined && f.field === issue.path[0]) ?? s.flags[0]!;
      // Show what was typed: the flag's text (or the one repeated value that is wrong).
      let shown = opts[attributeOf(spec.flags)];
      const index = issue.path.find((p) => typeof p === 'number');
      if (Array.isArray(shown) && index !== undefined) shown = shown[index];
      throw new ConfigError(`${flagName(spec)}: ${describeExpected(issue)}; got ${JSON.stringify(shown)}`);
    }
    given[s.key] = parsed.data;
    answered.add(s.key as SettingKey);
  }
  return { given: given as Partial<SettingValues>, answered };
}

/** Settings that are asked: each needs its flag when there is no terminal. */
export const ASKED: readonly Setting<unknown>[] = SETTING_LIST.filter((s) => s.ask);

/** The first flag of each setting, for messages (`--min-duration`). */
export const primaryFlag = (s: Setting<unknown>): string => flagName(s.flags[0]!);

/** A flag's help for `counters add`: what it sets and what is taken when it is left out. */
export function flagHelp(s: Setting<unknown>, spec: FlagSpec): string {
  if (s.suggest) return spec.suggested ? `${spec.help} (default: ${spec.suggested})` : spec.help;
  const d = spec.field !== undefined ? (s.default as Record<string, unknown>)[spec.field] : spec === s.flags[0] ? s.default : undefined;
  const shown = typeof d === 'string' ? d || null : typeof d === 'number' || typeof d === 'boolean' ? String(d) : null;
  return shown === null ? spec.help : `${spec.help} (default: ${shown})`;
}

// ── showing ────────────────────────────────────────────────────────────────

/** `counters show`: one line per setting, labels aligned. */
export function describeCounter(c: { id: number } & SettingValues): string {
  // The name and `enabled` make the head line; the rest one line each.
  const shown = SETTING_LIST.filter((s) => s.key !== 'name' && s.key !== 'enabled');
  const width = Math.max(...shown.map((s) => s.label.length));
  const head = `${c.id}${c.name ? ` — ${c.name}` : ''}${c.enabled ? '' : ' (disabled)'}`;
  const lines = shown.map(
    (s) => `  ${s.label.padEnd(width)}  ${s.show((c as Record<string, unknown>)[s.key])}`,
  );
  return [head, ...lines].join('\n');
}

/** The config entry for a counter, every setting explicit, in the table's order. */
export function counterEntry(id: number, values: SettingValues): Record<string, unknown> & { id: number } {
  return { id, ...structuredClone(Object.fromEntries(SETTING_LIST.map((s) => [s.key, (values as Record<string, unknown>)[s.key]]))) };
}

export { splitList };
