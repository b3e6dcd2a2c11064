/**
 * `ckym sync` as people see it: the pure text (one line under cron, aligned lines per counter on a terminal, the
 * progress line), and the command in-process against the emulators with a terminal and without one.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';
import { plainPaint, type Paint } from '../../src/cli/render.js';
import type { CounterReport, SyncReport } from '../../src/engine/types.js';
import {
  adoptedText,
  droppedText,
  priorUploadsText,
  progressText,
  reconciledText,
  refusedText,
  retryText,
  sinceOverlapText,
  summaryLine,
  summaryLines,
  windowText,
} from '../../src/commands/sync/text.js';
import { startCallKeeperEmulator, type CallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import { startMetrikaEmulator, type MetrikaEmulator } from '../../src/sandbox/metrika.js';
import { argv, memoryIO } from './io.js';

const counterReport = (over: Partial<CounterReport> & { id: number }): CounterReport => ({
  name: '',
  calls: { sent: 0, late: 0, dropped: 0, failed: 0, refusal: null, held: null, batchId: null, uploadingId: null },
  conversions: { sent: 0, late: 0, dropped: 0, failed: 0, refusal: null, held: null, batchId: null, uploadingId: null },
  skipped: {},
  waiting: {},
  malformed: {},
  requeued: 0,
  error: null,
  ...over,
});

const report = (counters: CounterReport[], over: Partial<SyncReport> = {}): SyncReport => ({
  runId: 3,
  window: { from: 1_715_590_800, to: 1_716_195_600 },
  rechecked: [],
  unchanged: 0,
  pages: 2,
  fetched: 1214,
  newCalls: 37,
  malformed: 0,
  reconciled: [],
  adopted: [],
  counters,
  outcome: 'ok',
  exitCode: 0,
  ...over,
});

const shop = counterReport({
  id: 12345678,
  name: 'shop.example',
  calls: { sent: 21, late: 0, dropped: 0, failed: 0, refusal: null, held: null, batchId: 5, uploadingId: 900 },
  conversions: { sent: 14, late: 0, dropped: 0, failed: 0, refusal: null, held: null, batchId: 6, uploadingId: 901 },
  skipped: { site: 10, 'min-duration': 6 },
});
const blog = counterReport({
  id: 23456789,
  name: 'blog.example',
  calls: { sent: 4, late: 3, dropped: 0, failed: 0, refusal: null, held: null, batchId: 7, uploadingId: 902 },
  waiting: { settling: 2, scheduled: 1 },
});
const broken = counterReport({ id: 34567890, error: { exitCode: 5, message: 'Metrica rejected the calls for counter 34567890: invalid_uploading: bad (batch 8 is quarantined; see "ckym stats")' } });

/** Paint that shows where colour goes. */
const marks: Paint = {
  ok: (s) => `<ok>${s}</ok>`,
  bad: (s) => `<bad>${s}</bad>`,
  warn: (s) => `<warn>${s}</warn>`,
  dim: (s) => `<dim>${s}</dim>`,
  bold: (s) => `<b>${s}</b>`,
};

describe('the summary under cron: one line, as the README shows it', () => {
  it('keeps its format', () => {
    expect(summaryLine(report([shop]), 2100, false)).toBe(
      'sync: fetched 1214 calls (37 new) in 2 pages · 12345678 shop.example: sent 21 calls, 14 conversions, 16 skipped · 2.1 s',
    );
    expect(summaryLine(report([blog, broken], { pages: 1, malformed: 4 }), 950, true)).toBe(
      'dry run: fetched 1214 calls (37 new) in 1 page · 4 malformed · 23456789 blog.example: would send 4 calls, 3 waiting · 34567890: FAILED · 0.9 s',
    );
  });
});

