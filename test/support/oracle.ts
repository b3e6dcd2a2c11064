/**
 * The test oracle: ckym.md's rules restated as plainly as possible, for end-to-end tests.
 *
 * Given the raw CallKeeper calls and the configured counters, it says which CSV rows Metrica should
 * end up with. It is written from the spec alone and imports nothing from src/ (not even the
 * sandbox): if ckym and the oracle disagree, one of them misread the spec.
 *
 * Rows are returned sorted by DateTime, then by CallKeeper's universalId; compare with
 * `sortRows()` applied to what the Metrica emulator received, since batching may reorder.
 */

export interface OracleCounter {
  id: number;
  enabled?: boolean;
  callType: 'all' | 'callback' | 'incoming';
  minDuration: number;
  status: 'all' | 'successful' | 'unsuccessful';
  uniqueness: 'all' | 'unique' | 'target' | 'unique-target';
  tags: { source: 'call' | 'none'; include: string[]; callback: string; incoming: string };
  goal: string;
  sites: string[];
  price: number | null;
  currency: string;
  [key: string]: unknown;
}

export interface OracleOptions {
  /** "Now" of the sync run, unix seconds. */
  nowUnix: number;
  /** CallKeeper's account zone (`callkeeper.timezone`). */
  timeZone: string;
  settleMinutes: number;
  /** The fetch window, unix seconds, both ends inclusive. */
  fromUnix: number;
  toUnix: number;
}

export interface ExpectedUploads {
  calls: Record<string, string>[];
  conversions: Record<string, string>[];
}

type RawCall = Record<string, unknown>;

// ---------------------------------------------------------------- reading raw fields

function text(call: RawCall, key: string): string {
  const value = call[key];
  if (value === null || value === undefined) return '';
  return String(value).trim();
}

function integer(call: RawCall, key: string): number {
  const n = Number(text(call, key));
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** true, 1, "1", "true" (any case) are true; everything else is false. */
export function truthy(value: unknown): boolean {
  if (value === true || value === 1) return true;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    return v === '1' || v === 'true';
  }
  return false;
}

// ---------------------------------------------------------------- time

/**
 * Offset of `timeZone` from UTC, in seconds, at the instant `unixSeconds`, read from Intl's
 * "GMT+03:00" style name (a different route than the emulator takes, on purpose).
 */
const offsetFormats = new Map<string, Intl.DateTimeFormat>();

function offsetSeconds(unixSeconds: number, timeZone: string): number {
  let format = offsetFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
    offsetFormats.set(timeZone, format);
  }
  const name =
    format
      .formatToParts(new Date(unixSeconds * 1000))
      .find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(name);
  if (!m) throw new Error(`unexpected zone name ${name}`);
  if (!m[1]) return 0;
  const seconds = Number(m[2]) * 3600 + Number(m[3]) * 60;
  return m[1] === '-' ? -seconds : seconds;
}

/** `Y-m-d H:i:s` read as wall time in `timeZone` → unix seconds; null when not such a text. */
export function callTimeToUnix(callTime: string, timeZone: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(callTime.trim());
  if (!m) return null;
  const asIfUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
  if (Number.isNaN(asIfUtc)) return null;
  let guess = asIfUtc - offsetSeconds(asIfUtc, timeZone);
  guess = asIfUtc - offsetSeconds(guess, timeZone);
  return guess;
}

// ---------------------------------------------------------------- the rules

/** A call may be sent when its callback legs are settled and it ended `settleMinutes` ago. */
export function isFinal(call: RawCall, callTimeUnix: number, opts: Pick<OracleOptions, 'nowUnix' | 'settleMinutes'>): boolean {
  if (text(call, 'serviceType') === 'callback') {
    const first = integer(call, 'statusFirst');
    const second = integer(call, 'statusSecond');
    // in progress / scheduled / awaiting a status update — for at most 72 hours (sync.maxWaitHours), then as it stands
    if (second === 0 && (first === 1 || first === 2 || first === 707) && opts.nowUnix - callTimeUnix < 72 * 3600) return false;
  }
  if (callTimeUnix > opts.nowUnix) return false; // a future call is never final
  const endedAt = callTimeUnix + Math.max(0, integer(call, 'duration'));
  return opts.nowUnix - endedAt >= opts.settleMinutes * 60;
}

