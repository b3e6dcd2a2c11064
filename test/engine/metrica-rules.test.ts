/**
 * What Metrica actually accepts (issue 12), through the engine in process against the emulators: the linking switches
 * and thresholds, identifiers (ClientId and Yclid files), rows kept aside before and after an upload (malformed,
 * refused — split until only the bad ones are left), the status codes of an upload, lines Metrica did not keep.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { connectionOf, Store } from '../../src/store/store.js';
import { MetrikaClient } from '../../src/clients/metrika.js';
import { MetricaUploader, MAX_REFUSALS } from '../../src/engine/upload.js';
import { systemClock } from '../../src/clock.js';
import { UPLOAD_TOO_EARLY_MESSAGE } from '../../src/sandbox/metrika.js';
import { describeMetrika, startFaultProxy, type FaultProxy } from '../support/proxy.js';
import { DEFAULT_POLICY, counter, engineWorld, type EngineWorld } from './world.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const DAY = 86_400;

let world: EngineWorld;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
  await world?.close();
});

const uploadsOf = (counterId: number, kind?: 'calls' | 'conversions') =>
  world.metrika.uploads.filter((u) => u.counterId === counterId && (kind === undefined || u.kind === kind));
const uploadRequests = () => world.metrika.requests.filter((r) => r.method === 'POST' && /offline_conversions\/upload/.test(r.path)).length;

/** A final incoming call, settled, taken by a default counter. */
const aCall = (id: string, callTime: string, over: Record<string, unknown> = {}) => ({
  universalId: id,
  serviceType: 'calltracking',
  status: 'success',
  statusFirst: 200,
  statusSecond: 200,
  clientNumber: '79991234567',
  callTime,
  duration: 30,
  yaClid: '1716000000123456789',
  ...over,
});

describe('the conversions linking switch (12.1)', () => {
  it('off: the conversions are held — nothing sent, nothing voided, told once a run with the command that fixes it; calls go; exit 0. On: sent once', async () => {
    const calls = generateCalls({ count: 120, seed: 12_1, nowUnix: NOW_UNIX, days: 5 });
    world = await engineWorld({ calls, counters: [counter(11, { goal: 'call' })], nowIso: NOW, seed: () => ({ conversionsLinking: false }) });
    const first = await world.run();
    expect(first.report!.exitCode).toBe(0);
    const c = first.report!.counters[0]!;
    expect(c.error).toBeNull();
    expect(c.calls.sent).toBeGreaterThan(0);
    expect(c.conversions.sent).toBe(0);
    const pending = world.states(11, 'conversion').pending!;
    expect(pending).toBeGreaterThan(5);
    expect(c.conversions.held).toEqual({
      rows: pending,
      message: `${pending} conversions for counter 11 held: Metrica's conversion linking is off; run "ckym counters edit 11 --yes" to turn it on — they are sent once it is`,
    });
    expect(first.told.filter((t) => t.event === 'held')).toHaveLength(1);
    expect(uploadsOf(11, 'conversions')).toEqual([]);
    // no conversion batch left behind, nothing voided: the rows simply wait
    expect(world.batches().map((b) => b.split(' ').slice(1, 3).join(' '))).toEqual(['11/call sent']);
    expect(world.metrika.requests.filter((r) => r.path.endsWith('/offline_conversions/upload'))).toEqual([]);

    // the next run says it again (once), still sends nothing
    world.setNow(NOW_UNIX + 600);
    const again = await world.run();
    expect(again.told.filter((t) => t.event === 'held')).toHaveLength(1);
    expect(uploadsOf(11, 'conversions')).toEqual([]);

    // the switch on (what "ckym counters edit 11 --yes" does): the next run sends every held conversion, once
    const on = await fetch(`${world.metrika.url}/management/v1/counter/11/offline_conversions/extended_threshold`, {
      method: 'POST',
      headers: { authorization: 'OAuth y0_engine-test-token-0123456789' },
    });
    expect(on.status).toBe(200);
    world.setNow(NOW_UNIX + 1200);
    const sent = await world.run();
    expect(sent.report!.exitCode).toBe(0);
    expect(sent.report!.counters[0]!.conversions.held).toBeNull();
    // the switch just turned on reaches about a day back: older conversions go in a file of their own, with the flag
    expect(uploadsOf(11, 'conversions').map((u) => u.ignoreThreshold)).toEqual([false, true]);
    world.expectExactlyOnce({ from: NOW_UNIX - 7 * DAY, to: NOW_UNIX, now: NOW_UNIX });
  });
});

