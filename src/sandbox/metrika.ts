/**
 * A loopback emulator of the Yandex Metrica Management API endpoints ckym uses
 * (shared/spec/yandex-api.md): counters, goals, call uploads, offline-conversion uploads,
 * their uploadings lists, and the two linking switches (calls and offline conversions).
 *
 * Strict on purpose: OAuth header only (a token in the URL is refused), a real multipart parser,
 * an RFC 4180 CSV parser and per-column validation, the documented quotas. It imports
 * nothing from ckym, so it cannot share ckym's bugs. It refuses what the documentation and Yandex's
 * own API tests show Metrica refusing, with their messages:
 * - a `comment` with anything but digits and Latin/Cyrillic letters: 400 «Комментарий содержит недопустимые символы.»;
 * - an upload while the matching linking switch is off, or a row dated before the switch's threshold in a file
 *   sent without `ignore_calls_visit_join_threshold=1` / `ignore_visit_join_threshold=1`:
 *   400 «Загрузить данные сейчас невозможно. Загрузка станет доступна …» (an upload WITH the flag turns the switch on,
 *   as Yandex's `OfflineConversionThresholdEnableTest` shows);
 * - a malformed row: 400 «Неверный формат данных, ошибка в строке номер N…», N counting the header as line 1;
 * - a missing column: «Отсутствует обязательная колонка …»; an empty file: «The file is empty»;
 * - a file over `maxUploadBytes`: 413;
 * - an upload without `client_id_type` (required by the older documentation; the stricter reading): 400 invalid_parameter;
 * - a Currency that is no ISO 4217 code in use (`ABC`, `RUR`): «Некорректное значение Currency …» naming the line;
 * - a token without the right (metrika:read to read, metrika:write for goals and switches, metrika:offline_data or
 *   metrika:write to upload): 403 access_denied;
 * - the documented quotas: 30 requests a second per IP (429 quota_requests_by_ip), 5000 a day per user from 00:00 UTC
 *   (429 quota_requests_by_uid), 3 in parallel (429 quota_parallel_requests).
 * A conversion row with an empty identifier is dropped without a word (`line_quantity` < `source_quantity`), as
 * Yandex's tests show; an empty ClientId in a call upload is a static call.
 *
 * Uploadings lists answer newest first (highest id first); `offset` is 0-based.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CsvSyntaxError, parseCsv } from './csv.js';
import { FaultQueue } from './faults.js';
import { readBody, sendJson, sleep, startServer, urlHost } from './http.js';
import type { RunningServer } from './http.js';
import { MultipartError, parseMediaType, parseMultipart } from './multipart.js';
import { formatIsoWithOffset } from './time.js';

export interface MetrikaGoal {
  id: number;
  name: string;
  type: string;
  conditions: { type: string; url: string }[];
}

export interface MetrikaCounterSeed {
  id: number;
  name: string;
  site: string;
  /** Default `own`. */
  permission?: 'own' | 'edit' | 'view';
  goals?: MetrikaGoal[];
  /** Call linking (calls_extended_threshold) enabled. Default true. */
  callsLinking?: boolean;
  /** Offline-conversion linking (extended_threshold) enabled. Default true. */
  conversionsLinking?: boolean;
  /**
   * Uploads the counter already had when the emulator started (another tool's, or made with a comment Metrica took
   * then): listed like any other, oldest first. Their rows are not known.
   */
  uploadings?: { kind: UploadKind; comment: string; createTime: number; lines?: number }[];
}

export interface MetrikaEmulatorOptions {
  token: string;
  counters: MetrikaCounterSeed[];
  /** Unix ms. Upload DateTime values are checked against it ("in the past"). Default `Date.now`. */
  now?: () => number;
  host?: string;
  port?: number;
  /** Requests in flight at once before 429 quota_parallel_requests. Default 3 (the documented quota). */
  parallelLimit?: number;
  /**
   * The rights the token was issued with (the Yandex OAuth app's). Default metrika:read and metrika:write (what ckym's
   * README asks for). Reading needs metrika:read; creating a goal or turning a linking switch on, metrika:write; an
   * upload, metrika:offline_data or metrika:write. Missing: 403 access_denied.
   */
  scopes?: string[];
  /** Requests per second (per IP) before 429 quota_requests_by_ip. Default 30 (the documented quota); 0 turns it off. */
  requestsPerSecond?: number;
  /** Requests per day (per user; the day starts 00:00 UTC by `now`) before 429 quota_requests_by_uid. Default 5000; 0: off. */
  requestsPerDay?: number;
  /** Refuse conversions whose Target is not the identifier of one of the counter's JS-event goals. Default true. */
  checkTargets?: boolean;
  /** Bodies larger than this are refused with 413. Default 100 MB (Metrica's limit is 1 GB a file). */
  maxUploadBytes?: number;
}

export type UploadKind = 'calls' | 'conversions';

export interface ReceivedUpload {
  uploadingId: number;
  counterId: number;
  kind: UploadKind;
  comment: string;
  clientIdType: string;
  newGoalName: string | null;
  /** Sent with the ignore flag of its kind (rows before the linking threshold allowed). */
  ignoreThreshold: boolean;
  header: string[];
  /** The rows Metrica kept (a conversion without an identifier is dropped). */
  rows: Record<string, string>[];
  /** Data rows in the file, kept or not. */
  sourceRows: number;
  at: number;
}

