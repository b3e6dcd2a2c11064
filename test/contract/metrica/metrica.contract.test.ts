/**
 * The Metrica contract (12.9): the documented requests and answers are data beside this file (endpoints.json,
 * answers.json, refusals.json and the CSV bodies). Both sides are checked against them, so that neither ckym's client
 * nor the emulator can drift from the documentation again:
 * - ckym's Metrica client, against a loopback server that records every request;
 * - the Metrica emulator, whose answers must have the documented shapes, statuses and messages.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetrikaClient } from '../../../src/clients/metrika.js';
import { callHeader, conversionHeader } from '../../../src/domain/rows.js';
import { startMetrikaEmulator, type MetrikaEmulator } from '../../../src/sandbox/metrika.js';
import { aCounter } from '../../domain/builders.js';
import { call, multipartBody, TOKEN } from '../../sandbox/helpers.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const read = (name: string) => fs.readFileSync(path.join(HERE, name), 'utf8');
const json = <T>(name: string) => JSON.parse(read(name)) as T;

interface Endpoint {
  method: string;
  path: string;
  query: string[];
  required: string[];
  body?: 'json' | 'multipart';
  part?: string;
  columns?: string[];
}
const ENDPOINTS = json<{ auth: { header: string; scheme: string; forbiddenQuery: string[] }; endpoints: Record<string, Endpoint>; clientIdTypes: Record<string, string>; comment: { maxLength: number; allowed: string } }>('endpoints.json');
type ErrorSpec = { status: number | number[]; type?: string; message?: string; match?: 'exact' | 'prefix' };
const ANSWERS = json<{
  uploading: { fields: string[]; callFields: string[]; optional: string[]; afterUpload: { status: string }; statuses: string[] };
  enableLinking: { body: unknown };
  threshold: { key: string; on: string; off: null };
  offlineOptions: { key: string; conversions: string; calls: string };
  errors: Record<string, ErrorSpec>;
}>('answers.json');
interface Case {
  name: string;
  kind: 'calls' | 'conversions';
  csv?: string;
  file?: string;
  clientIdType?: string;
  counter?: 'linked' | 'fresh';
  query: Record<string, string>;
  expect: { error?: string; uploading?: Record<string, number>; offlineOptions?: Record<string, number>; line_quantity?: number };
}
const REFUSALS = json<{ cases: Case[]; accepted: Case[] }>('refusals.json');

/** `/management/v1/counter/{id}/…` as a pattern. */
const pattern = (p: string) => new RegExp(`^${p.replace(/\{\w+\}/g, '\\d+')}$`);
const endpointOf = (method: string, urlPath: string): [string, Endpoint] | undefined =>
  Object.entries(ENDPOINTS.endpoints).find(([, e]) => e.method === method && pattern(e.path).test(urlPath));

