import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetrikaClient } from '../../src/clients/metrika.js';
import { AuthError } from '../../src/errors.js';
import { freePort } from '../support/harness.js';

const TOKEN = 'y0_metrika-client-test-token';
const policy = { retries: 0, backoffMs: 1, maxRetryAfterMs: 1000, timeoutMs: 10_000, giveUpMs: 60_000 };

/** Which connection each request came in on, by the order connections were opened. */
const seen: { method: string; connection: number }[] = [];
const connections = new Map<Socket, number>();
let server: http.Server;
let baseUrl: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', connection: connections.get(req.socket)! });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.method === 'POST' ? { uploading: { id: seen.length, status: 'UPLOADED' } } : { uploadings: [] }));
    });
  });
  server.on('connection', (socket) => connections.set(socket, connections.size + 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const upload = (client: MetrikaClient, n: number) =>
  client.upload({
    counterId: 11,
    kind: 'call',
    comment: `ckym0123456789abb${n}t1700000000`,
    csv: () => ['ClientId,DateTime\n', `,${1_700_000_000 + n}\n`],
  });

describe('MetrikaClient uploads', () => {
  it('go out on a connection of their own, never on an idle keep-alive one the server may have closed meanwhile', async () => {
    const client = new MetrikaClient({ baseUrl, token: TOKEN, policy });
    await client.listUploadings(11, 'call', 0, 10);
    expect((await upload(client, 1)).kind).toBe('accepted');
    await client.listUploadings(11, 'call', 0, 10);
    expect((await upload(client, 2)).kind).toBe('accepted');

    const uploads = seen.filter((r) => r.method === 'POST').map((r) => r.connection);
    const others = seen.filter((r) => r.method !== 'POST').map((r) => r.connection);
    expect(new Set(uploads).size).toBe(2);
    for (const c of uploads) expect(seen.filter((r) => r.connection === c)).toHaveLength(1);
    expect(others.some((c) => uploads.includes(c))).toBe(false);
  });
});

describe('MetrikaClient classifies each upload answer once, for the upload protocol', () => {
  /** What the next upload is answered with. */
  let answer: { status: number; body: string; headers?: Record<string, string> } | 'reset' = { status: 200, body: '{}' };
  let classify: http.Server;
  let classifyUrl: string;

  beforeAll(async () => {
    classify = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (answer === 'reset') return req.socket.destroy();
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => classify.listen(0, '127.0.0.1', resolve));
    classifyUrl = `http://127.0.0.1:${(classify.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    classify.closeAllConnections();
    await new Promise((resolve) => classify.close(resolve));
  });

  const error = (status: number, type: string, message: string) => ({
    status,
    body: JSON.stringify({ errors: [{ error_type: type, message }], code: status, message }),
  });
  const outcome = async (a: typeof answer, baseUrl = classifyUrl) => {
    answer = a;
    return upload(new MetrikaClient({ baseUrl, token: TOKEN, policy }), 1);
  };

  it('accepted: the uploading', async () => {
    expect(await outcome({ status: 200, body: '{"uploading":{"id":77,"status":"UPLOADED"}}' })).toEqual({
      kind: 'accepted',
      uploading: { id: 77, status: 'UPLOADED' },
    });
  });

  it('too-early: «Загрузить данные сейчас невозможно» — call linking not on or not warmed up', async () => {
    const o = await outcome(error(400, 'invalid_uploading', 'Загрузить данные сейчас невозможно. Загрузка станет доступна 2024-05-21'));
    expect(o).toEqual({ kind: 'too-early', status: 400, errorType: 'invalid_uploading', message: 'Загрузить данные сейчас невозможно. Загрузка станет доступна 2024-05-21' });
  });

  it('too-early only in its own words: a refusal that just says "невозможно" or names a threshold is a wrong file or request', async () => {
    expect(await outcome(error(400, 'invalid_uploading', 'Невозможно распознать строку 3: ошибка в строке номер 3'))).toMatchObject({ kind: 'rejected', scope: 'rows', line: 3 });
    expect(await outcome(error(400, 'invalid_parameter', 'Unknown parameter: ignore_visit_join_threshold is not possible here'))).toMatchObject({
      kind: 'rejected',
      scope: 'request',
    });
    expect(await outcome(error(400, 'invalid_uploading', 'Загрузка станет доступна для данных начиная с 2024-04-19: строка 3'))).toMatchObject({ kind: 'too-early' });
  });

  it('clock-behind: a DateTime in Metrica\'s future', async () => {
    const o = await outcome(error(400, 'invalid_uploading', 'line 3: DateTime 1716196000 is in the future; only past events can be uploaded'));
    expect(o.kind).toBe('clock-behind');
  });

  it('rejected: any other 4xx — with the line Metrica names, and whether the request itself or some rows were refused', async () => {
    expect(await outcome(error(400, 'invalid_uploading', 'Неверный формат данных, ошибка в строке номер 3'))).toEqual({
      kind: 'rejected',
      scope: 'rows',
      line: 3,
      status: 400,
      errorType: 'invalid_uploading',
      message: 'Неверный формат данных, ошибка в строке номер 3',
    });
    expect(await outcome(error(400, 'invalid_uploading', 'Некорректное значение в колонке Tag'))).toMatchObject({ kind: 'rejected', scope: 'rows', line: null });
    expect(await outcome(error(400, 'invalid_parameter', 'Комментарий содержит недопустимые символы.'))).toMatchObject({ kind: 'rejected', scope: 'request', line: null });
    expect(await outcome(error(400, 'invalid_uploading', 'Отсутствует обязательная колонка DateTime'))).toMatchObject({ kind: 'rejected', scope: 'request' });
    expect(await outcome(error(405, 'invalid_parameter', 'Method POST is not allowed'))).toMatchObject({ kind: 'rejected', scope: 'request' });
  });

  it('too-large: 413 — the file is to be split', async () => {
    expect(await outcome(error(413, 'invalid_uploading', 'слишком большой файл'))).toEqual({
      kind: 'too-large',
      status: 413,
      errorType: 'invalid_uploading',
      message: 'слишком большой файл',
    });
  });

  it('refused: a quota — 429, or 420 as the English quotas page has it — (with its Retry-After), or a connection nobody accepts: Metrica certainly does not have it', async () => {
    expect(await outcome({ ...error(429, 'quota_requests_by_uid', 'quota'), headers: { 'retry-after': '3' } })).toEqual({
      kind: 'refused',
      status: 429,
      retryAfter: '3',
      message: 'quota',
    });
    expect(await outcome({ ...error(420, 'quota_requests_by_uid', 'quota'), headers: { 'retry-after': '5' } })).toEqual({
      kind: 'refused',
      status: 420,
      retryAfter: '5',
      message: 'quota',
    });
    const port = await freePort();
    expect(await outcome({ status: 200, body: '' }, `http://127.0.0.1:${port}`)).toEqual({
      kind: 'refused',
      status: null,
      retryAfter: undefined,
      message: `network error ECONNREFUSED at 127.0.0.1:${port}`,
    });
  });

  it('unknown: a 408, a 404 or any 5xx (503 too) after the file went out, a 200 without an uploading, a reset — Metrica may have it', async () => {
    expect((await outcome(error(504, 'timeout', 'timeout'))).kind).toBe('unknown');
    expect((await outcome(error(500, 'internal', 'oops'))).kind).toBe('unknown');
    expect((await outcome(error(503, 'backend_error', 'busy'))).kind).toBe('unknown');
    expect((await outcome(error(502, 'backend_error', 'bad gateway'))).kind).toBe('unknown');
    expect((await outcome(error(408, 'timeout', 'request timeout'))).kind).toBe('unknown');
    expect((await outcome(error(404, 'not_found', 'Entity not found'))).kind).toBe('unknown');
    expect((await outcome({ status: 200, body: '{"status":"ok"}' })).kind).toBe('unknown');
    expect(await outcome('reset')).toMatchObject({ kind: 'unknown', status: null, message: 'network error ECONNRESET' });
  });

  it('a refused token is thrown, not classified', async () => {
    answer = error(403, 'invalid_token', 'Invalid oauth_token');
    await expect(upload(new MetrikaClient({ baseUrl: classifyUrl, token: TOKEN, policy }), 1)).rejects.toBeInstanceOf(AuthError);
  });
});