export interface MetrikaRequest {
  method: string;
  /** The path without the query string. */
  path: string;
  /** The query string without any token parameter (never stored). */
  query: string;
  /** HTTP status answered; 0 while unanswered / when the socket was hung or destroyed. */
  status: number;
  at: number;
}

export type UploadingStatus = 'PREPARED' | 'UPLOADED' | 'EXPORTED' | 'MATCHED' | 'PROCESSED' | 'LINKAGE_FAILURE';

export interface MetrikaEmulator {
  /** e.g. `http://127.0.0.1:PORT` (ckym calls url + '/management/v1/…'). */
  url: string;
  /** Every ACCEPTED upload, in order (hung and reset-after-accept uploads included). */
  uploads: ReceivedUpload[];
  /** All accepted rows of a counter and kind, flattened in upload order. */
  rows(counterId: number, kind: UploadKind): Record<string, string>[];
  requests: MetrikaRequest[];
  /** Highest number of upload requests in flight at once. */
  readonly maxConcurrentUploads: number;
  inject(fault: MetrikaFault): void;
  /** Replace the valid token (e.g. to simulate revocation). */
  setToken(token: string): void;
  /** The counter's goals as they are now (seeded + created through the API + the automatic call goal). */
  goals(counterId: number): MetrikaGoal[];
  /** Move an uploading to another processing status (what `stats --refresh` would then see). */
  setUploadingStatus(uploadingId: number, status: UploadingStatus): void;
  close(): Promise<void>;
}

export type MetrikaFault =
  | { on: 'upload' | 'list' | 'any'; status: 404 | 408 | 420 | 429 | 500 | 502 | 503 | 504; retryAfter?: number; times?: number; counterId?: number }
  | { on: 'upload'; status: 400 | 413; errorType?: string; message: string; times?: number; counterId?: number }
  | { on: 'upload' | 'any'; status: 401 | 403; times?: number }
  | { on: 'upload'; hang: true; times?: number; counterId?: number }
  | { on: 'upload'; resetAfterAccept: true; times?: number; counterId?: number }
  /** The upload is taken (stored, listed), then answered with this status: "a 404 or 5xx after the file went out". */
  | { on: 'upload'; answerAfterAccept: 404 | 408 | 500 | 502 | 503 | 504; times?: number; counterId?: number }
  /** The upload is taken, but its last `dropLines` rows are not kept (as Metrica drops rows it cannot use, without a word). */
  | { on: 'upload'; dropLines: number; times?: number; counterId?: number }
  | { on: 'upload'; delayMs: number; times?: number };

/** The start of Metrica's refusal while a linking switch is off or its threshold is not met (VISIT_JOIN_THRESHOLD_UNMET). */
export const TOO_EARLY_PREFIX = 'Загрузить данные сейчас невозможно. Загрузка станет доступна ';

/** The message Metrica gives when call linking is not enabled yet ("upload too early"). */
export const UPLOAD_TOO_EARLY_MESSAGE = `${TOO_EARLY_PREFIX}после включения привязки звонков к визитам (POST offline_conversions/calls_extended_threshold).`;

/** The same for offline conversions: their own switch. */
export const CONVERSIONS_TOO_EARLY_MESSAGE = `${TOO_EARLY_PREFIX}после включения привязки конверсий к визитам (POST offline_conversions/extended_threshold).`;

/** Yandex's ManagementError.NOT_ALLOWED_SYMBOLS_IN_COMMENT. */
export const COMMENT_REFUSED_MESSAGE = 'Комментарий содержит недопустимые символы.';

/** Yandex's ManagementError.INVALID_UPLOADING: a bad line, named (the header is line 1). */
export const BAD_LINE_PREFIX = 'Неверный формат данных, ошибка в строке номер ';

const ID_COLUMNS = ['ClientId', 'UserId', 'Yclid'] as const;
const ID_TYPE_OF: Record<string, string> = { ClientId: 'CLIENT_ID', UserId: 'USER_ID', Yclid: 'YCLID' };
const CALL_COLUMNS = new Set([
  ...ID_COLUMNS,
  'DateTime',
  'StaticCall',
  'Price',
  'Currency',
  'PhoneNumber',
  'TalkDuration',
  'HoldDuration',
  'CallMissed',
  'Tag',
  'FirstTimeCaller',
  'URL',
  'CallTrackerURL',
]);
const CONVERSION_COLUMNS = new Set([...ID_COLUMNS, 'Target', 'DateTime', 'Price', 'Currency']);
/** DateTime earlier than this (2010-01-01T00:00:00Z) is refused as absurdly old. */
const OLDEST_DATETIME = 1_262_304_000;
const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
/** ClientId and Yclid are unsigned 64-bit numbers. */
const MAX_ID = 18_446_744_073_709_551_615n;
/** Digits and Latin or Cyrillic letters: what a comment may hold. */
const COMMENT_CHARACTERS = /^[0-9A-Za-zА-Яа-яЁё]*$/;
/**
 * ISO 4217 currency codes in use (the spec: Currency is an ISO 4217 code). Three capital letters are not enough:
 * `ABC`, or the withdrawn `RUR`, names no currency Metrica could count a price in.
 */
const ISO_4217 = new Set(
  (
    'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN ' +
    'BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL ' +
    'GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF ' +
    'KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR ' +
    'MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG ' +
    'SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD ' +
    'UYU UZS VES VND VUV WST XAF XCD XCG XDR XOF XPF XSU YER ZAR ZMW ZWG ZWL'
  ).split(' '),
);
const DAY = 86_400;
const TOKEN_QUERY_PARAMS = ['oauth_token', 'access_token', 'token'];

