/**
 * Deterministic, realistic CallKeeper call histories (field names of callkeeper-api.md) and a
 * matching Metrica counter seed. Same options → same calls, byte for byte: the randomness comes
 * from a seeded mulberry32, the clock from `nowUnix`.
 *
 * The data is deliberately untidy, the way the spec says the real API is: booleans as
 * `true`/`"1"`/`1`, some numbers as strings, `siteVisit` or `visitSite`, phone numbers in several
 * formats, a few missing or null fields, in-progress and scheduled callbacks among the newest calls,
 * and one call exactly at local midnight.
 */
import type { MetrikaCounterSeed } from './metrika.js';
import { formatWallTime, localMidnightAtOrBefore } from './time.js';

export interface GenerateCallsOptions {
  count: number;
  seed: number;
  /** The calls spread over [nowUnix − days·86400, nowUnix]. */
  nowUnix: number;
  days: number;
  /** Zone of `callTime`. Default `Europe/Moscow`. */
  timeZone?: string;
  /** Host names the calls come from. Default ['shop.example', 'www.Shop.example', 'blog.example', 'other.example']. */
  sites?: string[];
  /**
   * The share (0–1) of every callback, over the whole history, that stays unfinished for ever — in progress (`1/0`)
   * or scheduled (`2/0`), as CallKeeper leaves a callback it never updates: the stuck-calls account of issue 14.
   * Default 0. Chosen by a generator of its own, so the other calls are the same as without it.
   */
  stuckShare?: number;
  /** Told every 10 000 calls made (a million take half a minute). */
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_SITES = ['shop.example', 'www.Shop.example', 'blog.example', 'other.example'];
export const TAG_POOL = ['Директ', 'Реклама, "Директ"', 'SEO', 'повторный', 'vip'];

/** mulberry32: a tiny seeded PRNG, [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Dice {
  constructor(private readonly next: () => number) {}
  float(): number {
    return this.next();
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new Error('pick from an empty list');
    return list[Math.floor(this.next() * list.length)]!;
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i += 1) s += String(Math.floor(this.next() * 10));
    return s;
  }
  /** A boolean as CallKeeper might send it: true/false, "1"/"0" or 1/0. */
  flag(value: boolean): boolean | string | number {
    const r = this.next();
    if (r < 0.6) return value;
    if (r < 0.8) return value ? '1' : '0';
    return value ? 1 : 0;
  }
}

const PAGES = ['', 'catalog', 'catalog/phones', 'contacts', 'delivery', 'sale', 'blog/how-to-choose', 'product/42'];
const CITIES = ['Москва', 'Санкт-Петербург', 'Казань', 'Новосибирск', 'Екатеринбург', ''];
const DEVICES = ['desktop', 'iphone 13', 'android', 'ipad', ''];
const CB_SOURCES = ['widget', 'form', 'api', 'mobile', 'lg'];
const CB_TOOLS = ['Виджет обратного звонка', 'Форма на сайте', 'Лидогенератор'];
const CT_CAMPAIGNS = [
  { id: 1001, name: 'Яндекс Директ' },
  { id: 1002, name: 'SEO' },
  { id: 1003, name: 'Офлайн, листовки' },
];
const UTM = [
  { source: 'yandex', medium: 'cpc', campaign: 'brand', referrer: 'https://yandex.ru/' },
  { source: 'yandex', medium: 'cpc', campaign: 'phones_msk', referrer: 'https://yandex.ru/' },
  { source: 'google', medium: 'cpc', campaign: 'search', referrer: 'https://www.google.com/' },
];

