/**
 * `ckym stats`: its text and JSON shapes from a built report, and the command in-process against a temp CKYM_HOME.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { buildStats, type StatsInput } from '../../src/domain/stats.js';
import { plainPaint } from '../../src/cli/render.js';
import { Store, connectionOf } from '../../src/store/store.js';
import { statsText } from '../../src/commands/stats/text.js';
import { localTime, zonedTime } from '../../src/cli/time.js';
import { statsDocument } from '../../src/commands/stats/document.js';
import { refreshUploadings } from '../../src/commands/stats/refresh.js';
import { MetrikaError } from '../../src/errors.js';
import { AuthError, RemoteError } from '../../src/errors.js';
import { argv, memoryIO } from './io.js';

const NOW_MS = Date.parse('2024-05-20T09:00:00Z');
const days = [
  { date: '2024-05-19', start: 1_716_066_000, end: 1_716_152_400 },
  { date: '2024-05-20', start: 1_716_152_400, end: 1_716_238_800 },
];

const input: StatsInput = {
  deliveries: [
    { counterId: 7, kind: 'call', state: 'sent', reason: null, count: 12 },
    { counterId: 7, kind: 'call', state: 'skipped', reason: 'min-duration', count: 5 },
    { counterId: 7, kind: 'call', state: 'failed', reason: 'rejected', count: 3 },
    { counterId: 7, kind: 'conversion', state: 'sent', reason: null, count: 4 },
    { counterId: 7, kind: 'conversion', state: 'skipped', reason: 'no-client-id', count: 8 },
  ],
  lateSent: [{ counterId: 7, kind: 'call', count: 2 }],
  goals: [{ counterId: 7, goal: 'call', count: 4 }],
  days: [
    { day: 0, counterId: 7, kind: 'call', state: 'sent', count: 4 },
    { day: 1, counterId: 7, kind: 'call', state: 'sent', count: 8 },
  ],
  batches: [
    {
      id: 2,
      runId: 1,
      counterId: 7,
      kind: 'call',
      idType: 'clientId',
      segment: 'fresh',
      splitFrom: null,
      rows: 8,
      status: 'sent',
      createdAt: 1_716_195_600,
      sentAt: 1_716_195_600,
      uploadingId: 1_000_002,
      metrikaStatus: 'LINKAGE_FAILURE',
      uploading: { id: 1_000_002, status: 'LINKAGE_FAILURE', source_quantity: 8, line_quantity: 6, static_calls_quantity: 2, dynamic_calls_quantity: 4 },
      error: null,
    },
    {
      id: 1,
      runId: 1,
      counterId: 7,
      kind: 'call',
      idType: 'clientId',
      segment: 'fresh',
      splitFrom: null,
      rows: 3,
      status: 'rejected',
      createdAt: 1_716_190_000,
      sentAt: null,
      uploadingId: null,
      metrikaStatus: null,
      uploading: null,
      error: 'Metrica rejected the calls for counter 7: invalid_uploading: Неверный формат файла',
    },
  ],
  runs: [
    { id: 1, pid: 4, startedAt: NOW_MS, finishedAt: NOW_MS + 1200, outcome: 'partial', exitCode: 5, pages: 1, fetched: 20, sentCalls: 12, sentConversions: 4, skipped: 5, waiting: 0, error: 'counter 7: rejected' },
  ],
  counterIdsWithData: [7],
};
const report = buildStats(input, {
  configured: [{ id: 7, name: 'shop.example', enabled: true, goal: 'call' }],
  days,
  nowMs: NOW_MS,
  timeZone: 'Europe/Moscow',
  since: null,
});

describe('stats text', () => {
  const text = statsText(report, { paint: plainPaint, style: 'ascii', refresh: null }).join('\n');

  it('per counter: sent, late, per goal, skipped by reason, failed', () => {
    expect(text).toMatch(/^7  shop\.example\n  calls sent {8}12  2 older than 21 days at upload: in the call reports, not linked to visits$/m);
    expect(text).toMatch(/^ {2}conversions sent {3}4  call 4 · 8 taken calls had no ClientID$/m);
    expect(text).toMatch(/^ {2}skipped\s+5  min-duration 5$/m);
    expect(text).toMatch(/^ {2}failed\s+3  kept aside: Metrica refused them \(see the uploads below\) — fix the cause, then "ckym sync --retry-failed"$/m);
  });

  it('calls decided as they stood after sync.maxWaitHours: a line of their own, only when there are some', () => {
    expect(text).not.toMatch(/waited out/);
    const waited = buildStats(
      { ...input, waitedOut: [{ counterId: 7, kind: 'call', waited: 'scheduled', count: 2 }, { counterId: 7, kind: 'call', waited: 'in-progress', count: 3 }] },
      { configured: [{ id: 7, name: 'shop.example', enabled: true, goal: 'call' }], days, nowMs: NOW_MS, timeZone: 'Europe/Moscow', since: null },
    );
    expect(statsText(waited, { paint: plainPaint, style: 'ascii', refresh: null }).join('\n')).toMatch(
      /^ {2}waited out\s+5  decided as they stood after sync\.maxWaitHours · in-progress 3 · scheduled 2$/m,
    );
  });

  it('per day with a total and ascii bars', () => {
    expect(text).toMatch(/^ {2}2024-05-19 {6}4 {5}0 {8}0 {8}0  ############$/m);
    expect(text).toMatch(/^ {2}2024-05-20 {6}8 {5}0 {8}0 {8}0  ########################$/m);
    expect(text).toMatch(/^ {2}total {10}12 {5}0 {8}0 {8}0$/m);
  });

  it('uploads: LINKAGE_FAILURE, dropped lines and the rejected batch stand out', () => {
    // sent 8, Metrica kept 6 (its line_quantity)
    expect(text).toMatch(/^ {6}2  2024-05-20 12:00  7 {8}calls {5}8  sent {6}1000002 {4}LINKAGE_FAILURE ✗   6 !  2\/4$/m);
    expect(text.split('\n')).toContain('  batch  created           counter  kind   sent  status    uploading  Metrica            kept  static/dyn  error');
    expect(text).toMatch(/^ {6}1  2024-05-20 10:26  7\s+calls\s+3  rejected\s+Metrica rejected the calls for counter 7: invalid_up[^ ]*…$/m);
    expect(text).toMatch(/^ {2}! batch 2 \(counter 7\): Metrica could not link these calls \(LINKAGE_FAILURE\)$/m);
    expect(text).toMatch(/^ {2}! batch 2 \(counter 7\): Metrica kept fewer lines than it was sent \(it drops rows it cannot use without a word\)$/m);
    expect(text).toMatch(/^ {2}! batch 1 \(counter 7\): Metrica refused the file; its rows are kept aside until "ckym sync --retry-failed"$/m);
  });

  it('runs with their duration and outcome', () => {
    expect(text).toMatch(/^ {2}2024-05-20 12:00 {2}1\.2 s {7}20 {5}12 {5}4 {8}5 {2}partial {2}counter 7: rejected$/m);
  });

  it('unicode bars when colour is on', () => {
    const colourful = statsText(report, { paint: plainPaint, style: 'unicode', refresh: null }).join('\n');
    expect(colourful).toMatch(/████████████\n/);
    expect(colourful).toMatch(/──────────/);
  });

  it('a refresh summary', () => {
    const t = statsText(report, {
      paint: plainPaint,
      style: 'ascii',
      refresh: { checked: 3, changed: [{ batchId: 2, from: 'UPLOADED', to: 'LINKAGE_FAILURE' }], errors: [{ batchId: 9, message: 'not found' }], unavailable: null },
    }).join('\n');
    expect(t).toMatch(/^Refreshed: asked Metrica about 3 uploads, 1 changed status, 1 could not be read\n {2}! batch 9: not found$/m);
  });

  it('times: one helper for every command', () => {
    expect(localTime(1_716_195_600_000, 'Europe/Moscow')).toBe('2024-05-20 12:00');
    expect(localTime(1_716_195_600_000, 'UTC')).toBe('2024-05-20 09:00');
    expect(zonedTime(1_716_195_600_000, 'Asia/Yekaterinburg')).toBe('2024-05-20 14:00 (Asia/Yekaterinburg)');
  });
});

describe('stats JSON document', () => {
  it('version 1, ISO times, the report as data', () => {
    const doc = statsDocument({ report, refresh: null, generatedAt: NOW_MS, timeZone: 'Europe/Moscow', since: 1_716_066_000, database: '/x/ckym.db' });
    expect(doc).toMatchObject({
      version: 1,
      command: 'stats',
      generatedAt: '2024-05-20T09:00:00.000Z',
      since: '2024-05-18T21:00:00.000Z',
      synced: true,
      refresh: null,
    });
    expect(doc.counters[0]).toMatchObject({ id: 7, goal: 'call', calls: { sent: 12, sentOlderThan21Days: 2 }, conversions: { sent: 4, byGoal: { call: 4 } } });
    expect(doc.uploads[0]).toMatchObject({ batchId: 2, createdAt: '2024-05-20T09:00:00.000Z', problems: ['linkage-failure', 'lines-dropped'] });
    expect(doc.runs[0]).toMatchObject({ startedAt: '2024-05-20T09:00:00.000Z', durationMs: 1200, outcome: 'partial' });
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('nothing synced: empty lists', () => {
    const doc = statsDocument({ report: null, refresh: null, generatedAt: NOW_MS, timeZone: 'UTC', since: null, database: '/x/ckym.db' });
    expect(doc).toMatchObject({ synced: false, counters: [], days: [], uploads: [], runs: [] });
  });
});

describe('refreshUploadings', () => {
  let dir: string;
  let store: Store;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-refresh-'));
    store = Store.open(path.join(dir, 'ckym.db'));
    const runId = store.startRun(1, 0);
    for (const counterId of [1, 2, 3]) {
      store.recordPage(runId, [{ id: `c${counterId}`, callTime: 100, serviceType: 'callback' }], [
        { counterId, callId: `c${counterId}`, kind: 'call', state: 'pending', reason: null, row: ['', '100'], callTime: 100 },
      ]);
      const b = store.sealBatches(runId, counterId, 'call', 'clientId', ['ClientId', 'DateTime'], null, 1000)[0]!;
      store.markSent(b.id, { id: 500 + counterId, status: 'UPLOADED' }, 2000);
    }
  });
  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('records each answer, notes errors about one upload, goes on', async () => {
    const asked: number[] = [];
    const result = await refreshUploadings({
      store,
      filter: {},
      limit: 20,
      metrika: {
        uploading: async (_counterId, _kind, id) => {
          asked.push(id);
          if (id === 502) throw new MetrikaError('Metrica refused reading uploading 502: HTTP 404 not_found', 404, 'not_found');
          return { id, status: id === 503 ? 'LINKAGE_FAILURE' : 'UPLOADED', line_quantity: 1 };
        },
      },
    });
    expect(asked).toEqual([503, 502, 501]);
    expect(result).toEqual({
      checked: 3,
      changed: [{ batchId: 3, from: 'UPLOADED', to: 'LINKAGE_FAILURE' }],
      errors: [{ batchId: 2, message: 'Metrica refused reading uploading 502: HTTP 404 not_found' }],
      unavailable: null,
    });
    expect(store.batch(3)!.metrikaStatus).toBe('LINKAGE_FAILURE');
  });

  it('stops when Metrica is unavailable; a refused token goes up', async () => {
    const down = await refreshUploadings({
      store,
      filter: { counterIds: [1, 2] },
      limit: 20,
      metrika: {
        uploading: async () => {
          throw new RemoteError('Metrica unavailable while reading …');
        },
      },
    });
    expect(down).toMatchObject({ checked: 0, unavailable: 'Metrica unavailable while reading …' });
    await expect(
      refreshUploadings({
        store,
        filter: {},
        limit: 20,
        metrika: {
          uploading: async () => {
            throw new AuthError('refused');
          },
        },
      }),
    ).rejects.toBeInstanceOf(AuthError);
  });
});

describe('ckym stats (in process)', () => {
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-stats-cmd-'));
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it('no database: the friendly line, exit 0, and no database is created', async () => {
    const io = memoryIO({ CKYM_HOME: home }, home);
    expect(await run(argv('stats'), io)).toBe(0);
    expect(io.out()).toMatch(/^nothing synced yet; run "ckym sync"/);
    expect(fs.readdirSync(home)).toEqual([]);
  });

  it('--refresh without a token: exit 3 before anything else', async () => {
    const io = memoryIO({ CKYM_HOME: home }, home);
    expect(await run(argv('stats', '--refresh'), io)).toBe(3);
    expect(io.err()).toBe('ckym: no Yandex token: run "ckym login" (or set CKYM_YANDEX_TOKEN)\n');
  });

  it('usage errors: exit 2', async () => {
    const a = memoryIO({ CKYM_HOME: home }, home);
    expect(await run(argv('stats', '--counter', 'abc'), a)).toBe(2);
    expect(a.err()).toMatch(/--counter: expected a Metrica counter id/);
    const b = memoryIO({ CKYM_HOME: home, CKYM_NOW: '2024-05-20T09:00:00Z' }, home);
    expect(await run(argv('stats', '--since', '2024-06-01'), b)).toBe(2);
    expect(b.err()).toMatch(/--since: 2024-06-01 is in the future/);
  });

  it('a database from a newer ckym: a clear error', async () => {
    const s = Store.open(path.join(home, 'ckym.db'));
    connectionOf(s).pragma('user_version = 99');
    s.close();
    const io = memoryIO({ CKYM_HOME: home }, home);
    expect(await run(argv('stats'), io)).toBe(1);
    expect(io.err()).toMatch(/written by a newer ckym \(schema 99/);
  });

  it('--help', async () => {
    const io = memoryIO();
    expect(await run(argv('stats', '--help'), io)).toBe(0);
    expect(io.out()).toMatch(/--refresh/);
    expect(io.out()).toMatch(/Exit codes: 0 done/);
  });
});