describe('MetrikaClient requests', () => {
  /** Every request: method, path and query, as the server saw them. */
  const got: { method: string; url: string; body: string }[] = [];
  let recorder: http.Server;
  let recorderUrl: string;

  beforeAll(async () => {
    recorder = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        got.push({ method: req.method ?? '', url: req.url ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(req.method === 'POST' && req.url!.includes('/upload') ? { uploading: { id: 1, line_quantity: 1 } } : req.url!.includes('threshold') ? { date: '2024-05-01', success: true } : {}));
      });
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    recorder.closeAllConnections();
    await new Promise((resolve) => recorder.close(resolve));
  });

  it('an upload names its identifier type, and rows before the threshold carry the ignore flag of their kind (12.2, 12.8)', async () => {
    got.length = 0;
    const client = new MetrikaClient({ baseUrl: recorderUrl, token: TOKEN, policy });
    const csv = () => ['Yclid,DateTime\n', '5417289076543210987,1700000000\n'];
    await client.upload({ counterId: 11, kind: 'call', comment: 'ckym0123456789abb1t1700000000', clientIdType: 'YCLID', ignoreThreshold: true, newGoalName: 'Звонок', csv });
    await client.upload({ counterId: 11, kind: 'conversion', comment: 'ckym0123456789abb2t1700000000', clientIdType: 'CLIENT_ID', ignoreThreshold: true, csv });
    await client.upload({ counterId: 11, kind: 'conversion', comment: 'ckym0123456789abb3t1700000000', csv });
    expect(got.map((r) => r.url)).toEqual([
      '/management/v1/counter/11/offline_conversions/upload_calls?client_id_type=YCLID&comment=ckym0123456789abb1t1700000000&new_goal_name=%D0%97%D0%B2%D0%BE%D0%BD%D0%BE%D0%BA&ignore_calls_visit_join_threshold=1',
      '/management/v1/counter/11/offline_conversions/upload?client_id_type=CLIENT_ID&comment=ckym0123456789abb2t1700000000&ignore_visit_join_threshold=1',
      '/management/v1/counter/11/offline_conversions/upload?client_id_type=CLIENT_ID&comment=ckym0123456789abb3t1700000000',
    ]);
  });

  it('both linking switches: turned on and read on their own endpoints (12.1)', async () => {
    got.length = 0;
    const client = new MetrikaClient({ baseUrl: recorderUrl, token: TOKEN, policy });
    await client.enableLinking(11, 'call');
    await client.enableLinking(11, 'conversion');
    expect(await client.joinThreshold(11, 'call')).toBe('2024-05-01');
    expect(await client.joinThreshold(11, 'conversion')).toBe('2024-05-01');
    expect(got.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /management/v1/counter/11/offline_conversions/calls_extended_threshold',
      'POST /management/v1/counter/11/offline_conversions/extended_threshold',
      'GET /management/v1/counter/11/offline_conversions/calls_visit_join_threshold',
      'GET /management/v1/counter/11/offline_conversions/visit_join_threshold',
    ]);
  });
});

