import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { Got } from 'got';
import { AuthError, ConfigError, RemoteError } from '../errors.js';
import { mask } from '../redact.js';
import type { RawCall } from '../domain/types.js';
import { createHttp, headerValue, networkReason } from './http.js';
import { Retrier, type OnRetry, type RetryBudget, type RetryPolicy, type Timer } from './retry.js';

export const CALLKEEPER_DEFAULT_URL = 'https://ckct.ru/api/';
export const CALLKEEPER_PAGE_SIZE = 1000;
/** A server that never stops paging is a bug on one side or the other; stop long before eternity. */
const MAX_PAGES = 100_000;

export interface CallKeeperClientOptions {
  baseUrl: string;
  apiKey: string;
  method: 'get' | 'getWithRole' | 'getByRole';
  policy: RetryPolicy;
  onRetry?: OnRetry | undefined;
  /** The command run's retry budget, shared with its other clients (one of its own when absent). */
  budget?: RetryBudget | undefined;
  timer?: Timer | undefined;
  userAgent?: string | undefined;
}

export interface CallPage {
  page: number;
  calls: RawCall[];
  /**
   * Set on the last page of a fetch that ended on an answer that cannot be trusted as the end: an empty array
   * (CallKeeper's documented answer for "no calls" is the "No rows found" error, and an empty page 0 cannot be told
   * from a glitch). The caller must not move its cursors past what such a fetch covered.
   */
  unverified?: true;
}

/** What one answer of `call/get` meant. */
type Answer =
  | { kind: 'calls'; calls: RawCall[] }
  | { kind: 'end' }
  | { kind: 'error'; error: Error; retry: boolean; retryAfter?: string | undefined };

/**
 * CallKeeper's call export: `GET {base}?json/v3/{key}/call/{method}/{page}/{from}/{to}`.
 * The key travels in the URL, so no URL leaves this module unredacted.
 */
export class CallKeeperClient {
  private http: Got | null = null;
  private readonly retry: Retrier;

  constructor(private readonly options: CallKeeperClientOptions) {
    this.retry = new Retrier({ service: 'CallKeeper', ...options });
  }

  /**
   * Pages of raw calls with `callTime` in [from, to] (unix seconds), in order, one request at a time.
   * A server that ignores the page number (it answers a page with the very calls of an earlier one) stops the fetch
   * with a RemoteError at once, instead of paging through the same calls until MAX_PAGES.
   */
  async *pages(from: number, to: number): AsyncGenerator<CallPage> {
    const fingerprints = new Map<string, number>();
    for (let page = 0; page < MAX_PAGES; page++) {
      let calls = await this.fetchPage(page, from, to);
      if (calls === null) return;
      if (calls.length === 0) {
        calls = await this.confirmEmptyPage(page, from, to);
        // the end, but told by an empty array: trusted for this run's decisions, never for moving a cursor
        if (calls === null) {
          yield { page, calls: [], unverified: true };
          return;
        }
      }
      const fingerprint = pageFingerprint(calls);
      const earlier = fingerprints.get(fingerprint);
      if (earlier !== undefined) {
        throw new RemoteError(
          `CallKeeper answered page ${page} with the same calls as page ${earlier}: it seems to ignore the page number; stopped instead of paging on. Nothing was advanced; the next run fetches again`,
        );
      }
      fingerprints.set(fingerprint, page);
      const full = calls.length >= CALLKEEPER_PAGE_SIZE;
      yield { page, calls };
      // The page is the caller's now: not held here through the next page's fetch and parse (garbage collection
      // copies every object still reachable, and a page is thousands).
      calls = null;
      if (!full) return;
    }
    throw new RemoteError(`CallKeeper kept returning full pages past page ${MAX_PAGES}; stopping`);
  }