/** One linking switch: off (`since` null) or on since a moment (unix seconds), its window growing from a day to 21. */
interface Switch {
  since: number | null;
}

interface CounterState {
  seed: MetrikaCounterSeed;
  permission: 'own' | 'edit' | 'view';
  goals: MetrikaGoal[];
  linking: Record<UploadKind, Switch>;
}

interface Uploading {
  id: number;
  counterId: number;
  kind: UploadKind;
  createTime: number;
  sourceQuantity: number;
  lineQuantity: number;
  comment: string;
  clientIdType: string;
  status: UploadingStatus;
  staticCalls: number;
  dynamicCalls: number;
}

type Route =
  | { name: 'counters' }
  | { name: 'counter'; counterId: number }
  | { name: 'goals'; counterId: number }
  | { name: 'upload'; counterId: number; kind: UploadKind }
  | { name: 'uploadings'; counterId: number; kind: UploadKind }
  | { name: 'uploading'; counterId: number; kind: UploadKind; uploadingId: number }
  | { name: 'extended-threshold'; counterId: number; kind: UploadKind }
  | { name: 'join-threshold'; counterId: number; kind: UploadKind };

const ALLOWED_METHODS: Record<Route['name'], string[]> = {
  counters: ['GET'],
  counter: ['GET'],
  goals: ['GET', 'POST'],
  upload: ['POST'],
  uploadings: ['GET'],
  uploading: ['GET'],
  'extended-threshold': ['POST', 'DELETE'],
  'join-threshold': ['GET'],
};

