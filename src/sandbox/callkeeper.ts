/**
 * A loopback emulator of CallKeeper's call-export API (shared/spec/callkeeper-api.md).
 *
 *   GET {url}?{format}/{version}/{apikey}/{entity}/{method}/{page}/{from}/{to}
 *
 * Strict to the spec: every documented error envelope, 0-based pages of `pageSize` calls,
 * `from`/`to` as unix seconds or `Y-m-d`, calls selected by their `callTime` read as wall time
 * in `timeZone`. It imports nothing from ckym: its own time code, its own everything.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultQueue } from './faults.js';
import { readBody, sendText, sleep, startServer, urlHost } from './http.js';
import type { RunningServer } from './http.js';
import { parseDate, parseWallTime, wallTimeToUnix } from './time.js';

export interface CallKeeperEmulatorOptions {
  apiKey: string;
  calls?: Record<string, unknown>[];
  /** Zone of the account: `callTime` strings are wall time there. Default `Europe/Moscow`. */
  timeZone?: string;
  /** Calls per page. Default 1000. */
  pageSize?: number;
  host?: string;
  port?: number;
  /** Unix ms; the default `to` ("now") when the request omits it. Default `Date.now`. */
  now?: () => number;
}

export interface CallKeeperRequest {
  /** The API method segment (`get`, `getWithRole`, …), '' when missing. */
  method: string;
  /** The HTTP method (always GET for a well-behaved client). */
  httpMethod: string;
  /** -1 when the page segment is missing or not a number. */
  page: number;
  /** Unix seconds; NaN when missing or malformed. */
  from: number;
  /** Unix seconds; null when omitted; NaN when malformed. */
  to: number | null;
  /** HTTP status sent; 0 when the socket was destroyed without an answer. */
  status: number;
  /** Date.now() when the request arrived. */
  at: number;
}

export interface CallKeeperEmulator {
  /** Base URL, e.g. `http://127.0.0.1:PORT/api/`; the client appends `?json/v3/KEY/call/get/PAGE/FROM/TO`. */
  url: string;
  /** Every request, in arrival order. The API key is never stored. */
  requests: CallKeeperRequest[];
  /** Highest number of requests in flight at once (the spec asks clients to keep it 1). */
  readonly maxConcurrentRequests: number;
  /** Replace the account's call history. */
  setCalls(calls: Record<string, unknown>[]): void;
  /** Shallow-merge `patch` into the stored call with this `universalId` (throws if there is none). */
  updateCall(universalId: string, patch: Record<string, unknown>): void;
  /** Queue a fault; it is consumed by the next matching request(s). */
  inject(fault: CallKeeperFault): void;
  close(): Promise<void>;
}

export type CallKeeperFault =
  /** An HTTP error page; `retryAfter` (seconds) adds a Retry-After header. */
  | { type: 'status'; status: number; times?: number; page?: number; retryAfter?: number }
  | { type: 'html'; times?: number; page?: number }
  | { type: 'garbage'; times?: number; page?: number }
  | { type: 'truncated'; times?: number; page?: number }
  /** `[]` for a page that has calls (page 0 included). */
  | { type: 'empty-page'; page: number; times?: number }
  /** `[]` instead of the documented "No rows found" for a window without calls (undocumented, distrusted by ckym). */
  | { type: 'empty-array'; times?: number }
  /** A server that ignores the page number: every page asked is answered with page 0. */
  | { type: 'ignore-page'; times?: number }
  /** A redirect (301/302/307/308) to `location`, which may name another host. */
  | { type: 'redirect'; location: string; status?: number; times?: number }
  | { type: 'envelope'; times?: number }
  | { type: 'delay'; ms: number; times?: number }
  | { type: 'reset'; times?: number };

/** The documented error texts (`inbound.error`). */
export const CALLKEEPER_ERRORS = {
  noRows: 'No rows found',
  wrongFormat: 'Type to return is not available',
  wrongVersion: 'It is wrong API version',
  wrongKey: 'User is not recognized',
  wrongEntity: 'Entity does not exist',
  wrongMethod: 'Method does not exist',
  wrongPage: 'Incorrect page is set',
  wrongDate: "Start date has wrong type. Possible format is 'Y-m-d' or timestamp",
} as const;

/** `info` is the same in every failed answer, per the docs. */
const ERROR_INFO = {
  entities: {
    call: ['get'],
    callrole: ['get'],
    phone: ['get'],
    user: ['get'],
    campaign: ['get'],
    tag: ['get'],
  },
  types: ['json', 'plain', 'csv', 'xml'],
  versions: ['v1'],
};

const METHODS = new Set(['get', 'getWithRole', 'getByRole']);

interface StoredCall {
  raw: Record<string, unknown>;
  /** Unix seconds of callTime, null when callTime is not a valid `Y-m-d H:i:s`. */
  at: number | null;
  id: string;
}