describe('the linking window (12.2)', () => {
  it('rows dated before the threshold go in a file of their own, sent with the ignore flag; fresh rows never share a file with them', async () => {
    const calls = generateCalls({ count: 400, seed: 12_2, nowUnix: NOW_UNIX, days: 40 });
    world = await engineWorld({ calls, counters: [counter(11, { goal: 'call' }), counter(22, { callType: 'incoming' })], nowIso: NOW });
    const since = NOW_UNIX - 40 * DAY;
    const { report } = await world.run({ since });
    expect(report!.exitCode).toBe(0);
    // the emulator's threshold is 21 days back (2024-04-29 in Moscow); ckym reads the date as its start at UTC-12
    const threshold = Date.parse('2024-04-29T12:00:00Z') / 1000;
    for (const id of [11, 22]) {
      for (const kind of ['calls', 'conversions'] as const) {
        const ups = uploadsOf(id, kind);
        if (id === 22 && kind === 'conversions') {
          expect(ups).toEqual([]);
          continue;
        }
        expect(ups.map((u) => u.ignoreThreshold)).toEqual([false, true]);
        const [fresh, old] = ups;
        expect(fresh!.rows.every((r) => Number(r.DateTime) >= threshold)).toBe(true);
        expect(old!.rows.every((r) => Number(r.DateTime) < threshold)).toBe(true);
        expect(old!.rows.length).toBeGreaterThan(0);
      }
    }
    world.expectExactlyOnce({ from: since, to: NOW_UNIX });
    // the run's batches, filled as pages came, are split when sealed: the old parts come after them
    const batches = connectionOf(world.store).prepare(`SELECT counter_id || '/' || kind || ' ' || segment || ' ' || status FROM batches ORDER BY id`).pluck().all();
    expect(batches).toEqual([
      '11/call fresh sent',
      '11/conversion fresh sent',
      '22/call fresh sent',
      '11/call old sent',
      '11/conversion old sent',
      '22/call old sent',
    ]);
  });
});

describe('identifiers (12.8): ClientId, else the Direct click id in the landing URL', () => {
  const calls = [
    aCall('a-clientid', '2024-05-19 10:00:00', { entryPointQuery: 'https://shop.example/?yclid=5111111111111111111' }),
    aCall('b-yclid', '2024-05-19 11:00:00', { yaClid: '', entryPointQuery: 'https://shop.example/?utm_source=yandex&yclid=5222222222222222222&utm_medium=cpc' }),
    aCall('c-none', '2024-05-19 12:00:00', { yaClid: '', entryPointQuery: 'https://shop.example/?utm_source=google' }),
    aCall('d-bad-yclid', '2024-05-19 13:00:00', { yaClid: '', entryPointQuery: 'https://shop.example/?yclid=abc' }),
  ];

  it('a call without a ClientID but with a yclid goes, call and conversion, in a Yclid file (client_id_type=YCLID); one without either is a static call', async () => {
    world = await engineWorld({ calls, counters: [counter(11, { goal: 'call' })], nowIso: NOW });
    const { report } = await world.run();
    expect(report!.exitCode).toBe(0);
    const byType = (kind: 'calls' | 'conversions') => uploadsOf(11, kind).map((u) => [u.clientIdType, u.header[0], u.rows.map((r) => r.ClientId ?? r.Yclid)]);
    expect(byType('calls')).toEqual([
      ['CLIENT_ID', 'ClientId', ['1716000000123456789', '', '']],
      ['YCLID', 'Yclid', ['5222222222222222222']],
    ]);
    expect(uploadsOf(11, 'calls')[1]!.rows[0]).toMatchObject({ StaticCall: '0', DateTime: String(Date.parse('2024-05-19T08:00:00Z') / 1000) });
    expect(byType('conversions')).toEqual([
      ['CLIENT_ID', 'ClientId', ['1716000000123456789']],
      ['YCLID', 'Yclid', ['5222222222222222222']],
    ]);
    // the two calls without any identifier: static, and no conversion
    expect(report!.counters[0]!.calls.sent).toBe(4);
    expect(report!.counters[0]!.conversions.sent).toBe(2);
    expect(world.states(11, 'conversion')).toMatchObject({ sent: 2, skipped: 2 });
    world.expectExactlyOnce();
  });

  it('identifiers ["clientId"]: no Yclid file, the yclid call goes as a static call and has no conversion', async () => {
    world = await engineWorld({ calls, counters: [counter(11, { goal: 'call', identifiers: ['clientId'] })], nowIso: NOW });
    await world.run();
    expect(uploadsOf(11).map((u) => [u.kind, u.clientIdType, u.rows.length])).toEqual([
      ['calls', 'CLIENT_ID', 4],
      ['conversions', 'CLIENT_ID', 1],
    ]);
    world.expectExactlyOnce();
  });
});