function matchRoute(path: string): Route | null {
  if (path === '/management/v1/counters') return { name: 'counters' };
  const m = /^\/management\/v1\/counter\/(\d{1,12})(\/.*)?$/.exec(path);
  if (!m) return null;
  const counterId = Number(m[1]);
  const rest = m[2] ?? '';
  if (rest === '') return { name: 'counter', counterId };
  if (rest === '/goals') return { name: 'goals', counterId };
  const oc = /^\/offline_conversions\/(.+)$/.exec(rest);
  if (!oc) return null;
  const tail = oc[1]!;
  if (tail === 'upload_calls') return { name: 'upload', counterId, kind: 'calls' };
  if (tail === 'upload') return { name: 'upload', counterId, kind: 'conversions' };
  if (tail === 'calls_uploadings') return { name: 'uploadings', counterId, kind: 'calls' };
  if (tail === 'uploadings') return { name: 'uploadings', counterId, kind: 'conversions' };
  if (tail === 'calls_extended_threshold') return { name: 'extended-threshold', counterId, kind: 'calls' };
  if (tail === 'calls_visit_join_threshold') return { name: 'join-threshold', counterId, kind: 'calls' };
  if (tail === 'extended_threshold') return { name: 'extended-threshold', counterId, kind: 'conversions' };
  if (tail === 'visit_join_threshold') return { name: 'join-threshold', counterId, kind: 'conversions' };
  const one = /^(calls_uploading|uploading)\/(\d{1,15})$/.exec(tail);
  if (one) {
    return {
      name: 'uploading',
      counterId,
      kind: one[1] === 'calls_uploading' ? 'calls' : 'conversions',
      uploadingId: Number(one[2]),
    };
  }
  return null;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const invalidUploading = (message: string): ApiError => new ApiError(400, 'invalid_uploading', message);
const invalidParameter = (message: string): ApiError => new ApiError(400, 'invalid_parameter', message);

function errorBody(status: number, errorType: string, message: string): unknown {
  return { errors: [{ error_type: errorType, message }], code: status, message };
}

const STATUS_ERRORS: Record<number, { type: string; message: string }> = {
  404: { type: 'not_found', message: 'Entity not found' },
  408: { type: 'timeout', message: 'Request timeout' },
  420: { type: 'quota_requests_by_uid', message: 'Quota exceeded for the user, retry later' },
  429: { type: 'quota_requests_by_uid', message: 'Превышен лимит количества запросов к API для пользователя. Quota exceeded, retry later' },
  500: { type: 'backend_error', message: 'Внутренняя ошибка сервера. Internal server error' },
  502: { type: 'backend_error', message: 'Bad gateway' },
  503: { type: 'backend_error', message: 'Сервис временно недоступен. Backend error, retry later' },
  504: { type: 'timeout', message: 'Превышено время ожидания ответа. Query execution timeout' },
};

export async function startMetrikaEmulator(options: MetrikaEmulatorOptions): Promise<MetrikaEmulator> {
  const now = options.now ?? Date.now;
  const parallelLimit = options.parallelLimit ?? 3;
  const checkTargets = options.checkTargets ?? true;
  const scopes = new Set(options.scopes ?? ['metrika:read', 'metrika:write']);
  /** 403 unless the token has one of `rights` (Yandex: «Access is denied» for a token without the right). */
  const requireRight = (...rights: string[]): void => {
    if (!rights.some((r) => scopes.has(r))) {
      throw new ApiError(403, 'access_denied', `Access is denied: the token has no right ${rights.join(' or ')} (the OAuth app's rights)`);
    }
  };
  const perSecond = options.requestsPerSecond ?? 30;
  const perDay = options.requestsPerDay ?? 5000;
  /** Date.now() of the requests let through in the last second (the per-IP quota goes by real time). */
  const lastSecond: number[] = [];
  /** Requests let through on the UTC day `day` of `now` (the per-user quota). */
  const today = { day: -1, count: 0 };
  const maxUploadBytes = options.maxUploadBytes ?? MAX_UPLOAD_BYTES;
  let token = options.token;

  const nowSeconds = () => Math.floor(now() / 1000);
  // A switch seeded on has been on for long: its window is the full 21 days.
  const seeded = (on: boolean | undefined): Switch => ({ since: on === false ? null : nowSeconds() - 21 * DAY });
  const counters = new Map<number, CounterState>();
  for (const seed of options.counters) {
    if (counters.has(seed.id)) throw new Error(`counter ${seed.id} seeded twice`);
    counters.set(seed.id, {
      seed,
      permission: seed.permission ?? 'own',
      goals: structuredClone(seed.goals ?? []),
      linking: { calls: seeded(seed.callsLinking), conversions: seeded(seed.conversionsLinking) },
    });
  }
  /** Turning a switch on: the window starts about a day back and grows (to 21 days). */
  const switchOn = (sw: Switch): void => {
    if (sw.since === null) sw.since = nowSeconds() - DAY;
  };
  /** The threshold's date (Moscow, as the counter's zone), or null while the switch is off. */
  const thresholdDate = (sw: Switch): string | null =>
    sw.since === null ? null : formatIsoWithOffset(Math.max(sw.since, nowSeconds() - 21 * DAY), 'Europe/Moscow').slice(0, 10);
  /** Rows dated before this (the start of the threshold's date in Moscow) need the ignore flag. */
  const thresholdSeconds = (sw: Switch): number | null => {
    const date = thresholdDate(sw);
    return date === null ? null : Date.parse(`${date}T00:00:00+03:00`) / 1000;
  };
  let nextGoalId = 1 + Math.max(300_000_000, ...options.counters.flatMap((c) => (c.goals ?? []).map((g) => g.id)));
  let nextUploadingId = 1_000_001;

  const uploads: ReceivedUpload[] = [];
  const uploadings: Uploading[] = options.counters.flatMap((c) =>
    (c.uploadings ?? []).map(
      (u): Uploading => ({
        id: nextUploadingId++,
        counterId: c.id,
        kind: u.kind,
        createTime: u.createTime,
        sourceQuantity: u.lines ?? 1,
        lineQuantity: u.lines ?? 1,
        comment: u.comment,
        clientIdType: 'CLIENT_ID',
        status: 'PROCESSED',
        staticCalls: 0,
        dynamicCalls: u.kind === 'calls' ? (u.lines ?? 1) : 0,
      }),
    ),
  );
  const requests: MetrikaRequest[] = [];
  const faults = new FaultQueue<MetrikaFault>();
  const timers = { timers: new Set<NodeJS.Timeout>() };
  let inFlight = 0;
  let uploadsInFlight = 0;
  let maxConcurrentUploads = 0;


  const uploadingJson = (u: Uploading): Record<string, unknown> => {
    const base: Record<string, unknown> = {
      id: u.id,
      create_time: formatIsoWithOffset(u.createTime, 'Europe/Moscow'),
      source_quantity: u.sourceQuantity,
      line_quantity: u.lineQuantity,
      comment: u.comment,
      client_id_type: u.clientIdType,
      status: u.status,
    };
    if (u.kind === 'calls') {
      base.static_calls_quantity = u.staticCalls;
      base.dynamic_calls_quantity = u.dynamicCalls;
    }
    return base;
  };

  const counterJson = (c: CounterState): Record<string, unknown> => ({
    id: c.seed.id,
    name: c.seed.name,
    site2: { site: c.seed.site },
    permission: c.permission,
    status: 'Active',
    time_zone_name: 'Europe/Moscow',
  });
  /** A counter's `offline_options`: both switches, as Yandex's OfflineConversionThresholdEnableTest reads them. */
  const offlineOptions = (c: CounterState): Record<string, number> => ({
    offline_conversion_extended_threshold: c.linking.conversions.since === null ? 0 : 1,
    offline_calls_extended_threshold: c.linking.calls.since === null ? 0 : 1,
  });

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const arrived = Date.now();
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const tokenInQuery = TOKEN_QUERY_PARAMS.some((p) => url.searchParams.has(p));
    for (const p of TOKEN_QUERY_PARAMS) url.searchParams.delete(p);
    const method = req.method ?? '';
    const route = matchRoute(url.pathname);
    const isUpload = method === 'POST' && route?.name === 'upload';
    const counterId = route && 'counterId' in route ? route.counterId : null;

    const log: MetrikaRequest = { method, path: url.pathname, query: url.searchParams.toString(), status: 0, at: arrived };
    requests.push(log);

    inFlight += 1;
    const parallelNow = inFlight;
    if (isUpload) {
      uploadsInFlight += 1;
      maxConcurrentUploads = Math.max(maxConcurrentUploads, uploadsInFlight);
    }
    res.on('close', () => {
      inFlight -= 1;
      if (isUpload) uploadsInFlight -= 1;
    });

    const { body, tooLarge } = await readBody(req, maxUploadBytes);
    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      log.status = status;
      sendJson(res, status, payload, headers);
    };
    const fail = (e: ApiError): void => reply(e.status, errorBody(e.status, e.errorType, e.message), e.headers);

    try {
      if (tokenInQuery) {
        throw invalidParameter(
          'Передача OAuth-токена в URL не допускается: send it in the header "Authorization: OAuth <token>"',
        );
      }
      // 30 requests a second per IP, counted before anything else (the quota is the address's, token or not).
      while (lastSecond.length > 0 && lastSecond[0]! <= arrived - 1000) lastSecond.shift();
      if (perSecond > 0 && lastSecond.length >= perSecond) {
        throw new ApiError(429, 'quota_requests_by_ip', `Превышен лимит количества запросов к API с IP-адреса: ${perSecond} в секунду. Quota exceeded, retry later`);
      }
      lastSecond.push(arrived);
      const auth = req.headers.authorization;
      if (auth === undefined || auth.trim() === '') {
        throw new ApiError(401, 'unauthorized', 'Authorization required: send the header "Authorization: OAuth <token>"');
      }
      const am = /^OAuth (\S+)$/.exec(auth.trim());
      if (!am) throw new ApiError(401, 'unauthorized', 'Malformed Authorization header: expected "OAuth <token>"');
      if (am[1] !== token) throw new ApiError(403, 'invalid_token', 'Invalid oauth_token');

      // 5000 requests a day per user, the day starting 00:00 UTC.
      const day = Math.floor(nowSeconds() / DAY);
      if (today.day !== day) Object.assign(today, { day, count: 0 });
      if (perDay > 0 && today.count >= perDay) {
        throw new ApiError(429, 'quota_requests_by_uid', `Превышен лимит количества запросов к API для пользователя: ${perDay} в сутки. Quota exceeded, retry after 00:00 UTC`);
      }
      today.count += 1;
      if (parallelLimit > 0 && parallelNow > parallelLimit) {
        throw new ApiError(429, 'quota_parallel_requests', `Превышен лимит параллельных запросов (${parallelLimit}) для пользователя`);
      }
      if (!route) throw new ApiError(404, 'not_found', `No such API method: ${method} ${url.pathname}`);
      if (!ALLOWED_METHODS[route.name].includes(method)) {
        throw new ApiError(405, 'invalid_parameter', `Method ${method} is not allowed for ${url.pathname}`);
      }

      // Faults that replace the answer before any processing.
      const onMatches = (on: 'upload' | 'list' | 'any'): boolean =>
        on === 'any' || (on === 'upload' && isUpload) || (on === 'list' && method === 'GET');
      const counterMatches = (f: MetrikaFault): boolean =>
        !('counterId' in f) || f.counterId === undefined || f.counterId === counterId;
      const delay = faults.take((f) => 'delayMs' in f && onMatches(f.on));
      if (delay && 'delayMs' in delay) {
        await sleep(delay.delayMs, timers);
        if (res.destroyed) return;
      }
      const pre = faults.take((f) => 'status' in f && onMatches(f.on) && counterMatches(f));
      if (pre && 'status' in pre) {
        if (pre.status === 400 || pre.status === 413) throw new ApiError(pre.status, pre.errorType ?? 'invalid_uploading', pre.message);
        if (pre.status === 401) throw new ApiError(401, 'unauthorized', 'Authorization required');
        if (pre.status === 403) throw new ApiError(403, 'access_denied', 'Access is denied');
        const known = STATUS_ERRORS[pre.status]!;
        const headers: Record<string, string> = {};
        if ('retryAfter' in pre && pre.retryAfter !== undefined) headers['retry-after'] = String(pre.retryAfter);
        throw new ApiError(pre.status, known.type, known.message, headers);
      }

      if (method === 'GET') requireRight('metrika:read');
      else if (route.name === 'upload') requireRight('metrika:offline_data', 'metrika:write');
      else requireRight('metrika:write');

      if (route.name === 'counters') {
        const perPage = intParam(url, 'per_page', 1000, 1, 100_000);
        const offset = intParam(url, 'offset', 1, 1, Number.MAX_SAFE_INTEGER);
        const all = [...counters.values()];
        return reply(200, {
          rows: all.length,
          counters: all.slice(offset - 1, offset - 1 + perPage).map(counterJson),
        });
      }

      const counter = counters.get(route.counterId);
      if (!counter) throw new ApiError(404, 'not_found', `Счётчик ${route.counterId} не найден (counter not found)`);
      const requireWrite = (): void => {
        if (counter.permission === 'view') {
          throw new ApiError(403, 'access_denied', `Access is denied: permission "view" on counter ${counter.seed.id} does not allow changes`);
        }
      };

      switch (route.name) {
        case 'counter':
          return reply(200, { counter: { ...counterJson(counter), goals: counter.goals, offline_options: offlineOptions(counter) } });

        case 'goals': {
          if (method === 'GET') return reply(200, { goals: counter.goals });
          requireWrite();
          const goal = parseGoalBody(body);
          const created: MetrikaGoal = { id: nextGoalId++, ...goal };
          counter.goals.push(created);
          return reply(200, { goal: created });
        }

        case 'extended-threshold': {
          requireWrite();
          const sw = counter.linking[route.kind];
          if (method === 'POST') switchOn(sw);
          else sw.since = null;
          return reply(200, { success: true });
        }

        case 'join-threshold':
          return reply(200, { date: thresholdDate(counter.linking[route.kind]) });

        case 'uploadings': {
          const limit = intParam(url, 'limit', 100, 1, 10_000);
          const offset = intParam(url, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
          const list = uploadings
            .filter((u) => u.counterId === route.counterId && u.kind === route.kind)
            .sort((a, b) => b.id - a.id)
            .slice(offset, offset + limit)
            .map(uploadingJson);
          return reply(200, { uploadings: list });
        }

        case 'uploading': {
          const u = uploadings.find(
            (x) => x.id === route.uploadingId && x.counterId === route.counterId && x.kind === route.kind,
          );
          if (!u) throw new ApiError(404, 'not_found', `Uploading ${route.uploadingId} not found`);
          return reply(200, { uploading: uploadingJson(u) });
        }

        case 'upload': {
          requireWrite();
          if (tooLarge) throw new ApiError(413, 'invalid_uploading', `Файл слишком большой: больше ${maxUploadBytes} байт (file too large)`);
          const clientIdTypeParam = url.searchParams.get('client_id_type');
          // Required by the older documentation (the current one dropped it): the stricter reading, so a client
          // that leaves it out is caught here rather than by a Metrica that still follows the old rule.
          if (clientIdTypeParam === null) throw invalidParameter('client_id_type is required: CLIENT_ID, USER_ID or YCLID');
          if (!['CLIENT_ID', 'USER_ID', 'YCLID'].includes(clientIdTypeParam)) {
            throw invalidParameter(`client_id_type must be CLIENT_ID, USER_ID or YCLID, got "${clientIdTypeParam}"`);
          }
          const comment = url.searchParams.get('comment') ?? '';
          if ([...comment].length > 255) throw invalidParameter(`comment is ${[...comment].length} characters long, at most 255 allowed`);
          if (!COMMENT_CHARACTERS.test(comment)) throw invalidParameter(COMMENT_REFUSED_MESSAGE);
          const newGoalName = url.searchParams.get('new_goal_name');
          if (newGoalName !== null && [...newGoalName].length > 255) throw invalidParameter('new_goal_name is longer than 255 characters');
          // Each kind has its own flag; the other kind's flag changes nothing.
          const ignoreName = route.kind === 'calls' ? 'ignore_calls_visit_join_threshold' : 'ignore_visit_join_threshold';
          const ignoreParam = url.searchParams.get(ignoreName);
          if (ignoreParam !== null && ignoreParam !== '0' && ignoreParam !== '1') throw invalidParameter(`${ignoreName} must be 0 or 1, got "${ignoreParam}"`);
          const ignoreThreshold = ignoreParam === '1';
          const sw = counter.linking[route.kind];
          // An upload with the flag turns the switch on (OfflineConversionThresholdEnableTest.checkAfterUpload).
          if (ignoreThreshold) switchOn(sw);
          if (sw.since === null) throw invalidUploading(route.kind === 'calls' ? UPLOAD_TOO_EARLY_MESSAGE : CONVERSIONS_TOO_EARLY_MESSAGE);

          const csvText = extractCsv(req.headers['content-type'], body);
          const targets = new Set(
            counter.goals.filter((g) => g.type === 'action').flatMap((g) => g.conditions.map((c) => c.url)),
          );
          const parsed = validateCsv(route.kind, csvText, {
            clientIdType: clientIdTypeParam,
            nowSeconds: nowSeconds(),
            targets: checkTargets ? targets : null,
            threshold: ignoreThreshold ? null : thresholdSeconds(sw),
            thresholdDate: thresholdDate(sw),
          });
          const drop = faults.take((f) => 'dropLines' in f && counterMatches(f));
          if (drop && 'dropLines' in drop) parsed.rows.splice(Math.max(0, parsed.rows.length - drop.dropLines));

          const uploading: Uploading = {
            id: nextUploadingId++,
            counterId: route.counterId,
            kind: route.kind,
            createTime: nowSeconds(),
            sourceQuantity: parsed.sourceRows,
            lineQuantity: parsed.rows.length,
            comment,
            clientIdType: clientIdTypeParam,
            status: 'UPLOADED',
            staticCalls: parsed.staticCalls,
            dynamicCalls: parsed.rows.length - parsed.staticCalls,
          };
          uploadings.push(uploading);
          uploads.push({
            uploadingId: uploading.id,
            counterId: route.counterId,
            kind: route.kind,
            comment,
            clientIdType: uploading.clientIdType,
            newGoalName,
            ignoreThreshold,
            header: parsed.header,
            rows: parsed.rows,
            sourceRows: parsed.sourceRows,
            at: Date.now(),
          });
          if (route.kind === 'calls' && !counter.goals.some((g) => g.type === 'call')) {
            // Metrica's automatic call goal, created on the first call upload.
            counter.goals.push({ id: nextGoalId++, name: newGoalName || 'Звонок', type: 'call', conditions: [] });
          }

          const post = faults.take((f) => ('hang' in f || 'resetAfterAccept' in f || 'answerAfterAccept' in f) && counterMatches(f));
          if (post && 'hang' in post) return; // keep the socket open until the client or close() ends it
          if (post && 'resetAfterAccept' in post) {
            req.socket.destroy();
            return;
          }
          if (post && 'answerAfterAccept' in post) {
            const known = STATUS_ERRORS[post.answerAfterAccept]!;
            throw new ApiError(post.answerAfterAccept, known.type, known.message);
          }
          return reply(200, { uploading: uploadingJson(uploading) });
        }
      }
    } catch (error) {
      if (error instanceof ApiError) return fail(error);
      throw error;
    }
  };

  const running: RunningServer = await startServer(handler, options.host ?? '127.0.0.1', options.port ?? 0);

  return {
    url: `http://${urlHost(running.host)}:${running.port}`,
    uploads,
    rows(counterId, kind) {
      return uploads.filter((u) => u.counterId === counterId && u.kind === kind).flatMap((u) => u.rows);
    },
    requests,
    get maxConcurrentUploads() {
      return maxConcurrentUploads;
    },
    inject(fault) {
      faults.push(fault);
    },
    setToken(next) {
      token = next;
    },
    goals(counterId) {
      return structuredClone(counters.get(counterId)?.goals ?? []);
    },
    setUploadingStatus(uploadingId, status) {
      const u = uploadings.find((x) => x.id === uploadingId);
      if (!u) throw new Error(`no uploading ${uploadingId}`);
      u.status = status;
    },
    async close() {
      for (const t of timers.timers) clearTimeout(t);
      timers.timers.clear();
      await running.close();
    },
  };
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const values = url.searchParams.getAll(name);
  if (values.length === 0) return fallback;
  const text = values[0]!;
  if (values.length > 1 || !/^\d{1,16}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw invalidParameter(`${name} must be an integer from ${min} to ${max}, got "${values.join(',')}"`);
  }
  return Number(text);
}

