/**
 * A lost database, end to end (issue 13.4): the built binary, a brand-new CKYM_HOME (or the damaged database moved
 * aside) after a good sync, against the loopback emulators. The run stops (exit 2) saying when the last upload was;
 * `--adopt` goes on with nothing twice; `--since` goes where the user says; a known counter's run asks no list.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { duplicates, makeWorld, type World } from '../support/harness.js';
import { counter, seedsFor } from '../support/reliability.js';

const NOW = '2024-05-20T09:00:00Z'; // 12:00 in Moscow
const NOW_UNIX = Date.parse(NOW) / 1000;
const HOUR = 3600;
const CALLS = generateCalls({ count: 400, seed: 9001, nowUnix: NOW_UNIX, days: 6 });
const counters = [counter(11, { name: 'all calls, goal', goal: 'call' }), counter(22, { name: 'incoming', callType: 'incoming' })];
const config = {
  sync: { initialDays: 7, lookbackHours: 24, settleMinutes: 10, confirmGraceMinutes: 0 },
  network: { retries: 2, backoffSeconds: 0.01, maxRetryAfterSeconds: 2, timeoutSeconds: 5 },
  counters,
};
const KINDS = [
  [11, 'calls'],
  [11, 'conversions'],
  [22, 'calls'],
] as const;
/** "Y-m-d H:i:s" in Moscow (UTC+3 all year). */
const moscow = (unix: number): string => new Date((unix + 3 * HOUR) * 1000).toISOString().replace('T', ' ').slice(0, 19);

/** A final call-tracking call with a ClientID at `unix`: both counters take it. */
const arrival = (id: string, unix: number) => ({
  universalId: id,
  serviceType: 'calltracking',
  status: 'success',
  statusFirst: 200,
  statusSecond: 200,
  duration: 42,
  clientNumber: '79770001234',
  callTime: moscow(unix),
  site: 'shop.example',
  yaClid: '1716000000777',
  unique: true,
  tags: [],
});

let world: World;
let nowMs = NOW_UNIX * 1000;
afterEach(async () => {
  await world?.close();
});

async function start(): Promise<void> {
  nowMs = NOW_UNIX * 1000;
  world = await makeWorld({ calls: CALLS, counters: seedsFor(counters), config, nowIso: NOW, now: () => nowMs });
}
/** `ckym …` at `unix` (ckym's clock and the emulators'), with CKYM_HOME at `state` under the world's home. */
function ckymAt(unix: number, args: string[], state = 'state') {
  nowMs = unix * 1000;
  return world.run(args, { CKYM_NOW: new Date(nowMs).toISOString(), CKYM_HOME: path.join(world.home, state) });
}
const rowsNow = () => Object.fromEntries(KINDS.map(([c, k]) => [`${c}/${k}`, world.metrika.rows(c, k)]));
const duplicateRows = () => KINDS.reduce((n, [c, k]) => n + duplicates(world.metrika.rows(c, k)).length, 0);
const listRequests = () => world.metrika.requests.filter((r) => /uploadings$/.test(r.path)).length;
const newest = (rows: Record<string, string>[]) => Math.max(...rows.map((r) => Number(r.DateTime)));

