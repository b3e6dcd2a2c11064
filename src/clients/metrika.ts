import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Got } from 'got';
import { AuthError, MetrikaError, RemoteError } from '../errors.js';
import { parseJsonObject } from '../json.js';
import { namedLine, refusalScope } from '../domain/refusal.js';
import { createHttp, headerValue, hostOf, networkReason, neverSent } from './http.js';
import { Retrier, type OnRetry, type RetryBudget, type RetryPolicy, type Timer } from './retry.js';

export const METRIKA_DEFAULT_URL = 'https://api-metrika.yandex.net';

/** Metrica's record of one upload (`uploading`). Only `id` is sure to be there. */
export interface Uploading {
  id: number;
  comment?: string;
  status?: string;
  create_time?: string;
  source_quantity?: number;
  line_quantity?: number;
  static_calls_quantity?: number;
  dynamic_calls_quantity?: number;
  linked_quantity?: number;
  [key: string]: unknown;
}

export interface MetrikaCounter {
  id: number;
  name: string;
  site: string;
  permission: string;
  status?: string;
  timeZone?: string;
}

export interface Goal {
  id: number;
  name: string;
  type: string;
  conditions: { type: string; url: string }[];
}

/** Which upload endpoint: calls (`upload_calls`) or goal conversions (`upload`). */
export type UploadKind = 'call' | 'conversion';

export interface UploadRequest {
  counterId: number;
  kind: UploadKind;
  comment: string;
  /** The file's identifier column: `CLIENT_ID` (ClientId) or `YCLID` (Yclid). Default CLIENT_ID. */
  clientIdType?: 'CLIENT_ID' | 'YCLID' | undefined;
  /**
   * Rows dated before the counter's linking threshold: sent with `ignore_calls_visit_join_threshold=1` (calls) or
   * `ignore_visit_join_threshold=1` (conversions), as Yandex's own API tests upload old dates.
   */
  ignoreThreshold?: boolean | undefined;
  newGoalName?: string | undefined;
  /** Produces the CSV text from the start, in chunks (called again for every attempt). */
  csv: () => AsyncIterable<string> | Iterable<string>;
}

/**
 * The result of ONE upload attempt, classified once, here, for the exactly-once protocol:
 * - `accepted`: Metrica answered with the uploading.
 * - `refused`: Metrica certainly did not take it; retrying may help (a quota: 429, or 420 as the English quotas page
 *   has it; a connection refused or a host not found: the request never left).
 * - `unknown`: no usable answer (a timeout, a reset, 408, and a 404 or 5xx after the file went out): Metrica may or
 *   may not have it — ask its list before resending.
 * - `redirected`: a 3xx: ckym follows no redirect (it would carry the token to another host); Metrica did not
 *   process the request. Nothing to retry: the URL is wrong.
 * - `too-large`: 413: the file is too big for Metrica; split it.
 * - `too-early`: HTTP 400 «Загрузить данные сейчас невозможно…»: the linking switch is off or its threshold not met.
 *   The file is fine; it may go on a later run.
 * - `clock-behind`: HTTP 400, a DateTime "in the future" for Metrica: its clock is behind this machine's. The rows
 *   are fine; they may go on a later run.
 * - `rejected`: any other 4xx: the file (or some row of it: `line`, as Metrica numbers lines) is wrong; never retried
 *   as is. `scope` says whether the request as a whole was refused (a parameter, the comment, a column) or rows.
 * A refused token (401/403) is thrown as an AuthError.
 */
export type UploadOutcome =
  | { kind: 'accepted'; uploading: Uploading }
  | { kind: 'refused'; status: number | null; retryAfter: string | undefined; message: string }
  | { kind: 'unknown'; status: number | null; retryAfter: string | undefined; message: string }
  | { kind: 'redirected'; status: number; message: string }
  | ({ kind: 'too-large' } & Refusal)
  | ({ kind: 'too-early' } & Refusal)
  | ({ kind: 'clock-behind' } & Refusal)
  | ({ kind: 'rejected'; scope: 'request' | 'rows'; line: number | null } & Refusal);