function parseGoalBody(body: Buffer): Omit<MetrikaGoal, 'id'> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidParameter('The request body must be JSON: {"goal":{"name":…,"type":…,"conditions":[…]}}');
  }
  const goal = isObject(parsed) ? parsed.goal : undefined;
  if (!isObject(goal)) throw invalidParameter('The body must hold a "goal" object');
  const { name, type, conditions } = goal;
  if (typeof name !== 'string' || name.trim() === '') throw invalidParameter('goal.name must be a non-empty string');
  if (typeof type !== 'string' || type === '') throw invalidParameter('goal.type must be a non-empty string');
  if (conditions !== undefined && !Array.isArray(conditions)) throw invalidParameter('goal.conditions must be an array');
  const list: { type: string; url: string }[] = [];
  for (const c of conditions ?? []) {
    if (!isObject(c) || typeof c.type !== 'string' || typeof c.url !== 'string') {
      throw invalidParameter('every goal condition must be {"type": string, "url": string}');
    }
    if (!['exact', 'contain', 'start', 'regexp', 'action'].includes(c.type)) {
      throw invalidParameter(`unknown goal condition type "${c.type}"`);
    }
    if (c.url === '') throw invalidParameter('a goal condition url must not be empty');
    list.push({ type: c.type, url: c.url });
  }
  if (type === 'action' && list.length === 0) {
    throw invalidParameter('a JavaScript-event goal (type "action") needs at least one condition with its identifier');
  }
  return { name, type, conditions: list };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Content-Type + multipart body → the text of the single `file` part. */
