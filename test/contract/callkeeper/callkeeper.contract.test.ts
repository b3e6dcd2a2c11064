/**
 * CallKeeper's documented examples (test/contract/callkeeper/*.json, taken from its public docs — see each file's
 * `source`) checked against BOTH sides that were written from the same reading of them:
 *
 *   - ckym's CallKeeper client: the requests it makes (against a recording loopback server), and what it makes of
 *     each documented answer (calls, the end of paging, an auth error, a config error);
 *   - the CallKeeper emulator: its answers to the same requests, compared with the documented ones.
 *
 * So neither can drift from the documentation without this failing. docs/API-NOTES-callkeeper.md says what is
 * checked against which source, and what is still unverified.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLKEEPER_PAGE_SIZE, CallKeeperClient, interpret } from '../../../src/clients/callkeeper.js';
import { normaliseCall } from '../../../src/domain/call.js';
import { finality } from '../../../src/domain/finality.js';
import { AuthError, ConfigError } from '../../../src/errors.js';
import { startCallKeeperEmulator, type CallKeeperEmulator } from '../../../src/sandbox/callkeeper.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixture = <T>(name: string): T => JSON.parse(fs.readFileSync(path.join(here, name), 'utf8')) as T;

interface Requests {
  template: string;
  httpMethod: string;
  format: string;
  version: string;
  entity: string;
  methods: string[];
  firstPage: number;
  pageSize: number;
  examples: string[];
}
interface Errors {
  envelope: { inbound: { error: string }; info: unknown; payload: unknown[] };
  errors: { error: string; doc: string; ckym: 'end' | 'auth' | 'config'; query: string }[];
}
type Calls = { body: Record<string, unknown>[] };

const requests = fixture<Requests>('requests.json');
const errors = fixture<Errors>('errors.json');
const calls = fixture<Calls>('answer-calls.json');
const calltracking = fixture<Calls & { docText: string }>('answer-calls-calltracking.json');
const v1 = fixture<{ body: { inbound: Record<string, unknown>; info: unknown; payload: Record<string, unknown>[] } }>('answer-envelope-v1.json');
const statuses = fixture<{ statuses: { statusFirst: number; statusSecond: number; doc: string; final: boolean }[] }>('callstatus.json');

const KEY = 'x9xx99xx99xxxx99'; // the docs' example key: 16 letters and digits
const policy = { retries: 0, backoffMs: 1, maxRetryAfterMs: 1000, timeoutMs: 5000, giveUpMs: 10_000 };
/** The docs' example call is at 2020-04-05 13:23:32 (Moscow, as ckym reads it); a window around it. */
const FROM = Date.parse('2020-04-05T00:00:00Z') / 1000;
const TO = Date.parse('2020-04-06T00:00:00Z') / 1000;

/** A loopback server that records what ckym asks and answers what the test says. */
let server: http.Server;
let baseUrl: string;
const seen: { method: string; path: string; query: string }[] = [];
let answer: (query: string) => { status: number; body: string } = () => ({ status: 200, body: '[]' });

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    seen.push({ method: req.method ?? '', path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1) });
    const a = answer(q < 0 ? '' : url.slice(q + 1));
    res.writeHead(a.status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
});
afterAll(() => new Promise((r) => server.close(r)));

const client = (method: 'get' | 'getWithRole' | 'getByRole' = 'get', key = KEY) => new CallKeeperClient({ baseUrl, apiKey: key, method, policy });

async function fetchAll(c: CallKeeperClient): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const page of c.pages(FROM, TO)) out.push(...page.calls);
  return out;
}

/** The documented template's segments, in order. */
const SEGMENTS = requests.template.split('?')[1]!.split('/').map((s) => s.replace(/[{}]/g, ''));