/** Metrica's HTTP 4xx answer to an upload. */
interface Refusal {
  status: number;
  errorType: string;
  message: string;
}

/**
 * Metrica's answer to an upload while the linking switch is off or its threshold is not met: «Загрузить данные сейчас
 * невозможно. Загрузка станет доступна <date>» (ManagementError.java in Yandex's API tests). Only its own words: a
 * refusal that merely contains "невозможно" or "threshold" («Невозможно распознать строку 3», an unknown
 * `…_threshold` parameter) is a wrong file or request, and taken for "too early" it would void the file on every run,
 * the bad row holding back the rest for good instead of being split off.
 */
const TOO_EARLY = /Загрузить данные сейчас невозможно|Загрузка станет доступна|cannot be uploaded now/i;
/** Quotas: 429 (the Russian docs) and 420 (the English quotas page). */
const QUOTA = new Set([420, 429]);
/** Metrica's refusal of a DateTime after its own "now". */
const IN_THE_FUTURE = /in the future|в будущем|будущ/i;

export interface MetrikaClientOptions {
  baseUrl: string;
  token: string;
  policy: RetryPolicy;
  onRetry?: OnRetry | undefined;
  /** The command run's retry budget, shared with its other clients (one of its own when absent). */
  budget?: RetryBudget | undefined;
  timer?: Timer | undefined;
  userAgent?: string | undefined;
}

interface RawResponse {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Yandex Metrica Management API: `Authorization: OAuth {token}` on every request, never the token in a URL. */
export class MetrikaClient {
  private http: Got | null = null;
  private uploadInFlight = false;
  /** How requests to Metrica are retried: the reads here, the uploads by the upload protocol. */
  readonly retry: Retrier;

  constructor(private readonly options: MetrikaClientOptions) {
    this.retry = new Retrier({ service: 'Metrica', ...options });
  }

  // ── reads (retried internally) ──────────────────────────────────────────

  async counters(): Promise<MetrikaCounter[]> {
    const out: MetrikaCounter[] = [];
    const perPage = 1000;
    for (let offset = 1; ; offset += perPage) {
      const json = await this.getJson(`/management/v1/counters?per_page=${perPage}&offset=${offset}`, 'the counter list');
      const rows = Number(json.rows ?? 0);
      const counters = Array.isArray(json.counters) ? (json.counters as Record<string, unknown>[]) : [];
      for (const c of counters) {
        out.push({
          id: Number(c.id),
          name: String(c.name ?? ''),
          site: String((c.site2 as { site?: string } | undefined)?.site ?? c.site ?? ''),
          permission: String(c.permission ?? ''),
          status: c.status === undefined ? undefined : String(c.status),
          timeZone: c.time_zone_name === undefined ? undefined : String(c.time_zone_name),
        });
      }
      if (counters.length === 0 || offset + perPage > rows) return out;
    }
  }

  async goals(counterId: number): Promise<Goal[]> {
    const json = await this.getJson(`/management/v1/counter/${counterId}/goals`, `the goals of counter ${counterId}`);
    return Array.isArray(json.goals) ? (json.goals as Goal[]) : [];
  }