function extractCsv(contentType: string | undefined, body: Buffer): string {
  if (!contentType) throw invalidUploading('Content-Type must be multipart/form-data with a boundary; none was sent');
  let boundary: string | undefined;
  try {
    const media = parseMediaType(contentType);
    if (media.type !== 'multipart/form-data') {
      throw invalidUploading(`Content-Type must be multipart/form-data, got "${media.type}"`);
    }
    boundary = media.params.boundary;
  } catch (error) {
    if (error instanceof MultipartError) throw invalidUploading(`Malformed Content-Type: ${error.message}`);
    throw error;
  }
  if (!boundary) throw invalidUploading('Content-Type multipart/form-data has no boundary parameter');
  let parts;
  try {
    parts = parseMultipart(body, boundary);
  } catch (error) {
    if (error instanceof MultipartError) throw invalidUploading(`Malformed multipart body: ${error.message}`);
    throw error;
  }
  const names = parts.map((p) => p.name);
  const files = parts.filter((p) => p.name === 'file');
  if (files.length === 0) {
    throw invalidUploading(`The multipart body must hold a part named "file"; it holds ${names.map((n) => `"${n}"`).join(', ')}`);
  }
  if (parts.length > 1) {
    throw invalidUploading(`The multipart body must hold exactly one part, named "file"; it holds ${names.map((n) => `"${n}"`).join(', ')}`);
  }
  const data = files[0]!.data;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(data);
  } catch {
    throw invalidUploading('The file is not valid UTF-8 text');
  }
}