describe('ckym → CallKeeper: the requests, as documented', () => {
  it('the documented examples have the template\'s shape: one GET with the segments in the query string', () => {
    expect(SEGMENTS).toEqual(['format', 'version', 'apikey', 'entity', 'method', 'pages', 'from', 'to']);
    for (const example of requests.examples) {
      const url = new URL(example);
      expect(url.pathname).toBe('/api/');
      const parts = url.search.slice(1).split('/');
      expect(parts).toHaveLength(SEGMENTS.length);
      expect(parts[0]).toBe(requests.format);
      expect(parts[1]).toBe(requests.version);
      expect(parts[2]).toMatch(/^[a-z0-9]{16}$/i);
      expect(parts[3]).toBe(requests.entity);
      expect(requests.methods).toContain(parts[4]);
      expect(parts[5]).toBe(String(requests.firstPage));
    }
  });

  it('ckym asks exactly that, for each documented method: GET, json/v3/KEY/call/METHOD/PAGE/FROM/TO, pages from 0, unix seconds', async () => {
    const full = Array.from({ length: requests.pageSize }, (_, i) => ({ ...calls.body[0], universalId: `c${i}` }));
    for (const method of requests.methods as ('get' | 'getWithRole' | 'getByRole')[]) {
      seen.length = 0;
      // a full first page (the documented page size), then "Incorrect page is set": two requests
      answer = (query) => (query.split('/')[5] === '0' ? { status: 200, body: JSON.stringify(full) } : { status: 200, body: JSON.stringify({ ...errors.envelope, inbound: { error: 'Incorrect page is set' } }) });
      expect(await fetchAll(client(method))).toHaveLength(requests.pageSize);
      expect(seen.map((r) => r.method)).toEqual([requests.httpMethod, requests.httpMethod]);
      expect(seen.map((r) => r.path)).toEqual(['/api/', '/api/']);
      expect(seen.map((r) => r.query)).toEqual([0, 1].map((page) => [requests.format, requests.version, KEY, requests.entity, method, page, FROM, TO].join('/')));
    }
    expect(CALLKEEPER_PAGE_SIZE).toBe(requests.pageSize);
  });
});

describe('CallKeeper → ckym: what ckym makes of each documented answer', () => {
  it('the success array: every call read; the example call normalised (its visitSite spelling, flags, tags)', async () => {
    answer = () => ({ status: 200, body: JSON.stringify(calls.body) });
    const got = await fetchAll(client());
    expect(got).toEqual(calls.body);
    const normalised = normaliseCall(got[0]!, 'Europe/Moscow');
    expect(normalised).toMatchObject({
      ok: true,
      call: {
        id: '23423423434434234',
        serviceType: 'calltracking',
        callTime: Date.parse('2020-04-05T10:23:32Z') / 1000,
        duration: 152,
        status: 'success',
        statusFirst: 200,
        statusSecond: 200,
        siteVisit: 'callkeeperr.ru', // the example spells it visitSite; the field list says siteVisit
        unique: true,
        target: true,
        uniqueTarget: false,
        clientId: '534543523543',
        tags: ['some tag', 'any tag'],
      },
    });
  });

  it("the calltracking copy's example (callPage, no hooks) reads the same; its text as documented is not JSON, and is retried as a bad answer", async () => {
    const n = normaliseCall(calltracking.body[0]!, 'Europe/Moscow');
    expect(n).toMatchObject({ ok: true, call: { id: '23423423434434234', callPage: 'https://callkeeper.ru/calls' } });
    answer = () => ({ status: 200, body: calltracking.docText });
    await expect(fetchAll(client())).rejects.toThrow(/CallKeeper answered something that is not JSON instead of calls/);
  });

  it('the documented error envelope: each inbound.error read as the end, an auth error or a config error', () => {
    expect(errors.errors.map((e) => e.error)).toEqual([
      'No rows found',
      'Type to return is not available',
      'It is wrong API version',
      'User is not recognized',
      'Entity does not exist',
      'Method does not exist',
      'Incorrect page is set',
      "Start date has wrong type. Possible format is 'Y-m-d' or timestamp",
    ]);
    for (const e of errors.errors) {
      const a = interpret({ ...errors.envelope, inbound: { error: e.error } }, 'URL');
      if (e.ckym === 'end') expect(a, e.error).toEqual({ kind: 'end' });
      else {
        expect(a.kind, e.error).toBe('error');
        const error = (a as { error: Error }).error;
        expect(error, e.error).toBeInstanceOf(e.ckym === 'auth' ? AuthError : ConfigError);
        if (e.ckym === 'config') expect(error.message).toContain(`"${e.error}"`);
      }
    }
  });

  it('the older envelope shape: calls read from payload (the v1 calls there have no universalId, so none is taken)', () => {
    const a = interpret(v1.body, 'URL');
    expect(a).toEqual({ kind: 'calls', calls: v1.body.payload });
    expect(normaliseCall(v1.body.payload[0]!, 'Europe/Moscow')).toEqual({ ok: false, problem: 'the call has no universalId' });
  });

  it('every documented status pair: final or not as callstatus.md says (1/0, 2/0, 707/0 wait)', () => {
    expect(statuses.statuses.length).toBeGreaterThan(60);
    const old = Date.parse('2020-04-05T10:23:32Z') / 1000;
    for (const s of statuses.statuses) {
      const n = normaliseCall({ ...calls.body[0], serviceType: 'callback', statusFirst: s.statusFirst, statusSecond: s.statusSecond }, 'Europe/Moscow');
      if (!n.ok) throw new Error(n.problem);
      expect(finality(n.call, old + 86_400, 10).final, `${s.statusFirst}/${s.statusSecond} ${s.doc}`).toBe(s.final);
    }
    expect(statuses.statuses.filter((s) => !s.final).map((s) => `${s.statusFirst}/${s.statusSecond}`)).toEqual(['1/0', '2/0', '707/0']);
  });
});