  async createJsEventGoal(counterId: number, name: string, identifier: string): Promise<Goal> {
    const body = { goal: { name, type: 'action', conditions: [{ type: 'exact', url: identifier }] } };
    const res = await this.send('POST', `/management/v1/counter/${counterId}/goals`, {
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    const json = this.expectOk(res, `creating goal "${identifier}" on counter ${counterId}`);
    return json.goal as Goal;
  }

  /**
   * Turns on one of the counter's two linking switches (legacy endpoints, still used by clients): calls
   * (`calls_extended_threshold`) or offline conversions (`extended_threshold`).
   */
  async enableLinking(counterId: number, kind: UploadKind): Promise<void> {
    const res = await this.send('POST', `/management/v1/counter/${counterId}/offline_conversions/${LINKING[kind].enable}`, {});
    this.expectOk(res, `enabling ${LINKING[kind].name} on counter ${counterId}`);
  }

  /**
   * The date from which uploaded calls (`call`) or conversions (`conversion`) can be joined to visits, or null while
   * that switch is off. The answer's shape is unconfirmed: `date` (as public clients read it), or the first date-like
   * string.
   */
  async joinThreshold(counterId: number, kind: UploadKind): Promise<string | null> {
    const json = await this.getJson(
      `/management/v1/counter/${counterId}/offline_conversions/${LINKING[kind].read}`,
      `the ${LINKING[kind].name} threshold of counter ${counterId}`,
    );
    const direct = json.date ?? json.threshold ?? json.visit_join_threshold;
    if (typeof direct === 'string') return direct;
    const found = Object.values(json).find((v) => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v));
    return typeof found === 'string' ? found : null;
  }

  /** Uploadings of one kind for a counter, newest pages first as Metrica gives them. */
  async listUploadings(counterId: number, kind: UploadKind, offset: number, limit: number): Promise<Uploading[]> {
    const what = kind === 'call' ? 'calls_uploadings' : 'uploadings';
    const json = await this.getJson(
      `/management/v1/counter/${counterId}/offline_conversions/${what}?limit=${limit}&offset=${offset}`,
      `the upload list of counter ${counterId}`,
    );
    // (an entry that is not an object — null, a number — is nothing ckym could have uploaded: skipped, never a crash)
    return Array.isArray(json.uploadings) ? (json.uploadings.filter((u) => typeof u === 'object' && u !== null && !Array.isArray(u)) as Uploading[]) : [];
  }

  /** Looks for an uploading by its comment (the batch id): how a crashed or timed-out upload is reconciled. */
  async findUploading(counterId: number, kind: UploadKind, comment: string): Promise<Uploading | null> {
    const limit = 100;
    for (let offset = 0, page = 0; page < 100; offset += limit, page++) {
      const list = await this.listUploadings(counterId, kind, offset, limit);
      const hit = list.find((u) => u.comment === comment);
      if (hit) return hit;
      if (list.length < limit) return null;
    }
    return null;
  }

  async uploading(counterId: number, kind: UploadKind, uploadingId: number): Promise<Uploading> {
    const what = kind === 'call' ? 'calls_uploading' : 'uploading';
    const json = await this.getJson(
      `/management/v1/counter/${counterId}/offline_conversions/${what}/${uploadingId}`,
      `uploading ${uploadingId} of counter ${counterId}`,
    );
    return json.uploading as Uploading;
  }

  // ── the upload: one attempt, classified ─────────────────────────────────

  async upload(request: UploadRequest): Promise<UploadOutcome> {
    if (this.uploadInFlight) throw new Error('internal: a second upload started while one is in flight');
    this.uploadInFlight = true;
    try {
      return await this.uploadOnce(request);
    } finally {
      this.uploadInFlight = false;
    }
  }

  private async uploadOnce(request: UploadRequest): Promise<UploadOutcome> {
    const endpoint = request.kind === 'call' ? 'upload_calls' : 'upload';
    const query = new URLSearchParams({ client_id_type: request.clientIdType ?? 'CLIENT_ID', comment: request.comment });
    if (request.kind === 'call' && request.newGoalName) query.set('new_goal_name', request.newGoalName);
    if (request.ignoreThreshold) query.set(LINKING[request.kind].ignore, '1');
    const boundary = `ckym-${randomBytes(12).toString('hex')}`;
    let res: RawResponse;
    try {
      res = await this.send('POST', `/management/v1/counter/${request.counterId}/offline_conversions/${endpoint}?${query}`, {
        body: multipart(boundary, request.kind === 'call' ? 'calls.csv' : 'conversions.csv', request.csv),
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        freshConnection: true,
      });
    } catch (error) {
      const message = networkReason(error, this.options.baseUrl);
      return { kind: neverSent(error) ? 'refused' : 'unknown', status: null, retryAfter: undefined, message };
    }
    const retryAfter = headerValue(res.headers, 'retry-after');
    if (res.status === 200) {
      const json = parseJsonObject(res.body);
      const uploading = json?.uploading as Uploading | undefined;
      if (uploading && typeof uploading.id === 'number') return { kind: 'accepted', uploading };
      return { kind: 'unknown', status: 200, retryAfter, message: 'Metrica answered 200 without an uploading' };
    }
    if (res.status >= 300 && res.status < 400) return { kind: 'redirected', status: res.status, message: redirectText(res, this.options.baseUrl) };
    const { errorType, message } = errorOf(res);
    if (res.status === 401 || res.status === 403) throw authError(res.status, errorType, message);
    // A quota is an answer that the file was not taken. A 408, a 404 or a 5xx (503 included) may hide one that was.
    if (QUOTA.has(res.status)) return { kind: 'refused', status: res.status, retryAfter, message };
    if (res.status === 408 || res.status === 404 || res.status >= 500) return { kind: 'unknown', status: res.status, retryAfter, message };
    if (res.status === 413) return { kind: 'too-large', status: res.status, errorType, message };
    if (res.status === 400 && TOO_EARLY.test(message)) return { kind: 'too-early', status: res.status, errorType, message };
    if (res.status === 400 && IN_THE_FUTURE.test(message)) return { kind: 'clock-behind', status: res.status, errorType, message };
    const scope = res.status === 400 ? refusalScope(errorType, message) : 'request';
    return { kind: 'rejected', scope, line: scope === 'rows' ? namedLine(message) : null, status: res.status, errorType, message };
  }

  // ── plumbing ────────────────────────────────────────────────────────────

  private getJson(path: string, what: string): Promise<Record<string, unknown>> {
    return this.retry.run(
      what,
      async () => {
        let res: RawResponse;
        try {
          res = await this.send('GET', path, {});
        } catch (error) {
          const reason = networkReason(error, this.options.baseUrl);
          return { ok: false, retry: true, reason, error: new RemoteError(reason) };
        }
        if (res.status === 200) {
          const json = parseJsonObject(res.body);
          if (json) return { ok: true, value: json };
          const reason = 'an answer that is not JSON';
          return { ok: false, retry: true, reason, error: new RemoteError(reason) };
        }
        if (res.status >= 300 && res.status < 400) {
          return { ok: false, retry: false, error: new RemoteError(`Metrica unavailable while reading ${what}: ${redirectText(res, this.options.baseUrl)}`) };
        }
        const { errorType, message } = errorOf(res);
        if (res.status === 401 || res.status === 403) return { ok: false, retry: false, error: authError(res.status, errorType, message) };
        if (!QUOTA.has(res.status) && res.status !== 408 && res.status < 500) {
          const error = new MetrikaError(`Metrica refused reading ${what}: HTTP ${res.status} ${errorType}: ${message}`, res.status, errorType);
          return { ok: false, retry: false, error };
        }
        const reason = `HTTP ${res.status}${errorType ? ` ${errorType}` : ''}`;
        return { ok: false, retry: true, reason, retryAfter: headerValue(res.headers, 'retry-after'), error: new RemoteError(reason) };
      },
      (last, attempts, why) =>
        new RemoteError(
          `Metrica unavailable while reading ${what}: ${last.reason} (after ${attempts} attempt${attempts === 1 ? '' : 's'}); run again later${this.retry.explain(why)}`,
        ),
    );
  }

  private expectOk(res: RawResponse, what: string): Record<string, unknown> {
    if (res.status === 200) {
      const json = parseJsonObject(res.body);
      if (json) return json;
    }
    if (res.status >= 300 && res.status < 400) throw new RemoteError(`Metrica refused ${what}: ${redirectText(res, this.options.baseUrl)}`);
    const { errorType, message } = errorOf(res);
    if (res.status === 401 || res.status === 403) throw authError(res.status, errorType, message);
    throw new MetrikaError(`Metrica refused ${what}: HTTP ${res.status} ${errorType}: ${message}`, res.status, errorType);
  }

  /**
   * `freshConnection`: send on a new connection, never on an idle keep-alive one. Between two uploads ckym may be
   * busy for seconds without looking at its sockets (preparing the next batch of a large backfill); a server that
   * closed the idle connection meanwhile gets the upload written into a dead socket (EPIPE), and an upload that
   * failed that way cannot be told from one that arrived: the batch would wait for Metrica's list to decide.
   */
  private async send(
    method: 'GET' | 'POST',
    path: string,
    extra: { body?: string | AsyncIterable<Buffer>; headers?: Record<string, string>; freshConnection?: boolean },
  ): Promise<RawResponse> {
    const client = await this.client();
    const res = await client(`${this.options.baseUrl.replace(/\/+$/, '')}${path}`, {
      method,
      body: extra.body,
      headers: { ...extra.headers, authorization: `OAuth ${this.options.token}` },
      ...(extra.freshConnection ? { agent: { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) } } : {}),
    });
    return { status: res.statusCode, body: res.body, headers: res.headers };
  }