interface ValidatedCsv {
  header: string[];
  /** The rows kept. */
  rows: Record<string, string>[];
  /** Data rows in the file, kept or dropped. */
  sourceRows: number;
  idColumn: string;
  staticCalls: number;
}

/** A refusal naming a line, as Metrica words it (the header is line 1). */
const badLine = (line: number, detail: string): ApiError => invalidUploading(`${BAD_LINE_PREFIX}${line}: ${detail}`);
const missingColumn = (column: string): ApiError => invalidUploading(`Отсутствует обязательная колонка ${column}`);

function validateCsv(
  kind: UploadKind,
  text: string,
  ctx: {
    clientIdType: string;
    nowSeconds: number;
    targets: Set<string> | null;
    /** Rows dated before this need the ignore flag; null when the file was sent with it. */
    threshold: number | null;
    thresholdDate: string | null;
  },
): ValidatedCsv {
  if (text.trim() === '') throw invalidUploading('The file is empty');
  let records: string[][];
  try {
    records = parseCsv(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw badLine(error.line, `Malformed CSV: ${error.message}`);
    throw error;
  }
  const header = records[0] ?? [];
  const allowed = kind === 'calls' ? CALL_COLUMNS : CONVERSION_COLUMNS;
  const endpoint = kind === 'calls' ? 'upload_calls' : 'upload';
  const seen = new Set<string>();
  for (const column of header) {
    if (!allowed.has(column)) {
      throw badLine(
        1,
        `Unknown column ${JSON.stringify(column)} in the header; ${endpoint} accepts ${[...allowed].join(', ')} (comma-separated, names are case-sensitive)`,
      );
    }
    if (seen.has(column)) throw badLine(1, `Column ${column} appears twice in the header`);
    seen.add(column);
  }
  const idColumns = ID_COLUMNS.filter((c) => seen.has(c));
  if (idColumns.length === 0) throw missingColumn('ClientId (или UserId, Yclid): the header must have an identifier column');
  if (idColumns.length > 1) throw badLine(1, `The header must have exactly one identifier column, it has ${idColumns.join(', ')}`);
  const idColumn = idColumns[0]!;
  if (ID_TYPE_OF[idColumn] !== ctx.clientIdType) {
    throw badLine(1, `client_id_type=${ctx.clientIdType} does not match the identifier column ${idColumn}`);
  }
  if (!seen.has('DateTime')) throw missingColumn('DateTime');
  if (kind === 'conversions' && !seen.has('Target')) throw missingColumn('Target');

  const dataRecords = records.slice(1);
  if (dataRecords.length === 0) throw badLine(2, 'the file has a header but no data rows');

  const rows: Record<string, string>[] = [];
  let staticCalls = 0;
  dataRecords.forEach((record, index) => {
    const line = index + 2; // the header is line 1
    const fail = (detail: string): never => {
      throw badLine(line, detail);
    };
    if (record.length !== header.length) fail(`${record.length} fields, the header has ${header.length}`);
    const row: Record<string, string> = {};
    header.forEach((column, i) => {
      row[column] = record[i]!;
    });
    const id = row[idColumn]!;
    if (/\s/.test(id)) fail(`${idColumn} ${JSON.stringify(id)} contains whitespace`);
    if (id !== '' && (idColumn === 'ClientId' || idColumn === 'Yclid') && !(/^\d{1,20}$/.test(id) && BigInt(id) <= MAX_ID)) {
      fail(`Некорректное значение ${idColumn} ${JSON.stringify(id)}: an unsigned 64-bit number expected`);
    }

    const dt = row.DateTime!;
    if (!/^\d{1,15}$/.test(dt)) fail(`DateTime ${JSON.stringify(dt)} must be a unix timestamp in seconds (an integer)`);
    const dtNum = Number(dt);
    if (dtNum > ctx.nowSeconds) {
      const hint = dtNum >= 1e12 ? ' (it looks like milliseconds; send seconds)' : '';
      fail(`DateTime ${dt} is in the future; only past events can be uploaded${hint}`);
    }
    if (dtNum < OLDEST_DATETIME) fail(`DateTime ${dt} is before 2010-01-01: too old`);
    if (ctx.threshold !== null && dtNum < ctx.threshold) {
      // Old data only with the ignore flag (as Yandex's own API tests upload it).
      throw invalidUploading(
        `${TOO_EARLY_PREFIX}для данных начиная с ${ctx.thresholdDate}: строка ${line}, DateTime ${dt} раньше порога ` +
          `(send older rows in a file of their own with ignore_${kind === 'calls' ? 'calls_' : ''}visit_join_threshold=1)`,
      );
    }

    for (const flag of ['StaticCall', 'CallMissed', 'FirstTimeCaller']) {
      const v = row[flag];
      if (v !== undefined && v !== '0' && v !== '1') fail(`${flag} must be 0 or 1, got ${JSON.stringify(v)}`);
    }
    for (const seconds of ['TalkDuration', 'HoldDuration']) {
      const v = row[seconds];
      if (v !== undefined && !/^\d{1,9}$/.test(v)) fail(`${seconds} must be a whole number of seconds ≥ 0, got ${JSON.stringify(v)}`);
    }
    const phone = row.PhoneNumber;
    if (phone !== undefined && phone !== '' && !/^\+\d{5,15}$/.test(phone)) {
      fail(`PhoneNumber ${JSON.stringify(phone)} must be "+" and 5–15 digits, no spaces (e.g. +79991234567)`);
    }
    const price = row.Price;
    if (price !== undefined && !/^\d{1,15}(\.\d{1,6})?$/.test(price)) fail(`Price ${JSON.stringify(price)} must be a decimal number with "." (e.g. 1500 or 99.90)`);
    const currency = row.Currency;
    if (currency !== undefined && !/^[A-Z]{3}$/.test(currency)) fail(`Currency ${JSON.stringify(currency)} must be an ISO 4217 code of 3 capital letters (e.g. RUB)`);
    if (currency !== undefined && !ISO_4217.has(currency)) fail(`Некорректное значение Currency ${JSON.stringify(currency)}: not an ISO 4217 currency code (e.g. RUB, USD, EUR)`);
    if (kind === 'conversions') {
      const target = row.Target!;
      if (target === '') fail('Target is empty');
      if (ctx.targets && !ctx.targets.has(target)) {
        fail(
          `Target ${JSON.stringify(target)} is not the identifier of a JavaScript-event goal of this counter` +
            (ctx.targets.size ? ` (known: ${[...ctx.targets].join(', ')})` : ' (the counter has none)'),
        );
      }
      // A conversion nobody can be found for: dropped without a word (Yandex's OfflineConversionUploadTest).
      if (id === '') return;
    } else {
      const isStatic = row.StaticCall !== undefined ? row.StaticCall === '1' : id === '';
      if (isStatic) staticCalls += 1;
    }
    rows.push(row);
  });
  return { header, rows, sourceRows: dataRecords.length, idColumn, staticCalls };
}