describe('the emulator answers as documented', () => {
  let emulator: CallKeeperEmulator;
  beforeAll(async () => {
    emulator = await startCallKeeperEmulator({ apiKey: KEY, calls: calls.body });
  });
  afterAll(() => emulator.close());

  const ask = async (query: string) => {
    const res = await fetch(`${emulator.url}?${query}`);
    return { status: res.status, json: (await res.json()) as unknown };
  };
  const fill = (query: string) =>
    query
      .replace('{key}', KEY)
      .replace('{wrongKey}', 'y9yy99yy99yyyy99')
      .replace('{from}', String(FROM))
      .replace('{to}', String(TO))
      .replace('{emptyFrom}', String(TO + 86_400))
      .replace('{emptyTo}', String(TO + 2 * 86_400))
      .replace('{pastLastPage}', '1');

  it('the documented example requests are understood (Y-m-d dates included), answered with the documented array', async () => {
    for (const example of requests.examples) {
      const query = new URL(example).search.slice(1).replace('2020-05-01/2020-05-02', '2020-04-05/2020-04-05');
      const r = await ask(query);
      expect(r.status).toBe(200);
      expect(r.json).toEqual(calls.body);
    }
  });

  it('each documented error: the documented envelope, the documented text, HTTP 200', async () => {
    for (const e of errors.errors) {
      const r = await ask(fill(e.query));
      expect(r.status, e.error).toBe(200);
      expect(r.json, e.error).toEqual({ ...errors.envelope, inbound: { error: e.error } });
    }
  });

  it('pages hold the documented 1000 calls; the older envelope shape has the documented inbound keys', async () => {
    const many = Array.from({ length: 2490 }, (_, i) => ({ ...calls.body[0], universalId: `m${i}` }));
    emulator.setCalls(many);
    const sizes: number[] = [];
    for (let page = 0; ; page++) {
      const r = await ask(`json/v3/${KEY}/call/get/${page}/${FROM}/${TO}`);
      if (!Array.isArray(r.json)) {
        expect(r.json).toEqual({ ...errors.envelope, inbound: { error: 'Incorrect page is set' } });
        break;
      }
      sizes.push(r.json.length);
    }
    expect(sizes).toEqual([1000, 1000, 490]);
    emulator.inject({ type: 'envelope' });
    const wrapped = (await ask(`json/v3/${KEY}/call/get/0/${FROM}/${TO}`)).json as typeof v1.body;
    expect(Object.keys(wrapped).sort()).toEqual(Object.keys(v1.body).sort());
    expect(wrapped.info).toEqual(v1.body.info);
    expect(wrapped.inbound).toMatchObject({ pageLength: v1.body.inbound.pageLength, ofPages: 3 });
    expect(wrapped.payload).toHaveLength(1000);
    emulator.setCalls(calls.body);
  });
});