describe('the summary on a terminal: a headline, then a few aligned lines per counter', () => {
  it('numbers right-aligned in one column, the reasons beside them', () => {
    expect(summaryLines(report([shop, blog, broken], { reconciled: [{ batchId: 1, counterId: 1, kind: 'call', rows: 3, result: 'sent' }] }), { durationMs: 2100, dryRun: false, paint: plainPaint })).toEqual([
      'sync · fetched 1214 calls (37 new) in 2 pages · 1 interrupted batch settled · 2.1 s',
      '',
      '12345678  shop.example',
      '  sent     21  calls',
      '           14  conversions',
      '  skipped  16  site 10 · min-duration 6',
      '',
      '23456789  blog.example',
      '  sent     4  calls',
      '  waiting  3  settling 2 · scheduled 1 — sent once final',
      '  too old  3  3 calls over 21 days old: in the call reports, but not linked to visits',
      '',
      '34567890',
      '  sent    0  calls',
      '  failed     Metrica rejected the calls for counter 34567890: invalid_uploading: bad (batch 8 is quarantined; see "ckym stats")',
    ]);
  });

  it('a dry run says "would send"; no line is longer than it needs to be', () => {
    const lines = summaryLines(report([shop]), { durationMs: 500, dryRun: true, paint: plainPaint });
    expect(lines[0]).toBe('dry run · fetched 1214 calls (37 new) in 2 pages · 500 ms');
    expect(lines[3]).toBe('  would send  21  calls');
    for (const line of lines) expect(line).toBe(line.trimEnd());
  });

  it('colour: sent counts green, waiting and too old yellow, failures red, reasons dim, the counter bold', () => {
    const lines = summaryLines(report([blog, broken]), { durationMs: 100, dryRun: false, paint: marks }).join('\n');
    expect(lines).toContain('<b>23456789  blog.example</b>');
    expect(lines).toContain('<ok>4</ok>');
    expect(lines).toContain('<warn>3</warn>');
    expect(lines).toMatch(/<warn>3 calls over 21 days old/);
    expect(lines).toContain('<bad>failed</bad>');
    expect(lines).toContain('<dim>settling 2 · scheduled 1 — sent once final</dim>');
  });

  it('conversions too old to link are counted with the calls', () => {
    const late = counterReport({ id: 1, calls: { sent: 9, late: 2, dropped: 0, failed: 0, refusal: null, held: null, batchId: 1, uploadingId: 1 }, conversions: { sent: 5, late: 1, dropped: 0, failed: 0, refusal: null, held: null, batchId: 2, uploadingId: 2 } });
    expect(summaryLines(report([late]), { durationMs: 1, dryRun: false, paint: plainPaint })).toContain(
      '  too old  3  2 calls and 1 conversion over 21 days old: in the call reports, but not linked to visits',
    );
  });
});

describe('what needs the user (issue 12): rows kept aside, malformed, held, dropped', () => {
  const kr = (over: Partial<CounterReport['calls']> = {}): CounterReport['calls'] => ({
    sent: 0, late: 0, dropped: 0, failed: 0, refusal: null, held: null, batchId: null, uploadingId: null, ...over,
  });
  const attention = counterReport({
    id: 45678901,
    name: 'help.example',
    calls: kr({ sent: 9, failed: 1, refusal: 'Metrica refused the calls for counter 45678901: invalid_uploading: Неверный формат данных, ошибка в строке номер 2', dropped: 2, batchId: 3 }),
    conversions: kr({ held: { rows: 5, message: 'held' } }),
    malformed: { 'datetime-before-2000': 1, 'client-id-malformed': 2 },
  });

  it('one line under cron names each', () => {
    expect(summaryLine(report([attention]), 100, false)).toBe(
      'sync: fetched 1214 calls (37 new) in 2 pages · 45678901 help.example: sent 9 calls, 3 malformed, 1 refused by Metrica, 2 dropped by Metrica, 5 conversions held · 0.1 s',
    );
  });

  it('a terminal says what each is and what to do', () => {
    expect(summaryLines(report([attention]), { durationMs: 100, dryRun: false, paint: plainPaint }).slice(2)).toEqual([
      '45678901  help.example',
      '  sent       9  calls',
      '  malformed  3  client-id-malformed 2 · datetime-before-2000 1 — rows Metrica would refuse: never sent',
      '  refused    1  1 call kept aside: Metrica refused the calls for counter 45678901: invalid_uploading: Неверный формат данных, ошибка в строке номер 2 — fix the cause, then "ckym sync --retry-failed"',
      '  dropped    2  Metrica kept fewer lines than it was sent — see "ckym stats --refresh"',
      '  held       5  conversions: Metrica\'s conversion linking is off — run "ckym counters edit 45678901 --yes"',
    ]);
  });

  it('the notes told along the way', () => {
    expect(droppedText({ counterId: 7, kind: 'conversion', batchId: 4, rows: 10, kept: 8 })).toBe(
      'Metrica kept 8 of the 10 conversions of batch 4 (counter 7): it dropped 2 without a word; see "ckym stats --refresh"',
    );
    expect(refusedText({ counterId: 7, kind: 'call', batchId: 4, rows: 10, reason: 'Metrica refused …', split: true })).toBe(
      'Metrica refused batch 4 (10 rows of calls of counter 7): sent in parts to find the rows it refuses — Metrica refused …',
    );
    expect(refusedText({ counterId: 7, kind: 'call', batchId: 5, rows: 1, reason: 'Metrica refused …', split: false })).toBe(
      'Metrica refused 1 row of calls of counter 7 (batch 5): kept aside — Metrica refused …',
    );
  });
});