describe('MetrikaClient follows no redirect (12.4)', () => {
  /** A server on another port: it must never be reached (it would get the token). */
  const elsewhere: string[] = [];
  let target: http.Server;
  let redirector: http.Server;
  let redirectorUrl: string;

  beforeAll(async () => {
    target = http.createServer((req, res) => {
      elsewhere.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"uploading":{"id":5},"counters":[],"rows":0}');
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const port = (target.address() as AddressInfo).port;
    redirector = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(302, { location: `http://127.0.0.1:${port}${req.url}` });
        res.end();
      });
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const s of [target, redirector]) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('an upload answered 302 to another host: not followed, classified, the other host never reached', async () => {
    const client = new MetrikaClient({ baseUrl: redirectorUrl, token: TOKEN, policy });
    const o = await upload(client, 1);
    expect(o).toMatchObject({ kind: 'redirected', status: 302 });
    expect(o.kind === 'redirected' && o.message).toMatch(/answered HTTP 302 \(a redirect to 127\.0\.0\.1:\d+\); ckym follows no redirect, so that the token goes to no other host — check CKYM_METRIKA_URL$/);
    await expect(client.counters()).rejects.toThrow(/Metrica unavailable while reading the counter list: .*HTTP 302 \(a redirect to/);
    await expect(client.enableLinking(11, 'conversion')).rejects.toThrow(/Metrica refused enabling conversion linking on counter 11: .*HTTP 302/);
    expect(elsewhere).toEqual([]);
  });
});