function bareHost(site: string): string {
  return site
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, '')
    .replace(/[/?#:].*$/, '')
    .replace(/^www\./, '');
}

export function generateCalls(opts: GenerateCallsOptions): Record<string, unknown>[] {
  const { count, seed, nowUnix, days } = opts;
  const timeZone = opts.timeZone ?? 'Europe/Moscow';
  const sites = opts.sites && opts.sites.length > 0 ? opts.sites : DEFAULT_SITES;
  if (!Number.isInteger(count) || count < 0) throw new Error('count must be a non-negative integer');
  if (!(days > 0)) throw new Error('days must be positive');
  const dice = new Dice(mulberry32(seed));
  const start = Math.floor(nowUnix - days * 86_400);

  // Call times, oldest first; one call exactly at the latest local midnight.
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) times.push(dice.int(start, nowUnix));
  times.sort((a, b) => a - b);
  if (count > 0) {
    const midnight = localMidnightAtOrBefore(nowUnix, timeZone);
    let closest = 0;
    times.forEach((t, i) => {
      if (Math.abs(t - midnight) < Math.abs(times[closest]! - midnight)) closest = i;
    });
    times[closest] = midnight;
    times.sort((a, b) => a - b);
  }

  // The newest few percent may hold unfinished callbacks.
  const recentFrom = count - Math.max(4, Math.ceil(count * 0.05));
  const calls: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i += 1) {
    calls.push(makeCall(dice, i, times[i]!, { timeZone, sites, recent: i >= recentFrom }));
    if (opts.onProgress && (i + 1) % 10_000 === 0) opts.onProgress(i + 1, count);
  }
  guaranteeUnfinishedCallbacks(calls, recentFrom, dice);
  if (opts.stuckShare) strandCallbacks(calls, opts.stuckShare, seed);
  return calls;
}

/**
 * Leaves `share` of the callbacks (any age, the midnight call excepted) unfinished for ever: in progress or
 * scheduled. What `stuckShare` does; exported for a caller that reworks the calls first (the bench).
 */
export function strandCallbacks(calls: Record<string, unknown>[], share: number, seed: number): void {
  if (!(share > 0 && share <= 1)) throw new Error('stuckShare must be in (0, 1]');
  const dice = new Dice(mulberry32(seed ^ 0x5eed));
  for (const call of calls) {
    if (call.serviceType !== 'callback' || String(call.callTime).endsWith(' 00:00:00') || !dice.chance(share)) continue;
    const [a, b] = dice.chance(0.5) ? [1, 0] : [2, 0];
    leaveUnfinished(call, a, b);
  }
}

/** The call becomes a callback whose legs say `a/b` (an unfinished pair): failed so far, no talk, no record. */
function leaveUnfinished(call: Record<string, unknown>, a: number, b: number): void {
  const stringy = typeof call.duration === 'string';
  Object.assign(call, {
    serviceType: 'callback',
    statusFirst: stringy ? String(a) : a,
    statusSecond: stringy ? String(b) : b,
    status: 'fail',
    duration: stringy ? '0' : 0,
    tariffTime: stringy ? '0' : 0,
    recordUrl: '',
  });
}

interface CallContext {
  timeZone: string;
  sites: readonly string[];
  recent: boolean;
}