describe("ckym's Metrica client sends what the documentation describes", () => {
  const seen: { method: string; url: URL; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
  let server: http.Server;
  let client: MetrikaClient;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://recorder.invalid');
        seen.push({ method: req.method ?? '', url, headers: req.headers, body: Buffer.concat(chunks) });
        let answer: unknown = {};
        if (url.pathname.endsWith('/goals') && req.method === 'POST') answer = { goal: { id: 9, name: 'x', type: 'action', conditions: [] } };
        else if (url.pathname.endsWith('/counters')) answer = { rows: 0, counters: [] };
        else if (/upload(_calls)?$/.test(url.pathname)) answer = { uploading: { id: 7, status: 'UPLOADED' } };
        else if (/uploadings$/.test(url.pathname)) answer = { uploadings: [] };
        else if (/uploading\/\d+$/.test(url.pathname)) answer = { uploading: { id: 7 } };
        else if (url.pathname.endsWith('extended_threshold')) answer = ANSWERS.enableLinking.body;
        else if (url.pathname.endsWith('visit_join_threshold')) answer = { date: '2024-05-01' };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new MetrikaClient({
      baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: 'contract-token',
      policy: { retries: 0, backoffMs: 1, maxRetryAfterMs: 1000, timeoutMs: 10_000, giveUpMs: 10_000 },
    });
    // every request ckym's client can make
    const counter = aCounter({ goal: 'GOAL1', price: 123.45, currency: 'RUB' });
    const csv = (header: string[]) => () => [`${header.join(',')}\n`, `${header.map(() => '').join(',')}\n`];
    await client.counters();
    await client.goals(1);
    await client.createJsEventGoal(1, 'Звонок', 'GOAL1');
    for (const kind of ['call', 'conversion'] as const) {
      await client.enableLinking(1, kind);
      await client.joinThreshold(1, kind);
      await client.listUploadings(1, kind, 0, 100);
      await client.uploading(1, kind, 7);
    }
    await client.upload({ counterId: 1, kind: 'call', comment: 'ckym0123456789abb1t1481718166', newGoalName: 'Звонок', csv: csv(callHeader(counter)) });
    await client.upload({ counterId: 1, kind: 'call', comment: 'ckym0123456789abb2t1481718166', clientIdType: 'YCLID', ignoreThreshold: true, csv: csv(callHeader(counter, 'yclid')) });
    await client.upload({ counterId: 1, kind: 'conversion', comment: 'ckym0123456789abb3t1481718166', csv: csv(conversionHeader(counter)) });
    await client.upload({ counterId: 1, kind: 'conversion', comment: 'ckym0123456789abb4t1481718166', clientIdType: 'YCLID', ignoreThreshold: true, csv: csv(conversionHeader(counter, 'yclid')) });
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('every request is a documented endpoint, with the OAuth header and never a token in the URL', () => {
    expect(seen.length).toBe(15);
    for (const r of seen) {
      const found = endpointOf(r.method, r.url.pathname);
      expect(found, `${r.method} ${r.url.pathname}`).toBeDefined();
      expect(r.headers[ENDPOINTS.auth.header]).toBe(`${ENDPOINTS.auth.scheme} contract-token`);
      for (const q of ENDPOINTS.auth.forbiddenQuery) expect(r.url.searchParams.has(q)).toBe(false);
    }
    // every documented endpoint ckym uses was used
    const used = new Set(seen.map((r) => endpointOf(r.method, r.url.pathname)![0]));
    expect([...used].sort()).toEqual(Object.keys(ENDPOINTS.endpoints).sort());
  });

  it('query parameters: only documented ones, the required ones always; client_id_type matches the file\'s identifier column', () => {
    for (const r of seen) {
      const [name, e] = endpointOf(r.method, r.url.pathname)!;
      const keys = [...r.url.searchParams.keys()];
      for (const k of keys) expect(e.query, `${name}: ${k}`).toContain(k);
      for (const k of e.required) expect(keys, `${name}: ${k}`).toContain(k);
      if (e.body === 'multipart') {
        const idColumn = /\r\n\r\n([A-Za-z]+),/.exec(r.body.toString('utf8'))![1]!;
        expect(ENDPOINTS.clientIdTypes[idColumn]).toBe(r.url.searchParams.get('client_id_type'));
        const comment = r.url.searchParams.get('comment')!;
        expect(comment).toMatch(new RegExp(ENDPOINTS.comment.allowed));
        expect([...comment].length).toBeLessThanOrEqual(ENDPOINTS.comment.maxLength);
      }
    }
  });

  it('uploads: one multipart part named "file", a CSV whose header holds documented columns only', () => {
    const uploads = seen.filter((r) => endpointOf(r.method, r.url.pathname)![1].body === 'multipart');
    expect(uploads).toHaveLength(4);
    for (const r of uploads) {
      const e = endpointOf(r.method, r.url.pathname)![1];
      const boundary = /boundary=(.+)$/.exec(String(r.headers['content-type']))![1]!;
      const text = r.body.toString('utf8');
      expect(text.split(`--${boundary}\r\n`)).toHaveLength(2); // one part
      expect(text).toMatch(new RegExp(`Content-Disposition: form-data; name="${e.part}"`));
      const header = /\r\n\r\n([^\n]*)\n/.exec(text)![1]!.split(',');
      for (const column of header) expect(e.columns, column).toContain(column);
    }
    const flags = uploads.map((r) => [r.url.pathname.split('/').at(-1), r.url.searchParams.get('client_id_type'), r.url.searchParams.get('ignore_calls_visit_join_threshold') ?? r.url.searchParams.get('ignore_visit_join_threshold')]);
    expect(flags).toEqual([
      ['upload_calls', 'CLIENT_ID', null],
      ['upload_calls', 'YCLID', '1'],
      ['upload', 'CLIENT_ID', null],
      ['upload', 'YCLID', '1'],
    ]);
  });
});

describe('the Metrica emulator answers as the documentation and Yandex\'s tests show', () => {
  const LINKED = 11_111_111;
  const FRESH = 22_222_222;
  let emulator: MetrikaEmulator;
  const goals = [{ id: 5, name: 'Цель', type: 'action', conditions: [{ type: 'exact', url: 'GOAL1' }] }];

  beforeAll(async () => {
    emulator = await startMetrikaEmulator({
      token: TOKEN,
      counters: [
        { id: LINKED, name: 'linked', site: 'test.com', goals },
        { id: FRESH, name: 'fresh', site: 'test.com', goals, callsLinking: false, conversionsLinking: false },
      ],
    });
  });
  afterAll(async () => {
    await emulator.close();
  });

  const upload = (c: Case) => {
    const csv = c.file ? read(c.file) : c.csv!;
    const { body, contentType } = multipartBody(csv);
    const query = new URLSearchParams({ client_id_type: c.clientIdType ?? 'CLIENT_ID', ...c.query });
    const endpoint = c.kind === 'calls' ? 'upload_calls' : 'upload';
    const id = c.counter === 'fresh' ? FRESH : LINKED;
    return call(emulator.url, `/management/v1/counter/${id}/offline_conversions/${endpoint}?${query}`, { method: 'POST', body, headers: { 'content-type': contentType } });
  };
  const expectError = (res: { status: number; json: any }, spec: ErrorSpec) => {
    expect(Array.isArray(spec.status) ? spec.status : [spec.status]).toContain(res.status);
    // the documented error envelope
    expect(res.json).toEqual({ errors: [{ error_type: expect.any(String), message: res.json.message }], code: res.status, message: expect.any(String) });
    if (spec.type) expect(res.json.errors[0].error_type).toBe(spec.type);
    if (spec.message && spec.match === 'exact') expect(res.json.message).toBe(spec.message);
    if (spec.message && spec.match === 'prefix') expect(res.json.message.startsWith(spec.message), res.json.message).toBe(true);
  };

  it.each(REFUSALS.accepted.map((c) => [c.name, c] as const))('accepts %s: the uploading has the documented fields', async (_name, c) => {
    const res = await upload(c);
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    const u = res.json.uploading as Record<string, unknown>;
    const allowed = [...ANSWERS.uploading.fields, ...ANSWERS.uploading.callFields, ...ANSWERS.uploading.optional];
    for (const key of Object.keys(u)) expect(allowed, key).toContain(key);
    for (const key of ANSWERS.uploading.fields) expect(u, key).toHaveProperty(key);
    if (c.kind === 'calls') for (const key of ANSWERS.uploading.callFields) expect(u, key).toHaveProperty(key);
    expect(u.status).toBe(ANSWERS.uploading.afterUpload.status);
    expect(u.client_id_type).toBe(c.clientIdType);
    expect(u.line_quantity).toBe(c.expect.line_quantity);
    expect(u.comment).toBe(c.query.comment);
    // the list and the uploading itself answer with the same object
    const list = c.kind === 'calls' ? 'calls_uploadings' : 'uploadings';
    const one = c.kind === 'calls' ? 'calls_uploading' : 'uploading';
    expect((await call(emulator.url, `/management/v1/counter/${LINKED}/offline_conversions/${list}`)).json.uploadings[0]).toEqual(u);
    expect((await call(emulator.url, `/management/v1/counter/${LINKED}/offline_conversions/${one}/${u.id}`)).json).toEqual({ uploading: u });
  });

  it.each(REFUSALS.cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await upload(c);
    if (c.expect.error) {
      expectError(res, ANSWERS.errors[c.expect.error]!);
      return;
    }
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.uploading).toMatchObject(c.expect.uploading!);
    if (c.expect.offlineOptions) {
      const counter = (await call(emulator.url, `/management/v1/counter/${c.counter === 'fresh' ? FRESH : LINKED}`)).json.counter;
      expect(counter[ANSWERS.offlineOptions.key]).toMatchObject(c.expect.offlineOptions);
    }
  });

  it('a wrong token: 403 invalid_token, "Invalid oauth_token"; none: 401', async () => {
    expectError(await call(emulator.url, '/management/v1/counters', { token: 'wrong' }), ANSWERS.errors.invalidToken!);
    expectError(await call(emulator.url, '/management/v1/counters', { token: null }), ANSWERS.errors.unauthorized!);
  });

  it('both linking switches: POST answers {success: true}; the threshold answers {date}, a date when on, null when off', async () => {
    const id = 33_333_333;
    const e = await startMetrikaEmulator({ token: TOKEN, counters: [{ id, name: 'x', site: 'x', callsLinking: false, conversionsLinking: false }] });
    try {
      for (const [enable, read] of [
        ['calls_extended_threshold', 'calls_visit_join_threshold'],
        ['extended_threshold', 'visit_join_threshold'],
      ]) {
        const before = await call(e.url, `/management/v1/counter/${id}/offline_conversions/${read}`);
        expect(before.json).toEqual({ [ANSWERS.threshold.key]: ANSWERS.threshold.off });
        const on = await call(e.url, `/management/v1/counter/${id}/offline_conversions/${enable}`, { method: 'POST' });
        expect(on.json).toEqual(ANSWERS.enableLinking.body);
        const after = await call(e.url, `/management/v1/counter/${id}/offline_conversions/${read}`);
        expect(after.json[ANSWERS.threshold.key]).toMatch(new RegExp(ANSWERS.threshold.on));
      }
      const counter = (await call(e.url, `/management/v1/counter/${id}`)).json.counter;
      expect(counter[ANSWERS.offlineOptions.key]).toEqual({ [ANSWERS.offlineOptions.conversions]: 1, [ANSWERS.offlineOptions.calls]: 1 });
    } finally {
      await e.close();
    }
  });

  it('an uploading moves through the documented statuses', async () => {
    const res = await upload(REFUSALS.accepted[0]!);
    const id = res.json.uploading.id as number;
    for (const status of ANSWERS.uploading.statuses) {
      emulator.setUploadingStatus(id, status as Parameters<MetrikaEmulator['setUploadingStatus']>[1]);
      expect((await call(emulator.url, `/management/v1/counter/${LINKED}/offline_conversions/calls_uploading/${id}`)).json.uploading.status).toBe(status);
    }
  });

  it('quotas (420 and 429) and 413 answer with their documented statuses', async () => {
    emulator.inject({ on: 'upload', status: 420 });
    emulator.inject({ on: 'upload', status: 429, retryAfter: 3 });
    const quota = ANSWERS.errors.quota as ErrorSpec & { types: string[] };
    for (let i = 0; i < 2; i++) {
      const res = await upload(REFUSALS.accepted[0]!);
      expectError(res, quota);
      expect(quota.types).toContain(res.json.errors[0].error_type);
    }
    const small = await startMetrikaEmulator({ token: TOKEN, counters: [{ id: LINKED, name: 'x', site: 'x', goals }], maxUploadBytes: 100 });
    try {
      const { body, contentType } = multipartBody(read('calls.csv'));
      const res = await call(small.url, `/management/v1/counter/${LINKED}/offline_conversions/upload_calls?client_id_type=CLIENT_ID&comment=x`, { method: 'POST', body, headers: { 'content-type': contentType } });
      expectError(res, ANSWERS.errors.tooLarge!);
    } finally {
      await small.close();
    }
  });
});
