/**
 * A new or lost database (issue 13.4): Metrica's uploadings lists are a second record of what ckym sent. A counter
 * this database knows nothing of, whose uploads by ckym are in Metrica, stops the run before anything (exit 2) —
 * until `--adopt` (go on after the newest call those uploads hold) or `--since` (the user chose the start).
 * In process, against the emulators: the engine's first step, what it reads, and what reaches Metrica.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { LIST_PAGE, UploadsInMetrica, checkPriorUploads, type UploadingsList } from '../../src/engine/adopt.js';
import { connectionOf } from '../../src/store/store.js';
import { freePort, duplicates } from '../support/harness.js';
import { counter, engineWorld, type EngineWorld } from './world.js';

const NOW = '2024-05-20T09:00:00Z'; // 12:00 in Moscow
const NOW_UNIX = Date.parse(NOW) / 1000;
const HOUR = 3600;
const CALLS = generateCalls({ count: 300, seed: 1105, nowUnix: NOW_UNIX, days: 6 });
const COUNTERS = [counter(11, { goal: 'call', callGoalName: 'Звонок' }), counter(22, { callType: 'incoming', price: 250, currency: 'RUB' })];

let world: EngineWorld;
afterEach(async () => {
  await world?.close();
});
const fresh = async (o: Partial<Parameters<typeof engineWorld>[0]> = {}) =>
  (world = await engineWorld({ calls: CALLS, counters: COUNTERS, nowIso: NOW, ...o }));

/** A final call-tracking call with a ClientID, `minutes` after NOW (Moscow wall time), taken by both counters. */
const newCall = (id: string, minutes: number) => ({
  universalId: id,
  serviceType: 'calltracking',
  status: 'success',
  statusFirst: 200,
  statusSecond: 200,
  clientNumber: `7999${String(minutes).padStart(7, '0')}`,
  callTime: new Date((NOW_UNIX + 3 * HOUR + minutes * 60) * 1000).toISOString().slice(0, 19).replace('T', ' '),
  duration: 30,
  yaClid: `17160000${String(minutes).padStart(5, '0')}`,
  unique: true,
  target: true,
  uniqueTarget: true,
  site: 'shop.example',
});