describe('a new or lost database: the stop, --adopt and --since, in the account\'s time zone', () => {
  const T = 1_716_195_600; // 2024-05-20 12:00 in Moscow
  const prior = { uploads: 3, newestCall: T - 620, lastUpload: T, installations: ['3f2a9c0d1e2f'], legacy: 0, undated: 0 };
  const found = { counterId: 12345678, name: 'shop.example', prior, byKind: { call: prior } };

  it('the stop: when the last upload was, the newest call it holds, and both ways on (--since just after it)', () => {
    expect(priorUploadsText([found], 'Europe/Moscow').split('\n')).toEqual([
      'counter 12345678 (shop.example) has no history in this database, but Metrica already holds 3 uploads by ckym to it (installation 3f2a9c0d1e2f): the last on 2024-05-20 12:00 (Europe/Moscow), holding calls up to 2024-05-20 11:49 (Europe/Moscow)',
      'a new (or lost) database would send those calls again, so nothing was fetched or sent. Go on with one of:',
      '  ckym sync --adopt                   # calls up to then are taken as sent (Metrica has them): nothing goes twice',
      '  ckym sync --since 2024-05-20T11:50  # or start where you choose (here: just after the last call they hold)',
    ]);
    // another zone, another wall time; Metrica's times unknown: said so, and --since DATE
    expect(priorUploadsText([found], 'Asia/Yekaterinburg')).toContain('the last on 2024-05-20 14:00 (Asia/Yekaterinburg)');
    const unknown = { ...found, prior: { ...prior, newestCall: null, lastUpload: null } };
    expect(priorUploadsText([unknown], 'Europe/Moscow', 'one line')).toBe(
      'counter 12345678 (shop.example) has no history in this database, but Metrica already holds 3 uploads by ckym to it (installation 3f2a9c0d1e2f): the last on an unknown time, holding calls up to an unknown time; a new (or lost) database would send those calls again, so nothing was fetched or sent: run "ckym sync --adopt", or "ckym sync --since DATE"',
    );
  });

  it('--adopt says what is now taken as sent, per kind when the kinds differ; --since warns only when it overlaps', () => {
    expect(adoptedText({ ...found, floors: { call: T - 620 }, cursor: T - 620 }, 'Europe/Moscow')).toBe(
      'counter 12345678 (shop.example): --adopt: Metrica holds 3 uploads by ckym to it; calls up to 2024-05-20 11:49 (Europe/Moscow) are taken as sent and never sent again',
    );
    expect(adoptedText({ ...found, floors: { call: T - 620, conversion: T - 3600 }, cursor: T - 620 }, 'Europe/Moscow')).toMatch(
      /calls up to 2024-05-20 11:49 \(Europe\/Moscow\) and conversions up to 2024-05-20 11:00 \(Europe\/Moscow\) are taken/,
    );
    expect(sinceOverlapText({ ...found, since: T - 620 + 1 }, 'Europe/Moscow')).toBeNull();
    expect(sinceOverlapText({ ...found, since: T - 86_400 }, 'Europe/Moscow')).toBe(
      "counter 12345678 (shop.example): --since 2024-05-19 12:00 (Europe/Moscow) starts before the last call ckym's earlier uploads to it hold (2024-05-20 11:49 (Europe/Moscow)): calls between the two that were uploaded then are sent again (--adopt would not)",
    );
  });
});