function makeCall(dice: Dice, index: number, callTime: number, ctx: CallContext): Record<string, unknown> {
  const r = dice.float();
  const serviceType = r < 0.35 ? 'callback' : r < 0.95 ? 'calltracking' : 'import';
  const success = dice.chance(0.68);
  const stringy = dice.chance(0.1);

  // Leg statuses: final SIP-like codes; unfinished callbacks come later.
  let statusFirst = 200;
  let statusSecond = 200;
  if (!success) {
    [statusFirst, statusSecond] = dice.pick([
      [486, 0],
      [480, 0],
      [603, 0],
      [200, 486],
      [200, 480],
      [200, 487],
    ] as const);
  }
  let status = success ? 'success' : 'fail';
  if (serviceType === 'callback' && ctx.recent && dice.chance(0.3)) {
    [statusFirst, statusSecond] = dice.chance(0.5) ? [1, 0] : [2, 0];
    status = 'fail';
  }
  const finishedSuccess = status === 'success';
  const duration = finishedSuccess
    ? 5 + Math.floor(dice.float() ** 2 * 895)
    : statusFirst === 200 && dice.chance(0.1)
      ? dice.int(1, 9)
      : 0;

  const unique = dice.chance(0.4);
  const target = duration >= 120;

  // Sites: a plain host, a www./capitalised variant, or a full URL.
  const siteRaw = serviceType === 'import' ? '' : dice.pick(ctx.sites);
  const host = bareHost(siteRaw);
  const site = siteRaw === '' ? '' : dice.chance(0.15) ? `https://www.${host}/${dice.pick(PAGES.slice(1))}` : siteRaw;
  const hasClid = serviceType !== 'import' && dice.chance(0.7);
  const visitHost = !hasClid && dice.chance(0.5) ? '' : dice.chance(0.1) ? bareHost(dice.pick(ctx.sites)) : host;
  const siteVisit = siteRaw === '' || visitHost === '' ? '' : dice.chance(0.3) ? `www.${visitHost}` : visitHost;
  const visitKey = dice.chance(0.3) ? 'visitSite' : 'siteVisit';

  const yaClid = hasClid ? `${callTime - dice.int(600, 60 * 86_400)}${dice.digits(9)}` : '';
  const utm = hasClid && dice.chance(0.7) ? dice.pick(UTM) : null;
  const landing = host ? `https://${host}/${dice.pick(PAGES)}` : '';
  const entryPointQuery =
    landing && utm
      ? `${landing}?utm_source=${utm.source}&utm_medium=${utm.medium}&utm_campaign=${utm.campaign}` +
        (utm.source === 'yandex' ? `&yclid=${dice.digits(19).replace(/^0/, '5')}` : '')
      : landing;
  const callPage =
    host && (serviceType === 'callback' || dice.chance(0.4)) ? `https://${host}/${dice.pick(PAGES)}` : '';

  const universalId = String(3_100_000_000_000_000 + index * 7_919 + dice.int(0, 7_918));
  const tags = makeTags(dice);
  const number = makeClientNumber(dice);
  const tzShift = dice.pick([0, 0, 0, 1, 2, 4, 7]);

  const num = (n: number): number | string => (stringy ? String(n) : n);
  const call: Record<string, unknown> = {
    universalId,
    serviceType,
    clientNumber: number,
    managerNumber: `7495${dice.digits(7)}`,
    callerIdToManager: number.replace(/\D/g, ''),
    callerIdToClient: `7800${dice.digits(7)}`,
    statusFirst: num(statusFirst),
    statusSecond: num(statusSecond),
    status,
    callTime: formatWallTime(callTime, ctx.timeZone),
    localDate: formatWallTime(callTime + tzShift * 3600, ctx.timeZone),
    timezoneOffset: dice.chance(0.2) ? '+0020' : `+${String(3 + tzShift).padStart(2, '0')}00`,
    duration: num(duration),
    tariffTime: num(Math.ceil(duration / 60)),
    site,
    recordUrl: finishedSuccess ? `https://ckct.ru/records/${universalId}.mp3` : '',
    unique: dice.flag(unique),
    target: dice.flag(target),
    uniqueTarget: dice.flag(unique && target),
    [visitKey]: siteVisit,
    referrer: utm?.referrer ?? '',
    utm_source: utm?.source ?? '',
    utm_medium: utm?.medium ?? '',
    utm_campaign: utm?.campaign ?? '',
    utm_content: utm ? dice.pick(['', 'ad1', 'ad2']) : '',
    utm_term: utm ? dice.pick(['', 'купить телефон', 'магазин']) : '',
    yaClid,
    gaClid: hasClid && dice.chance(0.5) ? `${dice.digits(9)}.${callTime - 86_400}` : '',
    city: dice.pick(CITIES),
    region: '',
    country: 'Россия',
    ipAddress: `10.${dice.int(0, 255)}.${dice.int(0, 255)}.${dice.int(1, 254)}`,
    pagesCount: num(hasClid ? dice.int(1, 12) : 0),
    entryPoint: landing,
    entryPointQuery,
    callPage,
    counts: num(hasClid ? dice.int(1, 6) : 0),
    userAgent: hasClid ? 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)' : '',
    device: dice.pick(DEVICES),
    tags,
  };
  if (serviceType === 'callback') {
    Object.assign(call, {
      cbEventSource: dice.pick(CB_SOURCES),
      cbToolName: dice.pick(CB_TOOLS),
      cbToolId: num(dice.int(1000, 1010)),
      cbCallId: num(10_000_000 + index),
      cbOrderDate: formatWallTime(callTime - dice.int(5, 120), ctx.timeZone),
      cbAttempt: num(dice.int(1, 3)),
    });
  } else if (serviceType === 'calltracking') {
    const campaign = dice.pick(CT_CAMPAIGNS);
    Object.assign(call, {
      ctCallId: num(100_000 + index),
      ctCampaignId: num(campaign.id),
      ctCampaignName: campaign.name,
      ctIsListened: dice.pick(['', '0', '1']),
    });
  }
  // The docs promise no nulls; treat them as possible anyway.
  const untidy = dice.float();
  if (untidy < 0.03) call.recordUrl = null;
  else if (untidy < 0.06) delete call.callPage;
  else if (untidy < 0.08) delete call.tags;
  return call;
}

