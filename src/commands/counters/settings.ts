/**
 * A counter's settings as flags and as the questions `counters add/edit` asks — the seed's
 * «Настройки счётчиков», one line of explanation each. Pure: parsing and defaults only.
 */
import { ConfigError } from '../../errors.js';
import type { CallType, StatusSetting, Uniqueness } from '../../domain/types.js';

export interface SettingsFlags {
  callType?: string;
  minDuration?: string;
  status?: string;
  uniqueness?: string;
  tags?: string;
  tagInclude?: string[];
  tagCallback?: string;
  tagIncoming?: string;
  goal?: string;
  site?: string[];
  price?: string;
  currency?: string;
  callGoalName?: string;
  name?: string;
  yes?: boolean;
  callLinking?: boolean;
}

/** The settings a user chooses (what `counters add` asks, in this order). */
export interface ChosenSettings {
  name: string;
  callType: CallType;
  minDuration: number;
  status: StatusSetting;
  uniqueness: Uniqueness;
  tags: { source: 'call' | 'none'; include: string[]; callback: string; incoming: string };
  goal: string;
  callGoalName: string;
  sites: string[];
  price: number | null;
  currency: string;
}

/** The questions, each with the flag that answers it without asking. */
export const QUESTIONS = [
  { key: 'callType', flag: '--call-type', explain: 'Тип звонков — which calls go to this counter: all, only callbacks (ordered on the site), only incoming tracked calls' },
  { key: 'minDuration', flag: '--min-duration', explain: 'Длительность — the shortest talk time sent, in seconds (0 sends every call, missed ones too)' },
  { key: 'status', flag: '--status', explain: 'Статус звонка — all calls, only successful (answered) or only unsuccessful ones' },
  { key: 'uniqueness', flag: '--uniqueness', explain: 'Дополнительно — keep only unique (first from the number), target (long enough) or unique-target calls' },
  { key: 'tags', flag: '--tags', explain: 'Тегирование — the Tag column: the call\'s own tags (optionally only some), none, or a fixed text per call type' },
  { key: 'goal', flag: '--goal', explain: 'Достижение цели — a JavaScript-event goal that each call with a ClientID also reaches (for Direct strategies)' },
  { key: 'sites', flag: '--site', explain: 'Sites — only calls from these hosts (one CallKeeper account often serves several sites)' },
] as const;

export type QuestionKey = (typeof QUESTIONS)[number]['key'];

const CALL_TYPES: CallType[] = ['all', 'callback', 'incoming'];
const STATUSES: StatusSetting[] = ['all', 'successful', 'unsuccessful'];
const UNIQUENESS: Uniqueness[] = ['all', 'unique', 'target', 'unique-target'];

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`${flag}: expected one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
}

/** What the flags say, validated; and which questions they leave unanswered. */
export function settingsFromFlags(flags: SettingsFlags): { given: Partial<ChosenSettings>; answered: Set<QuestionKey> } {
  const given: Partial<ChosenSettings> = {};
  const answered = new Set<QuestionKey>();
  if (flags.callType !== undefined) {
    given.callType = oneOf('--call-type', flags.callType, CALL_TYPES);
    answered.add('callType');
  }
  if (flags.minDuration !== undefined) {
    const n = Number(flags.minDuration);
    if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--min-duration: expected whole seconds ≥ 0; got ${JSON.stringify(flags.minDuration)}`);
    given.minDuration = n;
    answered.add('minDuration');
  }
  if (flags.status !== undefined) {
    given.status = oneOf('--status', flags.status, STATUSES);
    answered.add('status');
  }
  if (flags.uniqueness !== undefined) {
    given.uniqueness = oneOf('--uniqueness', flags.uniqueness, UNIQUENESS);
    answered.add('uniqueness');
  }
  const tagFlags = flags.tags !== undefined || flags.tagInclude !== undefined || flags.tagCallback !== undefined || flags.tagIncoming !== undefined;
  if (tagFlags) {
    given.tags = {
      source: flags.tags === undefined ? 'call' : oneOf('--tags', flags.tags, ['call', 'none'] as const),
      include: (flags.tagInclude ?? []).map((t) => t.trim()).filter(Boolean),
      callback: flags.tagCallback ?? '',
      incoming: flags.tagIncoming ?? '',
    };
    answered.add('tags');
  }
  if (flags.goal !== undefined) {
    const goal = flags.goal.trim();
    if (goal && !/^[\w.\-:]+$/.test(goal)) {
      throw new ConfigError(`--goal: expected a goal identifier such as calltracking_call_order (letters, digits, _ - . :); got ${JSON.stringify(flags.goal)}`);
    }
    given.goal = goal;
    answered.add('goal');
  }
  if (flags.site !== undefined) {
    given.sites = flags.site.map((s) => s.trim()).filter(Boolean);
    answered.add('sites');
  }
  if (flags.price !== undefined) {
    const price = flags.price.trim() === '' || flags.price === 'none' ? null : Number(flags.price);
    if (price !== null && (!Number.isFinite(price) || price < 0)) throw new ConfigError(`--price: expected a number ≥ 0 (or "none"); got ${JSON.stringify(flags.price)}`);
    given.price = price;
  }
  if (flags.currency !== undefined) {
    if (!/^[A-Z]{3}$/.test(flags.currency)) throw new ConfigError(`--currency: expected an ISO 4217 code such as RUB; got ${JSON.stringify(flags.currency)}`);
    given.currency = flags.currency;
  }
  if (flags.callGoalName !== undefined) given.callGoalName = flags.callGoalName;
  if (flags.name !== undefined) given.name = flags.name;
  return { given, answered };
}

/** Sensible defaults for a counter not configured yet: everything goes, the call's own tags, its own site. */
export function defaultSettings(counter: { name: string; site: string }): ChosenSettings {
  return {
    name: counter.name,
    callType: 'all',
    minDuration: 0,
    status: 'all',
    uniqueness: 'all',
    tags: { source: 'call', include: [], callback: '', incoming: '' },
    goal: '',
    callGoalName: '',
    sites: counter.site ? [counter.site] : [],
    price: null,
    currency: 'RUB',
  };
}

/** CallKeeper's conventional goal identifiers, offered by call type. */
export function suggestedGoals(callType: CallType): string[] {
  if (callType === 'incoming') return ['calltracking_call_order'];
  if (callType === 'callback') return ['call'];
  return ['calltracking_call_order', 'call'];
}

export function goalDisplayName(identifier: string): string {
  if (identifier === 'calltracking_call_order') return 'Звонок коллтрекинга (ckym)';
  if (identifier === 'call') return 'Обратный звонок (ckym)';
  return `${identifier} (ckym)`;
}

/** The config entry for a counter, every key explicit (as in ckym.config.example.json). */
export function counterEntry(id: number, s: ChosenSettings): Record<string, unknown> & { id: number } {
  return {
    id,
    name: s.name,
    enabled: true,
    callType: s.callType,
    minDuration: s.minDuration,
    status: s.status,
    uniqueness: s.uniqueness,
    tags: { ...s.tags },
    goal: s.goal,
    callGoalName: s.callGoalName,
    sites: [...s.sites],
    price: s.price,
    currency: s.currency,
  };
}