  /**
   * An empty array is not how CallKeeper says "no calls" (that is the "No rows found" error): on page 0 it may be a
   * glitch, and after a full page it is either the end (the last page held exactly 1000 calls) or a glitch that
   * would silently drop every later page. The next page tells: if it has calls, the empty one is asked again;
   * if it stays empty, the run fails rather than advance past calls it never saw. Null means the end.
   */
  private async confirmEmptyPage(page: number, from: number, to: number): Promise<RawCall[] | null> {
    const next = await this.fetchPage(page + 1, from, to);
    if (next === null || next.length === 0) return null;
    // Each look again is an answer, not a failure of the service: only the waits between them are booked.
    for (let attempt = 1; ; attempt++) {
      const again = await this.fetchPage(page, from, to);
      if (again && again.length > 0) return again;
      const reason = `page ${page} empty again`;
      const wait = this.retry.next(attempt, { reason }, 0);
      if (!wait.retry) break;
      await this.retry.wait(wait.delayMs, { what: `page ${page}`, attempt, reason });
    }
    throw new RemoteError(
      `CallKeeper answered page ${page} empty although page ${page + 1} has calls; nothing was advanced, the next run fetches again`,
    );
  }

  /** A cheap request that proves the key works (for `login` and `doctor`). */
  async verifyKey(nowUnix: number): Promise<void> {
    await this.fetchPage(0, nowUnix - 60, nowUnix);
  }

  /** One page, retried per the policy. Null when paging is over. */
  private fetchPage(page: number, from: number, to: number): Promise<RawCall[] | null> {
    return this.retry.run(
      `page ${page}`,
      async () => {
        const answer = await this.request(page, from, to);
        if (answer.kind === 'calls') return { ok: true, value: answer.calls };
        if (answer.kind === 'end') return { ok: true, value: null };
        if (!answer.retry) return { ok: false, retry: false, error: answer.error };
        // CallKeeper's Retry-After is honoured as Metrica's is (retry.ts: waited for, unless longer than allowed)
        return { ok: false, retry: true, error: answer.error, reason: answer.error.message, retryAfter: answer.retryAfter };
      },
      (last, _attempts, why) => (why === 'attempts' ? last.error : new RemoteError(`${last.error.message}${this.retry.explain(why)}`)),
    );
  }

  private async request(page: number, from: number, to: number): Promise<Answer> {
    const { baseUrl, apiKey, method } = this.options;
    const path = (key: string) => `json/v3/${key}/call/${method}/${page}/${from}/${to}`;
    const shown = `${baseUrl}?${path(mask(apiKey))}`;
    const http = await this.client();
    const url = `${baseUrl}?${path(encodeURIComponent(apiKey))}`;
    let status: number;
    let body: Buffer;
    let headers: Record<string, string | string[] | undefined>;
    try {
      // The bytes, not text: parseBody decodes a page for a fraction of what Buffer#toString('utf8') costs.
      const res = await http.get(url, { responseType: 'buffer' });
      status = res.statusCode;
      body = res.body;
      headers = res.headers;
    } catch (error) {
      return { kind: 'error', error: new RemoteError(`CallKeeper unreachable (${networkReason(error)}) at ${shown}`), retry: true };
    }
    if (status >= 500 || status === 429 || status === 408) {
      const retryAfter = headerValue(headers, 'retry-after');
      return { kind: 'error', error: new RemoteError(`CallKeeper answered HTTP ${status} at ${shown}`), retry: true, retryAfter };
    }
    if (status >= 300 && status < 400) {
      // Never followed: the key travels in the URL, and a redirect would carry it to wherever it points.
      const location = headerValue(headers, 'location');
      return {
        kind: 'error',
        error: new ConfigError(
          `CallKeeper answered HTTP ${status}, a redirect to ${location ? redirectTarget(location, url) : 'nowhere'}; ckym does not follow redirects (the API key is in the URL). If CallKeeper moved, set CKYM_CALLKEEPER_URL to its new address`,
        ),
        retry: false,
      };
    }
    if (status === 401 || status === 403) {
      return { kind: 'error', error: new AuthError(`CallKeeper refused the API key (HTTP ${status}); run "ckym login"`), retry: false };
    }
    if (status !== 200) {
      return { kind: 'error', error: new RemoteError(`CallKeeper answered HTTP ${status} at ${shown}`), retry: false };
    }
    let json: unknown;
    try {
      json = parseBody(body);
    } catch {
      const looksHtml = /^\s*</.test(body.toString('utf8'));
      return {
        kind: 'error',
        error: new RemoteError(
          `CallKeeper answered ${looksHtml ? 'an HTML page' : 'something that is not JSON'} instead of calls at ${shown}`,
        ),
        retry: true,
      };
    }
    return interpret(json, shown);
  }