const HTML_ERROR_PAGE = (status: number, title: string): string =>
  `<html>\r\n<head><title>${status} ${title}</title></head>\r\n<body>\r\n<center><h1>${status} ${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

export async function startCallKeeperEmulator(options: CallKeeperEmulatorOptions): Promise<CallKeeperEmulator> {
  const timeZone = options.timeZone ?? 'Europe/Moscow';
  const pageSize = options.pageSize ?? 1000;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new Error('pageSize must be a positive integer');
  // Validate the zone once, loudly.
  new Intl.DateTimeFormat('en-US', { timeZone });

  let calls: StoredCall[] = [];
  const faults = new FaultQueue<CallKeeperFault>();
  const requests: CallKeeperRequest[] = [];
  const timers = { timers: new Set<NodeJS.Timeout>() };
  let inFlight = 0;
  let maxConcurrentRequests = 0;

  const store = (raw: Record<string, unknown>): StoredCall => {
    const copy = structuredClone(raw);
    const text = typeof copy.callTime === 'string' ? copy.callTime : '';
    const wall = parseWallTime(text);
    return { raw: copy, at: wall ? wallTimeToUnix(wall, timeZone) : null, id: String(copy.universalId ?? '') };
  };
  /** The calls with a valid callTime in answer order (callTime, then id), built once per change of the history. */
  let ordered: StoredCall[] | null = null;
  const setCalls = (list: Record<string, unknown>[]): void => {
    calls = list.map(store);
    ordered = null;
  };
  const inOrder = (): StoredCall[] =>
    (ordered ??= calls.filter((c) => c.at !== null).sort((a, b) => a.at! - b.at! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  setCalls(options.calls ?? []);


  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const arrived = Date.now();
    inFlight += 1;
    maxConcurrentRequests = Math.max(maxConcurrentRequests, inFlight);
    res.on('close', () => {
      inFlight -= 1;
    });
    await readBody(req, 1 << 20);
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const query = q < 0 ? '' : rawUrl.slice(q + 1);
    const segments = query.split('/').map(safeDecode);
    const pageText = segments[5] ?? '';
    const page = /^\d+$/.test(pageText) ? Number(pageText) : -1;
    const fromParsed = parseBound(segments[6], timeZone, 'from');
    const toSegment = segments[7];
    const toParsed = toSegment === undefined || toSegment === '' ? null : parseBound(toSegment, timeZone, 'to');

    const log: CallKeeperRequest = {
      method: segments[4] ?? '',
      httpMethod: req.method ?? '',
      page,
      from: fromParsed ?? Number.NaN,
      to: toSegment === undefined || toSegment === '' ? null : (toParsed ?? Number.NaN),
      status: 0,
      at: arrived,
    };
    requests.push(log);
    const answer = (status: number, send: () => void): void => {
      log.status = status;
      send();
    };
    const pageMatches = (f: { page?: number }): boolean => f.page === undefined || f.page === page;

    // Transport-level faults hit any request to the endpoint.
    const delay = faults.take((f) => f.type === 'delay');
    if (delay && delay.type === 'delay') await sleep(delay.ms, timers);
    if (res.destroyed) return;
    const transport = faults.take(
      (f) =>
        f.type === 'reset' ||
        ((f.type === 'status' || f.type === 'html' || f.type === 'garbage' || f.type === 'truncated') &&
          pageMatches(f)),
    );
    /** Every JSON answer goes through here, so a `truncated` fault cuts envelopes too. */
    const json = (body: unknown): void => {
      const text = JSON.stringify(body);
      const cut = transport?.type === 'truncated' ? text.slice(0, Math.max(1, Math.floor(text.length / 2))) : text;
      answer(200, () => sendText(res, 200, cut, 'application/json; charset=utf-8'));
    };
    const envelope = (error: string): void => json({ inbound: { error }, info: ERROR_INFO, payload: [] });

    if (transport?.type === 'reset') {
      log.status = 0;
      req.socket.destroy();
      return;
    }
    if (transport?.type === 'status') {
      const title = STATUS_TITLES[transport.status] ?? 'Error';
      const headers: Record<string, string> = transport.retryAfter !== undefined ? { 'retry-after': String(transport.retryAfter) } : {};
      return answer(transport.status, () =>
        sendText(res, transport.status, HTML_ERROR_PAGE(transport.status, title), 'text/html; charset=utf-8', headers),
      );
    }
    const redirect = faults.take((f) => f.type === 'redirect');
    if (redirect?.type === 'redirect') {
      const status = redirect.status ?? 302;
      return answer(status, () =>
        sendText(res, status, HTML_ERROR_PAGE(status, 'Moved'), 'text/html; charset=utf-8', { location: redirect.location }),
      );
    }
    if (transport?.type === 'html') {
      return answer(200, () =>
        sendText(
          res,
          200,
          '<!DOCTYPE html>\n<html><head><title>CallKeeper — техническая ошибка</title></head>' +
            '<body><h1>Ведутся технические работы</h1><p>Попробуйте позже.</p></body></html>\n',
          'text/html; charset=utf-8',
        ),
      );
    }
    if (transport?.type === 'garbage') {
      return answer(200, () =>
        sendText(
          res,
          200,
          "<br />\n<b>Warning</b>:  mysqli_connect(): (HY000/2002): Connection refused in <b>/var/www/api/db.php</b> on line <b>12</b><br />\nDB error",
          'application/json; charset=utf-8',
        ),
      );
    }

    if (req.method !== 'GET') {
      return answer(405, () =>
        sendText(res, 405, HTML_ERROR_PAGE(405, 'Not Allowed'), 'text/html; charset=utf-8', { allow: 'GET' }),
      );
    }
    if (pathname !== '/api/' && pathname !== '/api/index.php') {
      return answer(404, () => sendText(res, 404, HTML_ERROR_PAGE(404, 'Not Found'), 'text/html; charset=utf-8'));
    }

    // The documented validation order.
    const [format, version, apikey, entity, method] = segments;
    if (format !== 'json') return envelope(CALLKEEPER_ERRORS.wrongFormat);
    if (version !== 'v3') return envelope(CALLKEEPER_ERRORS.wrongVersion);
    if (!apikey || apikey !== options.apiKey) return envelope(CALLKEEPER_ERRORS.wrongKey);
    if (entity !== 'call') return envelope(CALLKEEPER_ERRORS.wrongEntity);
    if (!method || !METHODS.has(method)) return envelope(CALLKEEPER_ERRORS.wrongMethod);
    if (page < 0) return envelope(CALLKEEPER_ERRORS.wrongPage);
    if (fromParsed === null) return envelope(CALLKEEPER_ERRORS.wrongDate);
    if (toSegment !== undefined && toSegment !== '' && toParsed === null) return envelope(CALLKEEPER_ERRORS.wrongDate);
    const from = fromParsed;
    const to = toParsed ?? Math.floor(now() / 1000);

    // The window's calls are one run of the ordered history: [first call at ≥ from, first call at > to).
    const all = inOrder();
    const start = firstAfter(all, from - 1);
    const count = firstAfter(all, to) - start;
    if (count <= 0) return faults.take((f) => f.type === 'empty-array') ? json([]) : envelope(CALLKEEPER_ERRORS.noRows);
    const ignoring = faults.take((f) => f.type === 'ignore-page') !== null;
    const served = ignoring ? 0 : page;
    const ofPages = Math.ceil(count / pageSize);
    if (served >= ofPages) return envelope(CALLKEEPER_ERRORS.wrongPage);

    const first = start + served * pageSize;
    let pageCalls = all.slice(first, first + Math.min(pageSize, count - served * pageSize)).map((c) => c.raw);
    if (faults.take((f) => f.type === 'empty-page' && f.page === page)) pageCalls = [];
    const wrap = faults.take((f) => f.type === 'envelope');
    const body: unknown = wrap
      ? {
          inbound: {
            format,
            version,
            entity,
            method,
            page,
            from: segments[6],
            to: toSegment ?? '',
            pageLength: pageSize,
            ofPages,
          },
          info: ERROR_INFO,
          payload: pageCalls,
        }
      : pageCalls;
    return json(body);
  };

  const running: RunningServer = await startServer(handler, options.host ?? '127.0.0.1', options.port ?? 0);

  return {
    url: `http://${urlHost(running.host)}:${running.port}/api/`,
    requests,
    get maxConcurrentRequests() {
      return maxConcurrentRequests;
    },
    setCalls,
    updateCall(universalId, patch) {
      const index = calls.findIndex((c) => c.id === universalId);
      if (index < 0) throw new Error(`no call with universalId ${universalId}`);
      calls[index] = store({ ...calls[index]!.raw, ...patch });
      ordered = null;
    },
    inject(fault) {
      faults.push(fault);
    },
    async close() {
      for (const t of timers.timers) clearTimeout(t);
      timers.timers.clear();
      await running.close();
    },
  };
}

/** Index of the first call in `ordered` whose time is after `t` (binary search). */
function firstAfter(ordered: readonly StoredCall[], t: number): number {
  let lo = 0;
  let hi = ordered.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ordered[mid]!.at! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * `from`/`to`: unix seconds, or `Y-m-d` read in the account's zone (`from` = that midnight,
 * `to` = the end of that day, so `…/2020-05-01/2020-05-02` covers both days). null = malformed.
 */
function parseBound(text: string | undefined, timeZone: string, which: 'from' | 'to'): number | null {
  if (text === undefined || text === '') return null;
  if (/^\d{1,12}$/.test(text)) return Number(text);
  const day = parseDate(text);
  if (!day) return null;
  const midnight = wallTimeToUnix(day, timeZone);
  if (which === 'from') return midnight;
  return wallTimeToUnix({ ...day, hour: 23, minute: 59, second: 59 }, timeZone);
}