/** `https://www.Shop.example:8080/page` → `shop.example`. */
export function siteHost(value: string): string {
  let host = value.trim().toLowerCase();
  host = host.replace(/^[a-z][a-z0-9+.-]*:\/\//, ''); // scheme
  host = host.replace(/[/?#].*$/, ''); // path, query, fragment
  host = host.replace(/^.*@/, ''); // user info
  host = host.replace(/:\d*$/, ''); // port
  host = host.replace(/\.$/, '');
  host = host.replace(/^www\./, '');
  return host;
}

/** `8 (999) 123-45-67` → `+79991234567`; `9991234567` → `+79991234567`; no digits → ''. */
export function phoneNumber(value: string): string {
  const digits = value.replace(/\D/g, '');
  if (digits === '') return '';
  if (digits.length === 11 && digits.startsWith('8')) return `+7${digits.slice(1)}`;
  if (digits.length === 10 && digits.startsWith('9')) return `+7${digits}`;
  return `+${digits}`;
}

function takesCall(counter: OracleCounter, call: RawCall): boolean {
  const serviceType = text(call, 'serviceType');
  if (counter.callType === 'callback' && serviceType !== 'callback') return false;
  if (counter.callType === 'incoming' && serviceType !== 'calltracking') return false;

  if (integer(call, 'duration') < counter.minDuration) return false;

  const status = text(call, 'status');
  if (counter.status === 'successful' && status !== 'success') return false;
  if (counter.status === 'unsuccessful' && status !== 'fail') return false;

  if (counter.uniqueness === 'unique' && !truthy(call.unique)) return false;
  if (counter.uniqueness === 'target' && !truthy(call.target)) return false;
  if (counter.uniqueness === 'unique-target' && !truthy(call.uniqueTarget)) return false;

  if (counter.sites.length > 0) {
    const wanted = new Set(counter.sites.map(siteHost));
    const hosts = [text(call, 'site'), text(call, 'siteVisit'), text(call, 'visitSite')]
      .filter((v) => v !== '')
      .map(siteHost);
    if (!hosts.some((h) => wanted.has(h))) return false;
  }
  return true;
}

function tagText(counter: OracleCounter, call: RawCall): string {
  const serviceType = text(call, 'serviceType');
  if (serviceType === 'callback' && counter.tags.callback.trim() !== '') return counter.tags.callback;
  if (serviceType === 'calltracking' && counter.tags.incoming.trim() !== '') return counter.tags.incoming;
  if (counter.tags.source === 'none') return '';

  const raw = Array.isArray(call.tags) ? call.tags : [];
  const include = counter.tags.include.map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
  const chosen: string[] = [];
  for (const item of raw) {
    if (item === null || item === undefined) continue;
    const tag = String(item).trim();
    if (tag === '') continue;
    if (include.length > 0 && !include.includes(tag.toLowerCase())) continue;
    if (!chosen.includes(tag)) chosen.push(tag);
  }
  return chosen.join(', ');
}

/** The Direct click id in the call's landing URL (`yclid=` digits), else its entry point or call page; '' for none. */
function yclidOf(call: RawCall): string {
  for (const key of ['entryPointQuery', 'entryPoint', 'callPage']) {
    const m = /[?&]yclid=(\d{1,20})(?:[&#]|$)/.exec(text(call, key));
    if (m && !/^0+$/.test(m[1]!) && BigInt(m[1]!) <= 18446744073709551615n) return m[1]!;
  }
  return '';
}

/**
 * Which identifier a call's rows carry for a counter: the first of its `identifiers` (default ClientId, then yclid)
 * the call has — `yaClid` for ClientId, the landing URL's `yclid=` for Yclid; null when none.
 */
function identifier(counter: OracleCounter, call: RawCall): { column: 'ClientId' | 'Yclid'; value: string } | null {
  const order = Array.isArray(counter.identifiers) ? (counter.identifiers as string[]) : ['clientId', 'yclid'];
  for (const type of order) {
    if (type === 'clientId' && text(call, 'yaClid') !== '') return { column: 'ClientId', value: text(call, 'yaClid') };
    if (type === 'yclid' && yclidOf(call) !== '') return { column: 'Yclid', value: yclidOf(call) };
  }
  return null;
}

function callRow(counter: OracleCounter, call: RawCall, dateTime: number): Record<string, string> {
  const id = identifier(counter, call);
  const callPage = text(call, 'callPage');
  const row: Record<string, string> = {
    [id?.column ?? 'ClientId']: id?.value ?? '',
    DateTime: String(dateTime),
    StaticCall: id === null ? '1' : '0',
    PhoneNumber: phoneNumber(text(call, 'clientNumber')),
    TalkDuration: String(Math.max(0, integer(call, 'duration'))),
    CallMissed: text(call, 'status') === 'fail' ? '1' : '0',
    FirstTimeCaller: truthy(call.unique) ? '1' : '0',
    Tag: tagText(counter, call),
    URL: callPage !== '' ? callPage : text(call, 'entryPoint'),
    CallTrackerURL: text(call, 'recordUrl'),
  };
  addPrice(counter, row);
  return row;
}

function conversionRow(counter: OracleCounter, id: { column: string; value: string }, dateTime: number): Record<string, string> {
  const row: Record<string, string> = { [id.column]: id.value, Target: counter.goal, DateTime: String(dateTime) };
  addPrice(counter, row);
  return row;
}

function addPrice(counter: OracleCounter, row: Record<string, string>): void {
  if (counter.price === null || counter.price === undefined) return;
  row.Price = String(counter.price);
  row.Currency = counter.currency;
}

// ---------------------------------------------------------------- the oracle

export function expectedRows(
  rawCalls: RawCall[],
  counters: OracleCounter[],
  opts: OracleOptions,
): Map<number, ExpectedUploads> {
  // One state per call: a later copy of the same universalId wins.
  const byId = new Map<string, RawCall>();
  for (const call of rawCalls) byId.set(text(call, 'universalId'), call);

  const eligible: { call: RawCall; at: number; id: string }[] = [];
  for (const [id, call] of byId) {
    const at = callTimeToUnix(text(call, 'callTime'), opts.timeZone);
    if (at === null) continue;
    if (at < opts.fromUnix || at > opts.toUnix) continue;
    if (!isFinal(call, at, opts)) continue;
    eligible.push({ call, at, id });
  }
  eligible.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const result = new Map<number, ExpectedUploads>();
  for (const counter of counters) {
    const expected: ExpectedUploads = { calls: [], conversions: [] };
    result.set(counter.id, expected);
    if (counter.enabled === false) continue;
    for (const { call, at } of eligible) {
      if (!takesCall(counter, call)) continue;
      expected.calls.push(callRow(counter, call, at));
      const id = identifier(counter, call);
      if (counter.goal.trim() !== '' && id !== null) {
        expected.conversions.push(conversionRow(counter, id, at));
      }
    }
  }
  return result;
}

/** A stable order for comparing row multisets: by DateTime, then by every value. */
export function sortRows(rows: Record<string, string>[]): Record<string, string>[] {
  const key = (r: Record<string, string>): string =>
    `${(r.DateTime ?? '').padStart(12, '0')}\u0000${JSON.stringify(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