  private async client(): Promise<Got> {
    this.http ??= await createHttp({ timeoutMs: this.options.policy.timeoutMs, followRedirect: false, userAgent: this.options.userAgent });
    return this.http;
  }
}

/** Both answer shapes and the error envelope, per callkeeper-api.md. */
export function interpret(json: unknown, shown: string): Answer {
  if (Array.isArray(json)) return { kind: 'calls', calls: json.filter(isObject) };
  if (!isObject(json)) {
    return { kind: 'error', error: new RemoteError(`CallKeeper answered an unexpected ${typeof json} at ${shown}`), retry: true };
  }
  const inbound = isObject(json.inbound) ? json.inbound : {};
  const message = typeof inbound.error === 'string' ? inbound.error.trim() : '';
  if (message) {
    if (/^No rows found/i.test(message) || /^Incorrect page/i.test(message)) return { kind: 'end' };
    if (/not recognized/i.test(message)) {
      return {
        kind: 'error',
        error: new AuthError('CallKeeper did not recognise the API key ("User is not recognized"); run "ckym login" with a valid key'),
        retry: false,
      };
    }
    const hint = /method/i.test(message) ? ' (check callkeeper.method in the config)' : '';
    return { kind: 'error', error: new ConfigError(`CallKeeper refused the request: "${message}"${hint}`), retry: false };
  }
  if (Array.isArray(json.payload)) return { kind: 'calls', calls: json.payload.filter(isObject) };
  return { kind: 'error', error: new RemoteError(`CallKeeper answered an object without calls at ${shown}`), retry: true };
}

/** A redirect's target for a message: scheme, host and path, never its query (which could carry the key back). */
function redirectTarget(location: string, from: string): string {
  try {
    const target = new URL(location, from);
    return `${target.origin}${target.pathname}${target.origin === new URL(from).origin ? ' (the same host)' : ''}`;
  } catch {
    return 'an unreadable address';
  }
}

/** Which calls a page holds, in a few bytes: the same fingerprint twice in one fetch is the same page twice. */
function pageFingerprint(calls: readonly RawCall[]): string {
  const ids = calls.map((c) => String(c.universalId ?? '')).sort();
  return createHash('sha1').update(ids.join('\n')).digest('base64');
}

/**
 * A page's bytes (UTF-8) → what `parseKeepingDigits(body.toString('utf8'))` returns, at a fraction of the cost: Node 20
 * decodes UTF-8 several times slower than it copies bytes (≈ 12 ms of a 1.2 MB page, against ≈ 3 ms for JSON.parse).
 *
 * The bytes are read as Latin-1 (one character per byte, a copy) and parsed. JSON's syntax is ASCII, so a byte past
 * 0x7F can only stand inside a string; each such string is decoded again from its own bytes as UTF-8. That is the text
 * the whole body's decoding gives: an escape resolves to ASCII, and an ASCII byte ends a multi-byte sequence the same
 * way in both (a broken one becomes U+FFFD either way). Anything this cannot promise goes the plain way: a body with a
 * `\u` escape (an escaped character past 0x7F would be taken for bytes), a key past ASCII, a number past 2^53 (its
 * digits are kept by parseKeepingDigits), or a body JSON.parse refuses (the plain way gives the error).
 */