const newestOf = (rows: Record<string, string>[]) => Math.max(...rows.map((r) => Number(r.DateTime)));
const listRequests = () => world.metrika.requests.filter((r) => /uploadings$/.test(r.path)).map((r) => r.path.replace(/^.*counter\//, ''));
const kinds = [
  [11, 'calls'],
  [11, 'conversions'],
  [22, 'calls'],
] as const;
/** Every row Metrica holds, by counter and kind. */
const held = () => Object.fromEntries(kinds.map(([c, k]) => [`${c}/${k}`, world.metrika.rows(c, k)]));

describe('a counter this database knows nothing of, whose uploads by ckym are in Metrica', () => {
  it('stops the whole run before anything (exit 2): when the last upload was and the newest call it holds; nothing fetched, recorded or sent', async () => {
    await fresh();
    const first = await world.run();
    expect(first.report!.exitCode).toBe(0);
    const installation = world.store.installationId();
    const before = held();
    const fetches = world.callkeeper.requests.length;
    // the database is lost (a new CKYM_HOME); an hour later, the cron job runs
    world.loseDatabase();
    world.setNow(NOW_UNIX + HOUR);
    const stop = await world.run().catch((e: unknown) => e);
    expect(stop).toBeInstanceOf(UploadsInMetrica);
    const { found, exitCode, message } = stop as UploadsInMetrica;
    expect(exitCode).toBe(2);
    expect(found.map((f) => [f.counterId, f.prior.uploads, f.prior.lastUpload, f.prior.newestCall, f.prior.installations])).toEqual([
      [11, 2, NOW_UNIX, Math.max(newestOf(before['11/calls']!), newestOf(before['11/conversions']!)), [installation]],
      [22, 1, NOW_UNIX, newestOf(before['22/calls']!), [installation]],
    ]);
    expect(found[0]!.byKind.call!.newestCall).toBe(newestOf(before['11/calls']!));
    expect(found[0]!.byKind.conversion!.newestCall).toBe(newestOf(before['11/conversions']!));
    expect(message).toMatch(/^counter 11 has no history in this database, but Metrica holds ckym's uploads to it \(calls up to 2024-05-20T08:\d\d:\d\dZ\); counter 22 .*: nothing was sent; run "ckym sync --adopt" to go on after them, or "ckym sync --since DATE"/);
    // the lists of each kind the counters deliver, one page each; then nothing else
    expect(listRequests().slice(-3)).toEqual(['11/offline_conversions/calls_uploadings', '11/offline_conversions/uploadings', '22/offline_conversions/calls_uploadings']);
    expect(world.callkeeper.requests.length).toBe(fetches);
    expect(held()).toEqual(before);
    // the stop changed nothing: no run recorded, the counters still unknown (the next run stops the same way)
    expect(world.store.recentRuns(5)).toEqual([]);
    expect([world.store.hasHistory(11), world.store.hasHistory(22)]).toEqual([false, false]);
    await expect(world.run()).rejects.toBeInstanceOf(UploadsInMetrica);
    expect(held()).toEqual(before);
  });

  it('--adopt: nothing is sent twice, a call newer than the adopted point is sent once; older calls are skipped as `adopted`; later runs ask Metrica nothing', async () => {
    await fresh();
    expect((await world.run()).report!.exitCode).toBe(0);
    const before = held();
    const points = { call11: newestOf(before['11/calls']!), conv11: newestOf(before['11/conversions']!), call22: newestOf(before['22/calls']!) };
    world.loseDatabase();
    // time goes on; two calls come in after the loss
    world.setNow(NOW_UNIX + 4 * HOUR);
    const later = [newCall('after-1', 10), newCall('after-2', 40)];
    world.callkeeper.setCalls([...CALLS, ...later]);

    const { report, told } = await world.run({ adopt: true });
    expect(report!.exitCode).toBe(0);
    expect(report!.adopted.map((a) => [a.counterId, a.floors, a.cursor])).toEqual([
      [11, { call: points.call11, conversion: points.conv11 }, Math.max(points.call11, points.conv11)],
      [22, { call: points.call22 }, points.call22],
    ]);
    expect(told.filter((t) => t.event === 'adopted').map((t) => t.detail.counterId)).toEqual([11, 22]);
    // the window: the adopted cursor minus the look-back, not initialDays back
    expect(report!.window.from).toBe(Math.max(points.call11, points.conv11) - 24 * HOUR);

    // nothing twice, anywhere; what was there is still there, and the new calls went once each
    const after = held();
    for (const [key, rows] of Object.entries(after)) {
      expect(duplicates(rows), key).toEqual([]);
      expect(rows.slice(0, before[key]!.length), key).toEqual(before[key]);
    }
    const added = (key: string) => after[key]!.slice(before[key]!.length);
    const newTimes = later.map((c) => String(Date.parse(`${c.callTime.replace(' ', 'T')}+03:00`) / 1000));
    for (const key of ['11/calls', '11/conversions', '22/calls']) {
      expect(added(key).map((r) => r.DateTime).filter((t) => newTimes.includes(t!)).sort(), key).toEqual(newTimes.sort());
    }
    // whatever else went out is newer than the point of its kind (calls that were still waiting when the database was lost)
    for (const r of added('11/calls')) expect(Number(r.DateTime)).toBeGreaterThan(points.call11);
    for (const r of added('11/conversions')) expect(Number(r.DateTime)).toBeGreaterThan(points.conv11);
    for (const r of added('22/calls')) expect(Number(r.DateTime)).toBeGreaterThan(points.call22);
    // the calls of the look-back at or before the point are recorded skipped, reason `adopted` (stats shows them)
    const adopted = report!.counters.map((c) => c.skipped.adopted ?? 0);
    expect(adopted[0]).toBeGreaterThan(5);
    expect(adopted[1]).toBeGreaterThan(0);
    const stored = connectionOf(world.store)
      .prepare(`SELECT COUNT(*) FROM delivery_view WHERE counter_id = 11 AND kind = 'call' AND reason = 'adopted' AND call_time <= ?`)
      .pluck()
      .get(points.call11);
    expect(stored).toBe(adopted[0]);

    // from now on the counters are known: a run with nothing new asks Metrica nothing, and the point still holds
    const requests = world.metrika.requests.length;
    world.setNow(NOW_UNIX + 5 * HOUR);
    const again = await world.run({ adopt: true });
    expect(again.report!.adopted).toEqual([]);
    expect(world.metrika.requests.length).toBe(requests);
    expect(held()).toEqual(after);
    // the point holds in every run: the look-back's calls before it are never sent — fetched again unchanged, they
    // are not decided again (issue 14.2's fingerprint, which folds the adopted points in); otherwise `adopted` again
    expect((again.report!.counters[0]!.skipped.adopted ?? 0) + again.report!.unchanged).toBeGreaterThan(5);
  });

  it('--since: the user chose the start, the run goes on; told when it starts before the newest call held (those calls go twice: the user asked)', async () => {
    await fresh();
    expect((await world.run()).report!.exitCode).toBe(0);
    const before = held();
    world.loseDatabase();
    world.setNow(NOW_UNIX + HOUR);
    const after = newestOf(before['11/calls']!) + 60;
    const since = await world.run({ since: after });
    expect(since.report!.exitCode).toBe(0);
    expect(since.told.filter((t) => t.event === 'prior-uploads').map((t) => [t.detail.counterId, t.detail.since])).toEqual([
      [11, after],
      [22, after],
    ]);
    for (const [key, rows] of Object.entries(held())) expect(duplicates(rows), key).toEqual([]);

    // another loss, and --since a day back: the overlap is the user's choice, and it is what they get
    world.loseDatabase();
    world.setNow(NOW_UNIX + 2 * HOUR);
    const early = await world.run({ since: NOW_UNIX - 24 * HOUR });
    expect(early.report!.exitCode).toBe(0);
    expect(early.told.filter((t) => t.event === 'prior-uploads')).toHaveLength(2);
    expect(duplicates(world.metrika.rows(11, 'calls')).length).toBeGreaterThan(0);
  });

  it('one lost counter among known ones stops the run for every counter; --adopt then sends the known counter its rows and the lost one only what is newer', async () => {
    const installation = '0a1b2c3d4e5f';
    const lostUpTo = NOW_UNIX - 2 * HOUR;
    await fresh({
      seed: (c) => (c.id === 22 ? { uploadings: [{ kind: 'calls', comment: `ckym${installation}b7t${lostUpTo}`, createTime: lostUpTo + 600, lines: 40 }] } : {}),
    });
    // counter 11 is known to this database (its cursor: fetched up to a day ago); 22 was sent to by a database now lost
    world.store.setCursors([11], NOW_UNIX - 24 * HOUR);
    const stop = (await world.run().catch((e: unknown) => e)) as UploadsInMetrica;
    expect(stop).toBeInstanceOf(UploadsInMetrica);
    expect(stop.found.map((f) => [f.counterId, f.prior.newestCall, f.prior.lastUpload, f.prior.installations])).toEqual([
      [22, lostUpTo, lostUpTo + 600, [installation]],
    ]);
    // 11, known, was not even asked about; nothing went out for either
    expect(listRequests()).toEqual(['22/offline_conversions/calls_uploadings']);
    expect(world.metrika.uploads).toEqual([]);

    const { report } = await world.run({ adopt: true });
    expect(report!.exitCode).toBe(0);
    expect(report!.adopted.map((a) => [a.counterId, a.floors])).toEqual([[22, { call: lostUpTo }]]);
    expect(world.metrika.rows(11, 'calls').length).toBeGreaterThan(0);
    const sent22 = world.metrika.rows(22, 'calls');
    expect(sent22.length).toBeGreaterThan(0);
    for (const r of sent22) expect(Number(r.DateTime)).toBeGreaterThan(lostUpTo);
  });

  it("uploads of the old comment form count too: their upload time stands for their newest call; another tool's uploads do not", async () => {
    const oldForm = 'ckym batch 0a1b2c3d4e5f-12';
    const uploadedAt = NOW_UNIX - 3 * HOUR;
    await fresh({
      seed: (c) =>
        c.id === 11
          ? { uploadings: [{ kind: 'calls', comment: oldForm, createTime: uploadedAt }, { kind: 'calls', comment: 'crm export 5', createTime: NOW_UNIX - HOUR }] }
          : { uploadings: [{ kind: 'calls', comment: 'callkeeper 2024 05 19', createTime: NOW_UNIX - HOUR }] },
    });
    const stop = (await world.run().catch((e: unknown) => e)) as UploadsInMetrica;
    expect(stop).toBeInstanceOf(UploadsInMetrica);
    // 22's only upload is not ckym's; 11's old-form one is, and its upload time is the point
    expect(stop.found.map((f) => [f.counterId, f.prior.uploads, f.prior.legacy, f.prior.newestCall, f.prior.lastUpload])).toEqual([
      [11, 1, 1, uploadedAt, uploadedAt],
    ]);
    const { report } = await world.run({ adopt: true });
    expect(report!.adopted.map((a) => [a.counterId, a.floors])).toEqual([[11, { call: uploadedAt }]]);
    for (const r of world.metrika.rows(11, 'calls')) expect(Number(r.DateTime)).toBeGreaterThan(uploadedAt);
    // no conversions upload of ckym's in the list: none was sent, so the conversions of the window all go
    expect(Math.min(...world.metrika.rows(11, 'conversions').map((r) => Number(r.DateTime)))).toBeLessThan(uploadedAt);
    // 22 had no upload by ckym: a new counter, its initialDays sent as always
    expect(Math.min(...world.metrika.rows(22, 'calls').map((r) => Number(r.DateTime)))).toBeLessThan(NOW_UNIX - 5 * 86_400);
  });

  it('a first run ever (Metrica holds nothing of ckym) reads the lists once and goes on; the lists unreadable: the run stops (exit 4) before anything', async () => {
    await fresh();
    const port = await freePort();
    const down = await world.run({ metrikaUrl: `http://127.0.0.1:${port}`, policy: { retries: 1, backoffMs: 10 } }).catch((e: unknown) => e);
    expect((down as Error).message).toMatch(/^Metrica unavailable while reading the upload list of counter 11: network error ECONNREFUSED/);
    expect((down as { exitCode: number }).exitCode).toBe(4);
    expect(world.callkeeper.requests).toEqual([]);
    expect(world.store.recentRuns(5)).toEqual([]);

    const { report } = await world.run();
    expect(report!.exitCode).toBe(0);
    expect(report!.adopted).toEqual([]);
    expect(listRequests()).toEqual(['11/offline_conversions/calls_uploadings', '11/offline_conversions/uploadings', '22/offline_conversions/calls_uploadings']);
    world.expectExactlyOnce();
  });

  it('a dry run without a Yandex token cannot read the lists: it says so (told) and previews as before', async () => {
    await fresh();
    const { report, told, dry } = await world.run({ dryRun: true, noUploadingsList: true });
    expect(report!.exitCode).toBe(0);
    expect(told.filter((t) => t.event === 'prior-unchecked').map((t) => t.detail)).toEqual([{ counterIds: [11, 22] }]);
    expect(world.metrika.requests).toEqual([]);
    expect(dry!.batches.length).toBe(3);

    // once the database knows the counters, there is nothing to check and nothing to say
    expect((await world.run()).report!.exitCode).toBe(0);
    world.setNow(NOW_UNIX + HOUR);
    const known = await world.run({ dryRun: true, noUploadingsList: true });
    expect(known.report!.exitCode).toBe(0);
    expect(known.told.filter((t) => t.event === 'prior-unchecked')).toEqual([]);
  });
});

describe('reading the lists (what Metrica may give that the emulator never does)', () => {
  /** Metrica's list as pages of `page(offset)`; the offsets asked, in order. */
  const listOf = (page: (offset: number) => Record<string, unknown>[]): UploadingsList & { offsets: number[] } => {
    const offsets: number[] = [];
    return {
      offsets,
      listUploadings: async (_counterId, _kind, offset, limit) => {
        offsets.push(offset);
        expect(limit).toBe(LIST_PAGE);
        return page(offset);
      },
    };
  };
  const check = (uploadings: UploadingsList, adopt: boolean) =>
    checkPriorUploads({ store: world.store, counters: [counter(11)], uploadings, clock: { now: () => NOW_UNIX * 1000 } }, { adopt });

  it('full pages are read on, page by page, until a short one', async () => {
    await fresh();
    // uploads whose time Metrica does not give: a full page of them tells nothing of older ones
    const list = listOf((offset) =>
      Array.from({ length: offset >= 0 && offset < 2 * LIST_PAGE ? LIST_PAGE : 7 }, (_, i) => ({ comment: `ckym0a1b2c3d4e5fb${offset + i + 1}t${NOW_UNIX - 86_400 - offset - i}` })),
    );
    const [adopted] = await check(list, true);
    expect(list.offsets).toEqual([0, LIST_PAGE, 2 * LIST_PAGE]);
    expect(adopted!.prior.uploads).toBe(2 * LIST_PAGE + 7);
    expect(adopted!.floors).toEqual({ call: NOW_UNIX - 86_400 });
  });

  it('an old-form upload without a time: its newest call cannot be told — the stop says so, and --adopt goes on from now', async () => {
    await fresh();
    const undated = () => listOf(() => [{ comment: 'ckym batch 0a1b2c3d4e5f-12' }]);
    const stop = (await check(undated(), false).catch((e: unknown) => e)) as UploadsInMetrica;
    expect(stop).toBeInstanceOf(UploadsInMetrica);
    expect(stop.message).toMatch(/^counter 11 has no history in this database, but Metrica holds ckym's uploads to it \(calls up to an unknown time\): nothing was sent/);
    const [adopted] = await check(undated(), true);
    expect(adopted).toMatchObject({ floors: { call: NOW_UNIX }, cursor: NOW_UNIX });
    expect(world.store.cursor(11)).toBe(NOW_UNIX);
  });
});