describe('a lost database', { timeout: 120_000 }, () => {
  it('a brand-new CKYM_HOME after a good sync: exit 2 saying when the last upload was (also --json, a dry run); --adopt: 0 duplicate rows, the newer call once', async () => {
    await start();
    const first = await ckymAt(NOW_UNIX, ['sync']);
    expect(first.code, first.stderr).toBe(0);
    const before = rowsNow();
    const uploads = world.metrika.uploads.length;
    const point = newest([...before['11/calls']!, ...before['11/conversions']!]);
    // a call after the loss
    world.callkeeper.setCalls([...CALLS, arrival('after-the-loss', NOW_UNIX + 30 * 60)]);

    const stop = await ckymAt(NOW_UNIX + HOUR, ['sync'], 'new-home');
    expect(stop.code).toBe(2);
    expect(stop.stdout).toBe('');
    const lines = stop.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ckym: counter 11 \(all calls, goal\) has no history in this database, but Metrica already holds 2 uploads by ckym to it \(installation [0-9a-f]{12}\): the last on 2024-05-20 12:00 \(Europe\/Moscow\), holding calls up to 2024-05-20 11:\d\d \(Europe\/Moscow\)$/,
    );
    expect(lines[1]).toMatch(/^ckym: counter 22 \(incoming\) has no history in this database, but Metrica already holds 1 upload by ckym to it/);
    expect(lines[2]).toBe('ckym: a new (or lost) database would send those calls again, so nothing was fetched or sent. Go on with one of:');
    const since = new Date((Math.floor(point / 60) * 60 + 60 + 3 * HOUR) * 1000).toISOString().slice(0, 16);
    expect(lines.slice(3)).toEqual([
      expect.stringMatching(/^ {2}ckym sync --adopt {19}# calls up to then are taken as sent \(Metrica has them\): nothing goes twice$/),
      `  ckym sync --since ${since}  # or start where you choose (here: just after the last call they hold)`,
    ]);
    expect(world.metrika.uploads.length).toBe(uploads);

    const json = await ckymAt(NOW_UNIX + HOUR, ['sync', '--json'], 'new-home');
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({
      version: 1,
      command: 'sync',
      exitCode: 2,
      outcome: 'stopped',
      error: { kind: 'usage', reason: 'uploads-in-metrica', message: expect.stringMatching(/^counter 11 .*: run "ckym sync --adopt", or "ckym sync --since /) },
      counters: [
        { id: 11, uploads: 2, lastUpload: '2024-05-20T09:00:00Z', newestCall: new Date(point * 1000).toISOString().replace('.000Z', 'Z') },
        { id: 22, uploads: 1, lastUpload: '2024-05-20T09:00:00Z' },
      ],
      next: [{ flag: '--adopt', command: 'ckym sync --adopt' }, { flag: '--since', command: `ckym sync --since ${since}` }],
    });

    // a dry run says the same (it reads the lists with the token at hand), and with --adopt previews what would go
    const dry = await ckymAt(NOW_UNIX + HOUR, ['sync', '--dry-run'], 'new-home');
    expect(dry.code).toBe(2);
    expect(dry.stderr).toBe(stop.stderr);
    const preview = await ckymAt(NOW_UNIX + HOUR, ['sync', '--dry-run', '--adopt'], 'new-home');
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain('+79770001234');
    expect(world.metrika.uploads.length).toBe(uploads);
    // …and changed nothing: the real run still stops
    expect((await ckymAt(NOW_UNIX + HOUR, ['sync', '--quiet'], 'new-home')).code).toBe(2);

    const adopt = await ckymAt(NOW_UNIX + HOUR, ['sync', '--adopt'], 'new-home');
    expect(adopt.code, adopt.stderr).toBe(0);
    expect(adopt.stderr).toMatch(/^counter 11 \(all calls, goal\): --adopt: Metrica holds 2 uploads by ckym to it; calls up to 2024-05-20 11:\d\d \(Europe\/Moscow\) and conversions up to .* are taken as sent and never sent again$/m);
    expect(duplicateRows()).toBe(0);
    const after = rowsNow();
    for (const key of Object.keys(before)) expect(after[key]!.slice(0, before[key]!.length), key).toEqual(before[key]);
    // the call after the loss went once to each counter and kind
    for (const key of Object.keys(after)) expect(after[key]!.filter((r) => r.ClientId === '1716000000777'), key).toHaveLength(1);
    const stats = await ckymAt(NOW_UNIX + HOUR, ['stats', '--json'], 'new-home');
    expect(JSON.stringify(JSON.parse(stats.stdout))).toMatch(/"adopted":\d+/);

    // from now on the counters are known: the next run asks Metrica for no list
    const listed = listRequests();
    const next = await ckymAt(NOW_UNIX + 2 * HOUR, ['sync'], 'new-home');
    expect(next.code, next.stderr).toBe(0);
    expect(listRequests()).toBe(listed);
    expect(duplicateRows()).toBe(0);
  });

  it('the damaged database moved aside: the new one stops the same way; --since after the last call goes on, nothing twice; --since before it is warned about', async () => {
    await start();
    expect((await ckymAt(NOW_UNIX, ['sync'])).code).toBe(0);
    const database = path.join(world.home, 'state', 'ckym.db');
    fs.truncateSync(database, 0);
    for (const f of ['-wal', '-shm']) fs.rmSync(`${database}${f}`, { force: true });
    const damaged = await ckymAt(NOW_UNIX + HOUR, ['sync']);
    expect(damaged.code).toBe(2);
    expect(damaged.stderr).toMatch(/is empty \(0 bytes\).*Move it aside/);
    // the user does what it says
    fs.renameSync(database, `${database}.damaged`);
    world.callkeeper.setCalls([...CALLS, arrival('after-the-loss', NOW_UNIX + 30 * 60)]);
    const stop = await ckymAt(NOW_UNIX + HOUR, ['sync']);
    expect(stop.code).toBe(2);
    const since = /ckym sync --since (\S+)/.exec(stop.stderr)![1]!;

    const go = await ckymAt(NOW_UNIX + HOUR, ['sync', '--since', since]);
    expect(go.code, go.stderr).toBe(0);
    expect(go.stderr).not.toMatch(/sent again/);
    expect(duplicateRows()).toBe(0);
    expect(world.metrika.rows(22, 'calls').filter((r) => r.PhoneNumber === '+79770001234')).toHaveLength(1);

    // lost again, and --since a day back: the user's choice, said plainly
    fs.renameSync(database, `${database}.second`);
    for (const f of ['-wal', '-shm']) fs.rmSync(`${database}${f}`, { force: true });
    const early = await ckymAt(NOW_UNIX + 2 * HOUR, ['sync', '--since', '2024-05-19']);
    expect(early.code, early.stderr).toBe(0);
    expect(early.stderr).toMatch(
      /^ckym: warning: counter 22 \(incoming\): --since 2024-05-19 00:00 \(Europe\/Moscow\) starts before the last call ckym's earlier uploads to it hold \(2024-05-20 12:30 \(Europe\/Moscow\)\): calls between the two that were uploaded then are sent again \(--adopt would not\)$/m,
    );
  });
});
