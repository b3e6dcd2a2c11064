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
    comment: `ckym batch test-${n}`,
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

  it('clock-behind: a DateTime in Metrica\'s future', async () => {
    const o = await outcome(error(400, 'invalid_uploading', 'line 3: DateTime 1716196000 is in the future; only past events can be uploaded'));
    expect(o.kind).toBe('clock-behind');
  });

  it('rejected: any other 4xx', async () => {
    expect((await outcome(error(400, 'invalid_uploading', 'Неверный формат данных, ошибка в строке номер 3'))).kind).toBe('rejected');
    expect((await outcome(error(413, 'invalid_uploading', 'слишком большой файл'))).kind).toBe('rejected');
  });

  it('refused: a quota or a busy backend (with its Retry-After), or a connection nobody accepts — Metrica certainly does not have it', async () => {
    expect(await outcome({ ...error(429, 'quota_requests_by_uid', 'quota'), headers: { 'retry-after': '3' } })).toEqual({
      kind: 'refused',
      status: 429,
      retryAfter: '3',
      message: 'quota',
    });
    expect((await outcome(error(503, 'backend_error', 'busy'))).kind).toBe('refused');
    const port = await freePort();
    expect(await outcome({ status: 200, body: '' }, `http://127.0.0.1:${port}`)).toEqual({
      kind: 'refused',
      status: null,
      retryAfter: undefined,
      message: `network error ECONNREFUSED at 127.0.0.1:${port}`,
    });
  });

  it('unknown: a 504, another 5xx, a 200 without an uploading, a reset — Metrica may have it', async () => {
    expect((await outcome(error(504, 'timeout', 'timeout'))).kind).toBe('unknown');
    expect((await outcome(error(500, 'internal', 'oops'))).kind).toBe('unknown');
    expect((await outcome({ status: 200, body: '{"status":"ok"}' })).kind).toBe('unknown');
    expect(await outcome('reset')).toMatchObject({ kind: 'unknown', status: null, message: 'network error ECONNRESET' });
  });

  it('a refused token is thrown, not classified', async () => {
    answer = error(403, 'invalid_token', 'Invalid oauth_token');
    await expect(upload(new MetrikaClient({ baseUrl: classifyUrl, token: TOKEN, policy }), 1)).rejects.toBeInstanceOf(AuthError);
  });
});