  private async client(): Promise<Got> {
    // Never a redirect: it would carry the token (and the file) to wherever the answer points.
    this.http ??= await createHttp({ timeoutMs: this.options.policy.timeoutMs, userAgent: this.options.userAgent, followRedirect: false });
    return this.http;
  }
}

/** A multipart/form-data body with one part, `file`, streamed from the CSV chunks. */
async function* multipart(
  boundary: string,
  filename: string,
  csv: () => AsyncIterable<string> | Iterable<string>,
): AsyncGenerator<Buffer> {
  yield Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: text/csv; charset=utf-8\r\n\r\n`,
  );
  for await (const chunk of csv()) yield Buffer.from(chunk, 'utf8');
  yield Buffer.from(`\r\n--${boundary}--\r\n`);
}

/** `{"errors":[{"error_type","message"}],"code","message"}`; messages shown verbatim (often Russian). */
export function errorOf(res: { status: number; body: string }): { errorType: string; message: string } {
  const json = parseJsonObject(res.body);
  const first = Array.isArray(json?.errors) ? (json.errors[0] as { error_type?: string; message?: string } | undefined) : undefined;
  const errorType = first?.error_type ?? '';
  const message = first?.message ?? (typeof json?.message === 'string' ? json.message : '') ?? '';
  return { errorType, message: message || `HTTP ${res.status}` };
}

/** The two linking switches: how each is turned on, read, and bypassed for old rows. */
const LINKING: Record<UploadKind, { name: string; enable: string; read: string; ignore: string }> = {
  call: {
    name: 'call linking',
    enable: 'calls_extended_threshold',
    read: 'calls_visit_join_threshold',
    ignore: 'ignore_calls_visit_join_threshold',
  },
  conversion: {
    name: 'conversion linking',
    enable: 'extended_threshold',
    read: 'visit_join_threshold',
    ignore: 'ignore_visit_join_threshold',
  },
};

/** A 3xx answer, said plainly: ckym does not follow it (the token would go with it). */
function redirectText(res: RawResponse, baseUrl: string): string {
  const location = headerValue(res.headers, 'location');
  let where = '';
  if (location) {
    try {
      where = ` to ${new URL(location, baseUrl).host}`;
    } catch {
      where = '';
    }
  }
  return `${hostOf(baseUrl)} answered HTTP ${res.status} (a redirect${where}); ckym follows no redirect, so that the token goes to no other host — check CKYM_METRIKA_URL`;
}

/**
 * A 401/403 from Metrica, with the fix that fits: a token refused (missing, expired, revoked: `invalid_token`,
 * `unauthorized`) is cured by logging in again; `access_denied` is a token Metrica took that may not do this — the
 * account has no own/edit access to the counter, or the OAuth app lacks the right (goals and linking switches need
 * metrika:write): logging in again with the same app changes nothing.
 */
function authError(status: number, errorType: string, message: string): AuthError {
  const answer = `HTTP ${status}${errorType ? ` ${errorType}` : ''}: ${message}`;
  if (status === 403 && errorType === 'access_denied') {
    return new AuthError(
      `Metrica denied access (${answer}): the Yandex account needs "own" or "edit" access to the counter, and the OAuth app the rights metrika:read and metrika:write (oauth.yandex.ru; then "ckym login" again)`,
    );
  }
  return new AuthError(`Metrica refused the Yandex token (${answer}); run "ckym login" to connect again`);
}