describe('the progress line', () => {
  const window = { from: Date.parse('2024-04-30T21:00:00Z') / 1000, to: Date.parse('2024-05-20T09:00:00Z') / 1000 };
  it('the calls so far and the date reached, in the account\'s time zone', () => {
    expect(progressText({ window, fetched: 2000, reached: null, elapsedMs: 1000, backfill: false, timeZone: 'Europe/Moscow' })).toBe('fetching calls · 2000 calls so far');
    expect(progressText({ window, fetched: 2000, reached: Date.parse('2024-05-10T09:30:00Z') / 1000, elapsedMs: 1000, backfill: false, timeZone: 'Europe/Moscow' })).toBe(
      'fetching calls · 2000 calls so far · reached 2024-05-10 12:30',
    );
  });

  it('on a --since backfill: the percent of the window reached and the time left', () => {
    const half = (window.from + window.to) / 2;
    expect(progressText({ window, fetched: 50_000, reached: half, elapsedMs: 40_000, backfill: true, timeZone: 'UTC' })).toBe(
      'fetching calls · 50000 calls so far · reached 2024-05-10 15:00 · 50% · about 40.0 s left',
    );
    expect(progressText({ window, fetched: 1, reached: window.from, elapsedMs: 100, backfill: true, timeZone: 'UTC' })).toBe(
      'fetching calls · 1 call so far · reached 2024-04-30 21:00 · 0%',
    );
    expect(progressText({ window, fetched: 9, reached: window.to + 60, elapsedMs: 100, backfill: true, timeZone: 'UTC' })).toMatch(/ · 100%$/);
  });

  it('the window, the settled batches and the retries', () => {
    expect(windowText(window, 'Europe/Moscow')).toBe('fetching calls 2024-05-01 00:00 … 2024-05-20 12:00 (Europe/Moscow)');
    expect(reconciledText({ batchId: 4, counterId: 7, kind: 'call', rows: 12, result: 'resend' })).toBe(
      'batch 4 (counter 7) was interrupted before Metrica got it: its 12 rows go out again',
    );
    expect(retryText({ service: 'Metrica', what: 'x', attempt: 2, delayMs: 4000, reason: 'HTTP 503 backend_error' }, 5)).toBe(
      'Metrica: HTTP 503 backend_error — retry 2/5 in 4.0 s',
    );
  });
});