function makeClientNumber(dice: Dice): string {
  const national = `9${dice.digits(9)}`;
  const r = dice.float();
  if (r < 0.45) return `7${national}`;
  if (r < 0.6) return `8${national}`;
  if (r < 0.75) return `+7 (${national.slice(0, 3)}) ${national.slice(3, 6)}-${national.slice(6, 8)}-${national.slice(8)}`;
  if (r < 0.83) return national;
  if (r < 0.88) return `+7${national}`;
  if (r < 0.93) return `375${dice.digits(9)}`;
  return '';
}

function makeTags(dice: Dice): string[] {
  if (dice.chance(0.35)) return [];
  const n = dice.int(1, 3);
  const pool = [...TAG_POOL];
  const tags: string[] = [];
  for (let i = 0; i < n; i += 1) tags.push(pool.splice(dice.int(0, pool.length - 1), 1)[0]!);
  if (dice.chance(0.1)) tags.push(tags[0]!); // CallKeeper may repeat a tag
  return tags;
}

/** Makes sure the newest calls hold at least one in-progress (1/0) and one scheduled (2/0) callback. */
function guaranteeUnfinishedCallbacks(calls: Record<string, unknown>[], recentFrom: number, dice: Dice): void {
  if (calls.length < 2) return;
  const has = (a: number, b: number): boolean =>
    calls.some((c) => c.serviceType === 'callback' && Number(c.statusFirst) === a && Number(c.statusSecond) === b);
  const wanted: [number, number][] = [];
  if (!has(1, 0)) wanted.push([1, 0]);
  if (!has(2, 0)) wanted.push([2, 0]);
  // Use the newest calls, skipping a midnight call so it stays an ordinary one.
  let index = calls.length - 1;
  for (const [a, b] of wanted) {
    while (index >= Math.max(0, recentFrom) && String(calls[index]!.callTime).endsWith(' 00:00:00')) index -= 1;
    const call = calls[index];
    if (!call || index < 0) return;
    leaveUnfinished(call, a, b);
    Object.assign(call, { target: dice.flag(false), uniqueTarget: dice.flag(false) });
    delete call.ctCallId;
    delete call.ctCampaignId;
    delete call.ctCampaignName;
    delete call.ctIsListened;
    call.cbEventSource ??= 'widget';
    call.cbToolName ??= 'Виджет обратного звонка';
    index -= 1;
  }
}

/** A Metrica seed matching the default sites: own, edit, view-only, and one without call linking. */
export function generateCounters(): MetrikaCounterSeed[] {
  return [
    {
      id: 12345678,
      name: 'Интернет-магазин',
      site: 'shop.example',
      permission: 'own',
      callsLinking: true,
      goals: [
        { id: 201001, name: 'Оформление заказа', type: 'url', conditions: [{ type: 'contain', url: '/checkout/done' }] },
        { id: 201002, name: 'Звонок коллтрекинга', type: 'action', conditions: [{ type: 'exact', url: 'calltracking_call_order' }] },
        { id: 201003, name: 'Обратный звонок', type: 'action', conditions: [{ type: 'exact', url: 'call' }] },
      ],
    },
    {
      id: 23456789,
      name: 'Блог',
      site: 'blog.example',
      permission: 'edit',
      callsLinking: true,
      goals: [],
    },
    {
      id: 34567890,
      name: 'Партнёрский сайт',
      site: 'other.example',
      permission: 'view',
      callsLinking: true,
      goals: [{ id: 201004, name: 'Звонок', type: 'call', conditions: [] }],
    },
    {
      id: 45678901,
      name: 'Новый сайт',
      site: 'new.example',
      permission: 'own',
      callsLinking: false,
      goals: [],
    },
  ];
}