export function parseBody(body: Buffer): unknown {
  const ascii = isAscii(body);
  if (ascii || body.indexOf('\\u') < 0) {
    try {
      const json: unknown = JSON.parse(latin1(body));
      // A page is an array or an object; a bare string or number is left to the plain way (it never is a page).
      if (typeof json === 'object' && json !== null && readBytes(json, ascii ? null : { fixed: new Map(), keys: new Set() }) !== LOST) return json;
    } catch {
      // the plain way below says what is wrong
    }
  }
  return parseKeepingDigits(body.toString('utf8'));
}

/**
 * The bytes as Latin-1 text. A page (over ≈ 1 MB) becomes an external string: its characters stay outside the
 * JavaScript heap, so the garbage collector never copies them.
 */
function latin1(body: Buffer): string {
  return body.toString('latin1');
}

const LOST = Symbol('plain way');
const NON_ASCII = /[^\x00-\x7f]/;

/** What a walk of a body with bytes past ASCII remembers: each such string's decoding, the keys found all ASCII. */
interface Decoding {
  fixed: Map<string, string>;
  keys: Set<string>;
}

/**
 * Walks a value parsed from Latin-1 text: every string holding a byte past ASCII is decoded from its bytes as UTF-8,
 * in place (`decoding` null: the body is all ASCII, nothing to decode). LOST when the plain way must parse the body.
 */
function readBytes(value: unknown, decoding: Decoding | null): unknown {
  if (typeof value !== 'object' || value === null) return typeof value === 'number' && !fitsDouble(value) ? LOST : value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'string') {
        if (decoding && NON_ASCII.test(item)) value[i] = utf8(item, decoding);
      } else if (readBytes(item, decoding) === LOST) return LOST;
    }
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (decoding && !decoding.keys.has(key)) {
      if (NON_ASCII.test(key)) return LOST;
      decoding.keys.add(key);
    }
    const item = record[key];
    if (typeof item === 'string') {
      if (decoding && NON_ASCII.test(item)) record[key] = utf8(item, decoding);
    } else if (readBytes(item, decoding) === LOST) return LOST;
  }
  return value;
}

/** A JSON number JSON.parse gives as parseKeepingDigits would: anything within ±(2^53 − 1). */
const fitsDouble = (n: number): boolean => n <= Number.MAX_SAFE_INTEGER && n >= -Number.MAX_SAFE_INTEGER;

function utf8(bytes: string, { fixed }: Decoding): string {
  let text = fixed.get(bytes);
  if (text === undefined) {
    text = Buffer.from(bytes, 'latin1').toString('utf8');
    fixed.set(bytes, text);
  }
  return text;
}

/**
 * JSON.parse, except that an integer too large for a double (a `yaClid` such as 1716195600123456789 sent as a JSON
 * number) arrives as the string of its digits instead of a rounded number: a ClientID that lost digits would link
 * the call to somebody else's visit. Numbers with a fraction or an exponent are left to JSON.parse.
 */
export function parseKeepingDigits(text: string): unknown {
  // The usual page has long digit runs only inside strings (ClientIDs as text): nothing to keep, no scan.
  if (!/[:,[]\s*-?\d{16}/.test(text)) return JSON.parse(text);
  const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
  let out = '';
  let last = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // a string, skipped whole (digits inside one are never touched): to the quote no odd run of \ escapes
      let end = text.indexOf('"', i + 1);
      while (end > 0) {
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      if (end < 0) break; // unterminated: JSON.parse says so
      i = end + 1;
    } else if (isDigit(c) || c === 0x2d) {
      let end = i + 1;
      while (end < text.length && isDigit(text.charCodeAt(end))) end++;
      const next = text.charCodeAt(end);
      const fraction = next === 0x2e || next === 0x65 || next === 0x45; // . e E
      if (!fraction && end - i >= 16 && !Number.isSafeInteger(Number(text.slice(i, end)))) {
        out += `${text.slice(last, i)}"${text.slice(i, end)}"`;
        last = end;
      }
      i = end;
      if (fraction) while (i < text.length && /[\d.eE+-]/.test(text[i]!)) i++;
    } else {
      i++;
    }
  }
  return JSON.parse(last === 0 ? text : out + text.slice(last));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