describe('ckym sync in-process: a terminal or cron', () => {
  const KEY = 'k3y9TERM0secret7';
  const TOKEN = 'y0_terminal-test-token-000000';
  const NOW = '2024-05-20T09:00:00Z';
  const nowMs = Date.parse(NOW);
  let home: string;
  let callkeeper: CallKeeperEmulator;
  let metrika: MetrikaEmulator;
  /** A call `daysAgo` days before NOW, at 10:00 Moscow. */
  const call = (id: string, daysAgo: number) => ({
    universalId: id,
    serviceType: 'calltracking',
    status: 'success',
    statusFirst: 200,
    statusSecond: 200,
    clientNumber: '79991234567',
    callTime: new Date(nowMs - daysAgo * 86_400_000 + 3 * 3600_000).toISOString().slice(0, 10) + ' 10:00:00',
    duration: 30,
    yaClid: '1716000000123',
  });

  beforeAll(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-sync-cmd-'));
    callkeeper = await startCallKeeperEmulator({ apiKey: KEY, now: () => nowMs, calls: [call('old-1', 25), call('old-2', 24), call('new-1', 2), call('new-2', 1)] });
    metrika = await startMetrikaEmulator({ token: TOKEN, now: () => nowMs, counters: [{ id: 777, name: 'shop', site: 'shop.example', permission: 'edit' }] });
    fs.writeFileSync(path.join(home, 'ckym.config.json'), JSON.stringify({ counters: [{ id: 777, name: 'shop.example' }] }));
  });
  afterAll(async () => {
    await Promise.all([callkeeper.close(), metrika.close()]);
    fs.rmSync(home, { recursive: true, force: true });
  });

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    CKYM_HOME: path.join(home, 'state'),
    CKYM_CALLKEEPER_KEY: KEY,
    CKYM_YANDEX_TOKEN: TOKEN,
    CKYM_CALLKEEPER_URL: callkeeper.url,
    CKYM_METRIKA_URL: metrika.url,
    CKYM_NOW: NOW,
    ...extra,
  });
  const terminal = (extra: NodeJS.ProcessEnv = {}) => {
    const io = memoryIO(env(extra), home);
    Object.assign(io.stdout, { isTTY: true });
    Object.assign(io.stderr, { isTTY: true });
    return io;
  };
  const ESC = '\u001b[';

  it('under cron (no terminal): one summary line, no progress, no colour', async () => {
    const io = memoryIO(env({ FORCE_COLOR: '' }), home);
    expect(await run(argv('--config', path.join(home, 'ckym.config.json'), 'sync', '--dry-run'), io)).toBe(0);
    expect(io.err()).toMatch(/^dry run: fetched 2 calls \(2 new\) in 1 page · 777 shop\.example: would send 2 calls · \d+\.\d s\n$/);
    expect(io.err()).not.toContain(ESC);
  });

  it('on a terminal: progress, then aligned lines; calls over 21 days old are named; colour unless NO_COLOR or --no-color', async () => {
    const since = ['--since', '2024-04-20'];
    const colour = terminal();
    expect(await run(argv('--config', path.join(home, 'ckym.config.json'), 'sync', ...since), colour)).toBe(0);
    const err = colour.err();
    expect(err).toMatch(/fetching calls 2024-04-20 00:00 … 2024-05-20 12:00 \(Europe\/Moscow\)/);
    expect(err).toMatch(/fetching calls · 4 calls so far · reached 2024-05-19 10:00 · 96% /);
    const out = colour.out();
    expect(out).toContain(ESC);
    const plain = out.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^sync · fetched 4 calls \(4 new\) in 1 page · \d+ ms\n\n777  shop\.example\n  sent     4  calls\n  too old  2  2 calls over 21 days old: in the call reports, but not linked to visits\n$/);
    expect(metrika.rows(777, 'calls')).toHaveLength(4);

    for (const io of [terminal({ NO_COLOR: '1' }), terminal()]) {
      const args = io.env.NO_COLOR ? argv('--config', path.join(home, 'ckym.config.json'), 'sync') : argv('--no-color', '--config', path.join(home, 'ckym.config.json'), 'sync');
      expect(await run(args, io)).toBe(0);
      expect(io.out()).not.toContain(ESC);
      expect(io.out()).toMatch(/^sync · fetched 0 calls \(0 new\) in 0 pages · \d+ ms\n\n777  shop\.example\n  sent  0  calls\n$/);
    }
  });

  it('--json: the calls too old to link are in the document', async () => {
    const io = memoryIO(env({ CKYM_HOME: path.join(home, 'another-state') }), home);
    expect(await run(argv('--config', path.join(home, 'ckym.config.json'), 'sync', '--json', '--dry-run', '--since', '2024-04-20'), io)).toBe(0);
    const doc = JSON.parse(io.out()) as { dryRun: boolean; counters: { calls: { sent: number; late: number } }[] };
    expect(doc.dryRun).toBe(true);
    expect(doc.counters[0]!.calls).toMatchObject({ sent: 4, late: 2 });
  });
});