describe('rows checked before they are batched (12.3)', () => {
  it('a call dated 1970, one outside the window asked for, one with a ClientID that is no number: kept aside as malformed, counted; the others go', async () => {
    const calls = generateCalls({ count: 80, seed: 12_3, nowUnix: NOW_UNIX, days: 5 });
    world = await engineWorld({ calls, counters: [counter(11, { goal: 'call' })], nowIso: NOW });
    const stray = [
      aCall('stray-1970', '1970-01-01 03:00:00'),
      aCall('stray-old', '2024-03-01 10:00:00'), // CallKeeper answered outside the window asked for
      aCall('stray-clientid', '2024-05-19 10:00:00', { yaClid: '17160000abc' }),
    ];
    const { report } = await world.run({ strayCalls: stray });
    expect(report!.exitCode).toBe(0);
    expect(report!.counters[0]!.malformed).toEqual({ 'datetime-before-2000': 1, 'datetime-outside-window': 1, 'client-id-malformed': 1 });
    const reasons = connectionOf(world.store)
      .prepare(`SELECT call_id, kind, state, reason FROM deliveries WHERE call_id LIKE 'stray-%' ORDER BY call_id, kind`)
      .all();
    expect(reasons).toEqual([
      { call_id: 'stray-1970', kind: 'call', state: 'malformed', reason: 'datetime-before-2000' },
      { call_id: 'stray-1970', kind: 'conversion', state: 'malformed', reason: 'datetime-before-2000' },
      { call_id: 'stray-clientid', kind: 'call', state: 'malformed', reason: 'client-id-malformed' },
      { call_id: 'stray-clientid', kind: 'conversion', state: 'malformed', reason: 'client-id-malformed' },
      { call_id: 'stray-old', kind: 'call', state: 'malformed', reason: 'datetime-outside-window' },
      { call_id: 'stray-old', kind: 'conversion', state: 'malformed', reason: 'datetime-outside-window' },
    ]);
    const sent = world.metrika.rows(11, 'calls');
    expect(sent.some((r) => r.ClientId === '17160000abc' || Number(r.DateTime) < NOW_UNIX - 7 * DAY)).toBe(false);
    // the good calls all went, in one file each
    world.expectExactlyOnce();
    expect(uploadsOf(11).length).toBe(2);
  });
});

describe('refusals (12.2, 12.4): only the bad rows are kept aside', () => {
  const small = () => generateCalls({ count: 60, seed: 12_4, nowUnix: NOW_UNIX, days: 5 });

  it('a refusal naming no row: the file is bisected, each half a new batch with its own comment; nothing lost, nothing twice', async () => {
    world = await engineWorld({ calls: small(), counters: [counter(11)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', status: 400, message: 'Некорректное значение в колонке PhoneNumber', times: 1 });
    const { report, told } = await world.run();
    expect(report!.exitCode).toBe(0);
    const rows = world.metrika.rows(11, 'calls').length;
    expect(world.batches().map((b) => b.split(' ').slice(2).join(' '))).toEqual([`void ${rows}`, `sent ${Math.ceil(rows / 2)}`, `sent ${Math.floor(rows / 2)}`]);
    expect(told).toEqual([
      { event: 'refused', detail: { counterId: 11, kind: 'call', batchId: 1, rows, split: true, reason: 'Metrica refused the calls for counter 11: invalid_uploading: Некорректное значение в колонке PhoneNumber' } },
    ]);
    const comments = world.metrika.uploads.map((u) => u.comment);
    expect(comments).toEqual([expect.stringMatching(/^ckym[0-9a-f]{12}b2t\d+$/), expect.stringMatching(/^ckym[0-9a-f]{12}b3t\d+$/)]);
    const split = connectionOf(world.store).prepare(`SELECT split_from FROM batches ORDER BY id`).pluck().all();
    expect(split).toEqual([null, 1, 1]);
    // the refused file says why it is void (what `stats` shows of it)
    expect(world.store.batch(1)!.error).toBe('Metrica refused the calls for counter 11: invalid_uploading: Некорректное значение в колонке PhoneNumber (split into 2 files)');
    world.expectExactlyOnce();
  });

  it('a file too big (413): split in halves until it fits', async () => {
    world = await engineWorld({ calls: small(), counters: [counter(11)], nowIso: NOW, metrika: { maxUploadBytes: 3000 } });
    const { report } = await world.run();
    expect(report!.exitCode).toBe(0);
    expect(world.metrika.uploads.length).toBeGreaterThan(1);
    expect(world.batches().some((b) => / void /.test(b))).toBe(true);
    world.expectExactlyOnce();
  });

  it('a refusal of the request itself (the comment): splitting cannot help — the file is kept aside whole after one upload', async () => {
    world = await engineWorld({ calls: small(), counters: [counter(11)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', status: 400, errorType: 'invalid_parameter', message: 'Комментарий содержит недопустимые символы.', times: 1 });
    const { report } = await world.run();
    expect(uploadRequests()).toBe(1);
    expect(report!.exitCode).toBe(5);
    expect(world.batches()).toEqual([expect.stringMatching(/^1 11\/call rejected \d+$/)]);
    expect(report!.counters[0]!.calls.failed).toBe(world.states(11).failed);
  });

  it(`a refusal no split cures stops after ${MAX_REFUSALS} refused files: the rest is kept aside for --retry-failed, not sent forever`, async () => {
    world = await engineWorld({ calls: generateCalls({ count: 400, seed: 12_5, nowUnix: NOW_UNIX, days: 5 }), counters: [counter(11)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', status: 400, message: 'Некорректное значение в колонке Tag', times: 10_000 });
    const { report } = await world.run();
    expect(report!.exitCode).toBe(5);
    expect(uploadRequests()).toBe(MAX_REFUSALS);
    expect(world.metrika.uploads).toEqual([]);
    const failed = world.states(11).failed!;
    expect(failed).toBe(report!.counters[0]!.calls.failed);
    expect(world.states(11).pending).toBeUndefined();
    // the files never sent once the cap was reached say why they are kept aside, and what sends them
    const capped = connectionOf(world.store).prepare(`SELECT DISTINCT error FROM batches WHERE status = 'rejected' AND attempts = 0`).pluck().all();
    expect(capped).toEqual([`not sent: Metrica refused ${MAX_REFUSALS} files of these rows in this run; kept aside until "ckym sync --retry-failed"`]);
    // nothing is retried by itself on the next run
    const again = await world.run();
    expect(uploadRequests()).toBe(MAX_REFUSALS);
    expect(again.report!.exitCode).toBe(0);
  });
});

describe('the daily quota (audit: the emulator now holds 5000 requests a day per user)', () => {
  it('used up mid-run: exit 4 naming the quota, the rows wait; after 00:00 UTC the next run delivers each row once', async () => {
    // A normal first run here makes 6 requests (2 lists, 2 thresholds, 2 uploads): with 5 a day, the conversions' upload is refused.
    world = await engineWorld({ calls: generateCalls({ count: 60, seed: 12_9, nowUnix: NOW_UNIX, days: 2 }), counters: [counter(11, { goal: 'calltracking_call_order' })], nowIso: NOW, metrika: { requestsPerDay: 5 } });
    const first = await world.run();
    expect(first.report!.exitCode).toBe(4);
    expect(first.report!.counters[0]!.error?.message).toMatch(/^Metrica unavailable for the conversions for counter 11: HTTP 429 .*Quota exceeded.*; the rows wait for the next run$/);
    expect(world.metrika.rows(11, 'calls').length).toBeGreaterThan(0);
    expect(world.metrika.rows(11, 'conversions')).toEqual([]);
    world.setNow(NOW_UNIX + 15 * 3600 + 300); // 00:05 UTC the next day: a new day's quota
    const next = await world.run();
    expect(next.report!.exitCode).toBe(0);
    expect(world.metrika.rows(11, 'conversions').length).toBeGreaterThan(0);
    world.expectExactlyOnce();
  });
});

describe('status codes of an upload (12.4)', () => {
  const calls = () => generateCalls({ count: 40, seed: 12_6, nowUnix: NOW_UNIX, days: 3 });

  it.each([404, 408, 500, 502, 503, 504] as const)('%i after the file went out: the outcome is unknown — the list is asked, the batch found there is sent, never twice', async (status) => {
    world = await engineWorld({ calls: calls(), counters: [counter(11)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', answerAfterAccept: status });
    const { report } = await world.run();
    expect(report!.exitCode).toBe(0);
    expect(world.metrika.uploads).toHaveLength(1);
    expect(world.batches()).toEqual([expect.stringMatching(/^1 11\/call sent/)]);
    world.expectExactlyOnce();
  });

  it('503 before anything was taken: unknown too — not in the list, the batch waits (sending) for the grace period, then goes once', async () => {
    world = await engineWorld({ calls: calls(), counters: [counter(11)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', status: 503 });
    const first = await world.run({ grace: 10 });
    expect(first.report!.exitCode).toBe(4);
    expect(first.report!.counters[0]!.error!.message).toMatch(/got no answer \(HTTP 503 .*\) and is not in Metrica's list yet/);
    expect(world.batches()).toEqual([expect.stringMatching(/^1 11\/call sending/)]);
    world.setNow(NOW_UNIX + 11 * 60);
    const later = await world.run({ grace: 10 });
    expect(later.report!.reconciled.map((r) => r.result)).toEqual(['resend']);
    expect(world.metrika.uploads).toHaveLength(1);
    world.expectExactlyOnce({ from: NOW_UNIX - 7 * DAY, to: NOW_UNIX + 11 * 60 });
  });

  it.each([420, 429] as const)('%i is the quota: waited out (Retry-After) and sent', async (status) => {
    world = await engineWorld({ calls: calls(), counters: [counter(11)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', status, retryAfter: 7 });
    const { report, retries } = await world.run();
    expect(report!.exitCode).toBe(0);
    expect(retries.map((r) => r.delayMs)).toEqual([7000]);
    expect(world.metrika.uploads).toHaveLength(1);
    world.expectExactlyOnce();
  });
});

describe('lines Metrica did not keep (12.7)', () => {
  it('an upload whose line_quantity is below the rows sent is told (and counted), not taken for a failure', async () => {
    world = await engineWorld({ calls: generateCalls({ count: 40, seed: 12_7, nowUnix: NOW_UNIX, days: 3 }), counters: [counter(11)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', dropLines: 2 });
    const { report, told } = await world.run();
    expect(report!.exitCode).toBe(0);
    const sent = report!.counters[0]!.calls.sent;
    expect(report!.counters[0]!.calls.dropped).toBe(2);
    expect(told).toEqual([{ event: 'dropped', detail: { counterId: 11, kind: 'call', batchId: 1, rows: sent, kept: sent - 2 } }]);
  });
});

describe('comments of batches sent before (12.5)', () => {
  it('a batch left sending with the old comment form is still found in the list by it, and recorded as sent', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-legacy-'));
    const store = Store.open(path.join(dir, 'ckym.db'));
    const legacy = `ckym batch ${store.installationId()}-1`;
    // a batch an older ckym left sending, with its old comment
    const db = connectionOf(store);
    db.prepare(`INSERT INTO runs (id, pid, started_at, outcome) VALUES (1, 1, 0, 'failed')`).run();
    db.prepare(
      `INSERT INTO batches (id, run_id, counter_id, kind, comment, header, rows, status, attempts, attempt_at, created_at) VALUES (1, 1, 11, 'call', ?, '["ClientId","DateTime"]', 1, 'sending', 1, 0, 0)`,
    ).run(legacy);
    const asked: string[] = [];
    const server = http.createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ uploadings: [{ id: 77, comment: legacy, status: 'PROCESSED' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const metrika = new MetrikaClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, token: 't', policy: DEFAULT_POLICY });
      const uploader = new MetricaUploader({ store, metrika, clock: systemClock, confirmGraceMinutes: 10 });
      expect(await uploader.reconcile(store.batch(1)!)).toBe('sent');
      expect(store.batch(1)).toMatchObject({ status: 'sent', uploadingId: 77, comment: legacy });
      expect(asked).toEqual(['/management/v1/counter/11/offline_conversions/calls_uploadings?limit=100&offset=0']);
    } finally {
      server.close();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('what an upload is told, and what ckym says of it', () => {
  const two = [aCall('a', '2024-05-19 10:00:00'), aCall('b', '2024-05-19 11:00:00')];

  it('call linking off: the calls still go (only conversions are held), Metrica refuses them as too early — void, pending, the fix named; the other counter delivers (exit 5)', async () => {
    world = await engineWorld({ calls: two, counters: [counter(11), counter(22)], nowIso: NOW, seed: (c) => (c.id === 11 ? { callsLinking: false } : {}) });
    const { report, told } = await world.run();
    expect(report).toMatchObject({ outcome: 'partial', exitCode: 5 });
    const [c11, c22] = report!.counters;
    expect(c11!.calls.held).toBeNull();
    expect(c11!.error!.message).toBe(
      `Metrica rejected the calls for counter 11: invalid_uploading: ${UPLOAD_TOO_EARLY_MESSAGE} (Metrica's call linking is off or still warming up: run "ckym counters edit 11 --yes" to turn it on; the rows wait for a later run)`,
    );
    expect(told.filter((t) => t.event === 'held')).toEqual([]);
    expect(world.batches()).toEqual(['1 11/call void 2', '2 22/call sent 2']);
    expect(world.states(11)).toEqual({ pending: 2 });
    expect(c22!.calls.sent).toBe(2);
  });

  it('Metrica says when conversion uploads open (a threshold still ahead): the held message gives the date', async () => {
    world = await engineWorld({ calls: two.slice(0, 1), counters: [counter(11, { goal: 'call' })], nowIso: NOW });
    proxy = await startFaultProxy(world.metrika.url, describeMetrika);
    proxy.rule({ match: (r) => r.path.endsWith('/11/offline_conversions/visit_join_threshold'), action: { type: 'respond', status: 200, body: '{"date":"2024-05-23"}' } });
    const { report } = await world.run({ metrikaUrl: proxy.url });
    expect(report!.exitCode).toBe(0);
    expect(report!.counters[0]!.conversions.held).toEqual({
      rows: 1,
      message: `1 conversion for counter 11 held: Metrica's conversion linking is off (Metrica says uploads open on 2024-05-23); run "ckym counters edit 11 --yes" to turn it on — they are sent once it is`,
    });
    expect(world.states(11, 'conversion')).toEqual({ pending: 1 });
  });

  it('a refusal with no error type names the HTTP status instead — a refused row and a too-early alike', async () => {
    world = await engineWorld({ calls: two.slice(0, 1), counters: [counter(11), counter(22)], nowIso: NOW });
    world.metrika.inject({ on: 'upload', status: 400, errorType: '', message: 'Неверный формат данных', times: 1, counterId: 11 });
    world.metrika.inject({ on: 'upload', status: 400, errorType: '', message: UPLOAD_TOO_EARLY_MESSAGE, times: 1, counterId: 22 });
    const { report } = await world.run();
    const [c11, c22] = report!.counters;
    expect(c11!.calls.refusal).toBe('Metrica refused the calls for counter 11: HTTP 400: Неверный формат данных');
    expect(c22!.error!.message).toMatch(/^Metrica rejected the calls for counter 22: HTTP 400: Загрузить данные сейчас невозможно\. .* \(Metrica's call linking is off/);
    expect(report).toMatchObject({ outcome: 'partial', exitCode: 5 });
  });

  it('a redirect instead of an answer: not followed (the token would go along) — the batch is void, its rows wait, the message says so; the next run sends them', async () => {
    world = await engineWorld({ calls: two, counters: [counter(11)], nowIso: NOW });
    proxy = await startFaultProxy(world.metrika.url, describeMetrika);
    proxy.rule({ match: (r) => Boolean(r.info.upload), action: { type: 'respond', status: 307, body: '', headers: { location: 'https://elsewhere.example/upload' } } });
    const { report } = await world.run({ metrikaUrl: proxy.url });
    expect(report).toMatchObject({ outcome: 'failed', exitCode: 4 });
    expect(report!.counters[0]!.error!.message).toBe(
      `Metrica unavailable for the calls for counter 11: ${new URL(proxy.url).host} answered HTTP 307 (a redirect to elsewhere.example); ckym follows no redirect, so that the token goes to no other host — check CKYM_METRIKA_URL; the rows wait for the next run`,
    );
    expect(world.batches()).toEqual(['1 11/call void 2']);
    expect(world.states(11)).toEqual({ pending: 2 });
    expect(world.metrika.uploads).toEqual([]);
    expect((await world.run()).report!.exitCode).toBe(0);
    world.expectExactlyOnce();
  });
});
