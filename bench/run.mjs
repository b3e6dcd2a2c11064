/**
 * ckym's benchmark (`npm run bench`; not part of `npm test`). Everything is measured against the built
 * bin/ckym.js, spawned the way cron spawns it, against the sandbox emulators running in another process.
 * Timings are compared as ratios inside one run, and every figure is a median of repeated runs.
 *
 *   node bench/run.mjs [--calls 100000] [--big 1000000] [--days 365] [--reps 5] [--big-reps 1]
 *                      [--startup-reps 21] [--noop-reps 11] [--stats-reps 7] [--stuck-calls 100000]
 *                      [--seed 1] [--out results.json] [--ckym other-tree/bin/ckym.js]
 *
 * Every flag also reads BENCH_<NAME> from the environment (BENCH_BIG=0 skips the million-call part).
 * Needs /usr/bin/time (Debian package `time`) for peak RSS and CPU time; without it RSS is polled from /proc.
 * BENCHMARKS.md says what each figure means and holds the results.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { BENCH_API_KEY, BENCH_NOW, BENCH_TOKEN, backfillWindow, benchConfig } from './world.mjs';
import { requireBanner, startCosts } from '../scripts/start-costs.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let BIN = path.join(ROOT, 'bin', 'ckym.js');
const NODE = process.execPath;
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

const flag = (name, fallback) => ({ type: 'string', default: process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? fallback });
const { values } = parseArgs({
  options: {
    calls: flag('calls', '100000'),
    big: flag('big', '1000000'),
    days: flag('days', '365'),
    reps: flag('reps', '5'),
    'big-reps': flag('big-reps', '1'),
    'startup-reps': flag('startup-reps', '21'),
    'noop-reps': flag('noop-reps', '11'),
    'stats-reps': flag('stats-reps', '7'),
    'stuck-calls': flag('stuck-calls', '100000'),
    seed: flag('seed', '1'),
    out: flag('out', ''),
    ckym: flag('ckym', ''),
  },
});
// `--ckym PATH`: measure another build's bin/ckym.js (a "before" tree), against the same emulators.
if (values.ckym) BIN = path.resolve(values.ckym);
const opt = {
  calls: Number(values.calls),
  big: Number(values.big),
  days: Number(values.days),
  reps: Number(values.reps),
  bigReps: Number(values['big-reps']),
  startupReps: Number(values['startup-reps']),
  noopReps: Number(values['noop-reps']),
  statsReps: Number(values['stats-reps']),
  stuckCalls: Number(values['stuck-calls']),
  seed: Number(values.seed),
};

const nowUnix = Math.floor(Date.parse(BENCH_NOW) / 1000);
const sinceUnix = backfillWindow(nowUnix, opt.days).from;
const sinceIso = new Date(sinceUnix * 1000).toISOString();

const log = (text) => process.stderr.write(`bench: ${text}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 0) => Number(x.toFixed(d));

// ── spawning and measuring ────────────────────────────────────────────────

/** Runs a command to the end: wall ms (spawn to exit), peak RSS (KB), exit code, output. */
function measure(command, args, { env = process.env, cwd = ROOT, rss = false } = {}) {
  return new Promise((resolve, reject) => {
    let rssFile = null;
    let argv = [command, ...args];
    if (rss && TIME) {
      rssFile = path.join(os.tmpdir(), `ckym-bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
      argv = [TIME, '-f', '%M %U %S', '-o', rssFile, ...argv];
    }
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let polledKb = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const poll = rss && !TIME ? setInterval(() => (polledKb = Math.max(polledKb, vmHwm(child.pid))), 10) : null;
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (poll) clearInterval(poll);
      let rssKb = polledKb || null;
      let cpuMs = null;
      if (rssFile) {
        const [kb, user, sys] = fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
        rssKb = kb;
        cpuMs = (user + sys) * 1000;
        fs.rmSync(rssFile, { force: true });
      }
      resolve({ ms, rssKb, cpuMs, code, stdout, stderr });
    });
  });
}

function vmHwm(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function must(result, what) {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n${result.stderr}\n${result.stdout}`.slice(0, 4000));
  return result;
}

// ── the emulators' process ────────────────────────────────────────────────

async function startWorld(calls, { stuck = 0 } = {}) {
  const child = spawn(
    NODE,
    // A million calls held twice (the emulator's copy, the front's) plus Metrica's parsed uploads: more than V8's default heap.
    ['--max-old-space-size=16384', '--expose-gc', path.join(ROOT, 'bench', 'emulators.mjs'), '--calls', String(calls), '--days', String(opt.days), '--seed', String(opt.seed), '--now', BENCH_NOW, '--stuck', String(stuck)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the emulators exited (${code}) before they were ready`)));
  });
  const world = JSON.parse(first);
  world.stop = () =>
    new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  // The reset frees what the last run left in the emulators (a million-call backfill's uploads: gigabytes). V8 goes on
  // releasing and compacting that on both cores for a while after the answer; a run measured then pays for it (the
  // million-call no-op read 954 ms against 470 ms measured alone). So every reset waits until the process is quiet.
  world.reset = async () => {
    const body = await fetch(`${world.control}/reset`, { method: 'POST' }).then((r) => r.json());
    const waited = await quiet(child.pid);
    if (waited > 1000) log(`the emulators were busy for ${waited} ms after the reset; measuring once they were quiet`);
    return body;
  };
  world.cpuMs = () => cpuTicks(child.pid) * TICK_MS;
  world.counts = () => fetch(`${world.control}/counts`).then((r) => r.json());
  return world;
}

function ckymEnv(world, home) {
  return {
    PATH: process.env.PATH,
    HOME: home,
    CKYM_HOME: path.join(home, 'state'),
    CKYM_CALLKEEPER_KEY: BENCH_API_KEY,
    CKYM_YANDEX_TOKEN: BENCH_TOKEN,
    CKYM_CALLKEEPER_URL: world.callkeeper,
    CKYM_METRIKA_URL: world.metrika,
    CKYM_NOW: BENCH_NOW,
    NO_COLOR: '1',
  };
}

function freshHome() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-bench-'));
  fs.writeFileSync(path.join(home, 'ckym.config.json'), JSON.stringify(benchConfig(), null, 2));
  return home;
}

async function runSync(world, home, extra = [], { nodeArgs = [], env = {} } = {}) {
  const result = await measure(NODE, [...nodeArgs, BIN, '--config', path.join(home, 'ckym.config.json'), 'sync', '--json', ...extra], {
    env: { ...ckymEnv(world, home), ...env },
    cwd: home,
    rss: true,
  });
  must(result, `ckym sync ${extra.join(' ')}`);
  return { ...result, report: JSON.parse(result.stdout) };
}

function runFloor(world) {
  return measure(NODE, [path.join(ROOT, 'bench', 'floor.mjs'), world.callkeeper, BENCH_API_KEY, String(sinceUnix), String(nowUnix)], { rss: true }).then(
    (r) => ({ ...must(r, 'floor'), report: JSON.parse(r.stdout) }),
  );
}

/** bench/noop-floor.mjs, bundled as ckym is (the same plugin) into dist/bench/, beside dist/bundle. */
const NOOP_FLOOR = path.join(ROOT, 'dist', 'bench', 'noop-floor.mjs');
async function buildNoopFloor() {
  await build({
    entryPoints: [path.join(ROOT, 'bench', 'noop-floor.mjs')],
    outfile: NOOP_FLOOR,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    plugins: [startCosts],
    external: ['better-sqlite3'],
    banner: { js: requireBanner },
    logLevel: 'warning',
  });
}

/** The no-op's floor (bench/noop-floor.mjs) over the window and database a no-op just used, with got or Node's http. */
function runNoopFloor(world, home, report, client) {
  const unix = (iso) => String(Math.floor(Date.parse(iso) / 1000));
  const args = [NOOP_FLOOR, path.join(home, 'state', 'ckym.db'), world.callkeeper, BENCH_API_KEY, unix(report.window.from), unix(report.window.to), benchConfig().callkeeper.timezone, client];
  return measure(NODE, args).then((r) => ({ ...must(r, `no-op floor (${client})`), report: JSON.parse(r.stdout) }));
}

/**
 * The HTTP requests of one run, against what the run needed: its pages; per (counter, kind) with rows, one read of its
 * linking switch and one upload per file — ClientId and Yclid, fresh and (before the linking threshold) old: 1 to 4.
 */
function requestCheck(counts, report) {
  const pages = report.fetched.pages;
  const expectedCallKeeper = pages + (pages > 0 && report.fetched.calls % 1000 !== 0 ? 0 : 1);
  const pairs = report.counters.flatMap((c) => [c.calls.sent > 0, c.conversions.sent > 0]).filter(Boolean).length;
  const metrikaUploads = counts.metrika.filter((r) => r.method === 'POST' && /\/upload(_calls)?$/.test(r.path)).length;
  const metrikaReads = counts.metrika.filter((r) => r.method === 'GET' && /visit_join_threshold$/.test(r.path)).length;
  // A first run (a fresh CKYM_HOME) reads each configured (counter, kind)'s uploadings list once, newest first, to
  // stop before sending again what a lost database sent (sync --adopt); a run with history reads none.
  const listReads = counts.metrika.filter((r) => r.method === 'GET' && /\/(calls_)?uploadings(\?|$)/.test(r.path)).length;
  const firstRun = report.runId === 1;
  const configuredPairs = benchConfig().counters.reduce((n, c) => n + 1 + (c.goal ? 1 : 0), 0);
  return {
    pages,
    callkeeperRequests: counts.callkeeper.length,
    expectedCallkeeperRequests: expectedCallKeeper,
    metrikaRequests: counts.metrika.length,
    metrikaUploads,
    metrikaReads,
    listReads,
    expectedListReads: firstRun ? configuredPairs : 0,
    expectedUploads: pairs,
    ok:
      counts.callkeeper.length === expectedCallKeeper &&
      metrikaReads === pairs &&
      metrikaUploads >= pairs &&
      metrikaUploads <= 4 * pairs &&
      listReads === (firstRun ? configuredPairs : 0) &&
      counts.metrika.length === metrikaReads + metrikaUploads + listReads,
  };
}

// ── the parts ─────────────────────────────────────────────────────────────

async function startup() {
  const cases = {
    'node -e 0': ['-e', '0'],
    'ckym --version': [BIN, '--version'],
    'ckym --help': [BIN, '--help'],
  };
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < opt.startupReps; i++) {
    for (const [name, args] of Object.entries(cases)) times[name].push(must(await measure(NODE, args), name).ms);
  }
  const base = median(times['node -e 0']);
  const out = {};
  for (const [name, xs] of Object.entries(times)) out[name] = { medianMs: round(median(xs), 1), ratio: round(median(xs) / base, 2) };
  return out;
}

const TICK_MS = 10; // Linux's USER_HZ: /proc/<pid>/stat counts CPU time in hundredths of a second

/** CPU time (user + system, in ticks) a process has used so far; 0 when /proc is not there. */
function cpuTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the whole line)
  } catch {
    return 0;
  }
}

/** Waits (at most 20 s) until `pid` used under a tenth of a core over 200 ms. */
async function quiet(pid) {
  const started = Date.now();
  let before = cpuTicks(pid);
  while (Date.now() - started < 20_000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = cpuTicks(pid);
    if (now - before <= 2) return Date.now() - started;
    before = now;
  }
  return Date.now() - started;
}

async function backfill(calls, reps, label) {
  log(`${label}: generating ${calls} calls and starting the emulators`);
  const world = await startWorld(calls);
  log(`${label}: emulators ready (generated in ${world.generateMs} ms)`);
  const floor = [];
  const syncs = [];
  let keptHome = null;
  let requests = null;
  try {
    for (let r = 0; r < reps; r++) {
      await world.reset();
      const f = await runFloor(world);
      floor.push(f);
      log(`${label}: floor ${r + 1}/${reps}: ${round(f.ms)} ms, ${f.report.pages} pages, ${f.report.calls} calls, ${round(f.rssKb / 1024)} MB`);

      await world.reset();
      const home = freshHome();
      const s = await runSync(world, home, ['--since', sinceIso]);
      syncs.push(s);
      const counts = await world.counts();
      requests = requestCheck(counts, s.report);
      s.metrikaMs = counts.metrikaServerMs.reduce((a, b) => a + b, 0);
      const sent = s.report.counters.reduce((n, c) => n + c.calls.sent + c.conversions.sent, 0);
      log(
        `${label}: sync ${r + 1}/${reps}: ${round(s.ms)} ms (Metrica emulator ${round(s.metrikaMs)} ms of it; cpu ${round(s.cpuMs)} ms), ` +
          `${s.report.fetched.pages} pages, ${sent} rows sent, ${round(s.rssKb / 1024)} MB, requests ${requests.ok ? 'ok' : 'NOT ok'}`,
      );
      if (s.report.fetched.calls !== f.report.calls) throw new Error(`sync fetched ${s.report.fetched.calls} calls, the floor ${f.report.calls}`);
      if (keptHome) fs.rmSync(keptHome, { recursive: true, force: true });
      keptHome = home;
    }
    const last = syncs[syncs.length - 1].report;
    const floorMs = median(floor.map((x) => x.ms));
    const syncMs = median(syncs.map((x) => x.ms));
    const ownMs = median(syncs.map((x) => x.ms - x.metrikaMs));
    const floorCpu = median(floor.map((x) => x.cpuMs));
    const syncCpu = median(syncs.map((x) => x.cpuMs));
    const result = {
      calls,
      ckym: BIN,
      floorMs: round(floorMs),
      metrikaMs: round(median(syncs.map((x) => x.metrikaMs))),
      ownMs: round(ownMs),
      ownRatio: round(ownMs / floorMs, 2),
      floorCpuMs: round(floorCpu),
      syncCpuMs: round(syncCpu),
      cpuRatio: round(syncCpu / floorCpu, 2),
      floorRssMb: round(median(floor.map((x) => x.rssKb)) / 1024, 1),
      syncMs: round(syncMs),
      ratio: round(syncMs / floorMs, 2),
      syncRssMb: round(Math.max(...syncs.map((x) => x.rssKb)) / 1024, 1),
      syncRssMedianMb: round(median(syncs.map((x) => x.rssKb)) / 1024, 1),
      reps,
      pages: last.fetched.pages,
      uploads: last.counters.map((c) => ({ counter: c.id, calls: c.calls.sent, conversions: c.conversions.sent })),
      requests,
      databaseMb: round(dbSize(keptHome) / 1024 / 1024, 1),
    };
    result.noop = await noop(world, keptHome, label);
    result.stats = await statsTimes(keptHome, label);
    return result;
  } finally {
    await world.stop();
    if (keptHome) fs.rmSync(keptHome, { recursive: true, force: true });
  }
}

/**
 * The no-op, each run followed by its floor (bench/noop-floor.mjs: the same pages fetched and parsed with got, then
 * with Node's http, nothing decided) and `node -e 0`: four medians of the same minutes, so their ratios hold.
 */
async function noop(world, home, label) {
  const runs = [];
  const floors = { got: [], http: [], node: [] };
  let requests = null;
  for (let r = 0; r < opt.noopReps; r++) {
    await world.reset();
    const emulatorCpu = world.cpuMs();
    const s = await runSync(world, home);
    s.emulatorCpuMs = world.cpuMs() - emulatorCpu;
    runs.push(s);
    requests = requestCheck(await world.counts(), s.report);
    if (s.report.fetched.new !== 0) throw new Error(`the no-op run found ${s.report.fetched.new} new calls`);
    for (const client of r % 2 ? ['http', 'got'] : ['got', 'http']) {
      const f = await runNoopFloor(world, home, s.report, client);
      // The floor fetches the look-back window only: a no-op that also re-checked waiting calls did more than it.
      if (f.report.calls !== s.report.fetched.calls || s.report.rechecked.length > 0) {
        throw new Error(`the no-op floor (${client}) fetched ${f.report.calls} calls, the no-op ${s.report.fetched.calls} in ${s.report.rechecked.length} more windows`);
      }
      floors[client].push(f.ms);
    }
    floors.node.push(must(await measure(NODE, ['-e', '0']), 'node -e 0').ms);
  }
  const last = runs[runs.length - 1].report;
  // One more, traced: the query plan of every statement it ran.
  const planFile = path.join(home, 'plans.json');
  await runSync(world, home, [], { nodeArgs: ['--import', path.join(ROOT, 'bench', 'trace-sql.mjs')], env: { BENCH_SQL_LOG: planFile } });
  const plans = JSON.parse(fs.readFileSync(planFile, 'utf8'));
  const scans = plans.filter((p) => p.plan.some(readsMuch));
  const result = {
    medianMs: round(median(runs.map((x) => x.ms))),
    syncReportedMs: round(median(runs.map((x) => x.report.durationMs))),
    rssMb: round(median(runs.map((x) => x.rssKb)) / 1024, 1),
    // The emulators' CPU while each no-op ran (serving its pages): what they took from the two cores meanwhile.
    emulatorCpuMs: round(median(runs.map((x) => x.emulatorCpuMs))),
    pages: last.fetched.pages,
    refetched: last.fetched.calls,
    requests,
    // The same minutes' floor: what got + better-sqlite3 + the look-back pages cost before ckym decides anything.
    floor: {
      nodeMs: round(median(floors.node)),
      gotMs: round(median(floors.got)),
      httpMs: round(median(floors.http)),
      ratio: round(median(runs.map((x) => x.ms)) / median(floors.node), 2),
      gotRatio: round(median(floors.got) / median(floors.node), 2),
      httpRatio: round(median(floors.http) / median(floors.node), 2),
    },
    statements: plans.length,
    scans,
    plans,
  };
  log(
    `${label}: no-op: ${result.medianMs} ms (sync itself ${result.syncReportedMs} ms; the emulators' CPU meanwhile ${result.emulatorCpuMs} ms), re-fetched ${result.refetched} calls in ${result.pages} pages, ` +
      `${requests.metrikaRequests} Metrica requests, ${scans.length} of ${plans.length} statements scan a table`,
  );
  const f = result.floor;
  log(
    `${label}: no-op ${result.medianMs} ms = ${f.ratio}× node -e 0 (${f.nodeMs} ms, the same minutes); its floor: ${f.gotMs} ms = ${f.gotRatio}× with got, ` +
      `${f.httpMs} ms = ${f.httpRatio}× with Node's http`,
  );
  for (const s of scans) log(`  reads much: ${s.sql.slice(0, 140)} → ${s.plan.join(' | ')}`);
  const slow = [...plans].sort((a, b) => b.totalMs - a.totalMs).slice(0, 3);
  for (const s of slow) log(`  slowest: ${s.totalMs} ms in ${s.calls} calls: ${s.sql.slice(0, 100)} → ${s.plan.join(' | ')}`);
  return result;
}

/**
 * `ckym stats` on the database the backfill left, interleaved with `node -e 0` and `ckym --version` (the same
 * minute, the same load): medians and their ratios.
 */
async function statsTimes(home, label) {
  const env = { ...ckymEnv({ callkeeper: 'http://127.0.0.1:9/', metrika: 'http://127.0.0.1:9' }, home) };
  const cases = {
    'node -e 0': [NODE, ['-e', '0']],
    'ckym --version': [NODE, [BIN, '--version']],
    'ckym stats': [NODE, [BIN, '--config', path.join(home, 'ckym.config.json'), 'stats']],
    'ckym stats --json': [NODE, [BIN, '--config', path.join(home, 'ckym.config.json'), 'stats', '--json']],
  };
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let i = 0; i < opt.statsReps; i++) {
    for (const [name, [cmd, args]] of Object.entries(cases)) times[name].push(must(await measure(cmd, args, { env, cwd: home }), name).ms);
  }
  const base = median(times['node -e 0']);
  const version = median(times['ckym --version']);
  const out = {};
  for (const [name, xs] of Object.entries(times)) out[name] = { medianMs: round(median(xs), 1), ratio: round(median(xs) / base, 2), vsVersion: round(median(xs) / version, 2) };
  log(`${label}: stats ${out['ckym stats'].medianMs} ms = ${out['ckym stats'].vsVersion}× ckym --version (${out['ckym --version'].medianMs} ms), ${out['ckym stats'].ratio}× node -e 0`);
  return out;
}

/**
 * The stuck-calls account (issue 14): the same history twice, once with 1 % of the callbacks never final (spread
 * over the whole year), each backfilled once; then their no-ops interleaved. The stuck one's CallKeeper requests
 * must be the look-back window's pages plus one per narrow window it re-checked waiting calls through.
 */
async function stuckAccount(calls) {
  const label = `stuck ${calls}`;
  log(`${label}: generating the plain and the stuck account`);
  const plain = await startWorld(calls);
  const stuck = await startWorld(calls, { stuck: 0.01 });
  const homes = [];
  try {
    const pair = [
      { name: 'plain', world: plain, home: freshHome(), runs: [], checks: [] },
      { name: 'stuck', world: stuck, home: freshHome(), runs: [], checks: [] },
    ];
    for (const p of pair) {
      homes.push(p.home);
      await p.world.reset();
      const b = await runSync(p.world, p.home, ['--since', sinceIso]);
      const waiting = b.report.counters.reduce((n, c) => n + Object.values(c.waiting).reduce((a, x) => a + x, 0), 0);
      p.backfill = { ms: round(b.ms), waiting, pages: b.report.fetched.pages };
      log(`${label}: ${p.name} backfill ${round(b.ms)} ms, ${waiting} deliveries waiting (${p.world.stuck} callbacks stuck in the account)`);
    }
    for (let r = 0; r < opt.noopReps; r++) {
      for (const p of pair) {
        await p.world.reset();
        const s = await runSync(p.world, p.home);
        p.runs.push(s);
        const asked = (await p.world.counts()).callkeeper;
        const main = s.report.window;
        const inMain = asked.filter((q) => q.from === Date.parse(main.from) / 1000 && q.to === Date.parse(main.to) / 1000).length;
        p.checks.push({
          requests: asked.length,
          mainRequests: inMain,
          windows: (s.report.rechecked ?? []).length,
          windowRequests: asked.length - inMain,
          refetched: s.report.fetched.calls,
          window: main,
          ok: asked.length - inMain === (s.report.rechecked ?? []).length,
        });
      }
    }
    const out = {};
    for (const p of pair) {
      const last = p.checks[p.checks.length - 1];
      out[p.name] = {
        medianMs: round(median(p.runs.map((x) => x.ms))),
        syncReportedMs: round(median(p.runs.map((x) => x.report.durationMs))),
        backfill: p.backfill,
        stuckCallbacks: p.world.stuck,
        ...last,
        allOk: p.checks.every((c) => c.ok),
      };
    }
    out.ratio = round(out.stuck.medianMs / out.plain.medianMs, 2);
    log(
      `${label}: no-op ${out.stuck.medianMs} ms vs ${out.plain.medianMs} ms without stuck calls (${out.ratio}×); CallKeeper ${out.stuck.requests} requests = ` +
        `${out.stuck.mainRequests} of the look-back window + ${out.stuck.windowRequests} for ${out.stuck.windows} narrow windows; re-fetched ${out.stuck.refetched} calls`,
    );
    return out;
  } finally {
    await plain.stop();
    await stuck.stop();
    for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
  }
}

/**
 * A plan step that reads more than the rows it needs: a full scan of a table or index, or a search of the
 * deliveries by counter alone (a counter's whole history).
 */
function readsMuch(detail) {
  // sqlite_master (a handful of rows), json_each (the statement's own list of ids) and CONSTANT ROW (a SELECT without
  // FROM, as `SELECT EXISTS (…) OR EXISTS (…)`) are not tables of ckym's
  return (/^SCAN /.test(detail) && !/^SCAN (sqlite_master|json_each|CONSTANT ROW)/.test(detail)) || /\bdeliveries USING PRIMARY KEY \(counter_id=\?\)/.test(detail);
}

function dbSize(home) {
  let total = 0;
  for (const f of ['ckym.db', 'ckym.db-wal']) {
    for (const dir of [path.join(home, 'state'), path.join(home, 'state', 'data')]) {
      const file = path.join(dir, f);
      if (fs.existsSync(file)) total += fs.statSync(file).size;
    }
  }
  return total;
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverage: os.loadavg().map((x) => round(x, 2)),
    date: new Date().toISOString(),
  };
}

function table(results) {
  const s = results.startup;
  const small = results.backfill;
  const big = results.big;
  const mark = (ok) => (ok ? '✓' : '✗');
  const node = s['node -e 0'].medianMs;
  const vs = (ms) => `${round(ms / node, 2)}× node -e 0`;
  const rows = [
    ['`ckym --version` vs `node -e 0`', `${s['ckym --version'].ratio}× (${s['ckym --version'].medianMs} / ${s['node -e 0'].medianMs} ms)`, '≤ 1.5×', mark(s['ckym --version'].ratio <= 1.5)],
    ['`ckym --help` vs `node -e 0`', `${s['ckym --help'].ratio}× (${s['ckym --help'].medianMs} ms)`, '≤ 1.5×', mark(s['ckym --help'].ratio <= 1.5)],
    [`sync of ${small.calls} calls into 3 counters vs the floor (wall)`, `${small.ratio}× (${small.syncMs} ms = ${vs(small.syncMs)} / ${small.floorMs} ms)`, '≤ 2×', mark(small.ratio <= 2)],
    [
      '… less the Metrica emulator answering the uploads',
      `${small.ownRatio}× (${small.ownMs} ms; the emulator took ${small.metrikaMs} ms)`,
      '≤ 2×',
      mark(small.ownRatio <= 2),
    ],
    ['… CPU time (user + sys) of the two processes', `${small.cpuRatio}× (${small.syncCpuMs} / ${small.floorCpuMs} ms)`, '', ''],
    [`peak RSS, sync of ${small.calls}`, `${small.syncRssMb} MB (floor ${small.floorRssMb} MB: ${round(small.syncRssMb / small.floorRssMb, 2)}×)`, '≤ 1.1× the floor', mark(small.syncRssMb <= 1.1 * small.floorRssMb)],
  ];
  if (big) {
    const growth = big.syncRssMb / small.syncRssMb - 1;
    rows.push([`peak RSS, sync of ${big.calls}`, `${big.syncRssMb} MB (+${round(growth * 100)} % over ${small.calls})`, '≤ +20 %', mark(growth <= 0.2)]);
    rows.push([
      `no-op sync, ${big.calls} calls in the database`,
      `${big.noop.medianMs} ms = ${vs(big.noop.medianMs)} (sync itself ${big.noop.syncReportedMs} ms); ${big.noop.scans.length} table scans`,
      '≤ 3× node -e 0, no scans',
      mark(big.noop.medianMs <= 3 * node && big.noop.scans.length === 0),
    ]);
    const f = big.noop.floor;
    rows.push([
      `… its floor: the same pages fetched and parsed, nothing decided (bench/noop-floor.mjs)`,
      `with got ${f.gotMs} ms = ${f.gotRatio}×, with Node's http ${f.httpMs} ms = ${f.httpRatio}×; the no-op ${f.ratio}× (node -e 0 ${f.nodeMs} ms, the same minutes)`,
      '(what 3× leaves)',
      '',
    ]);
  }
  rows.push([
    `no-op sync, ${small.calls} calls in the database`,
    `${small.noop.medianMs} ms = ${vs(small.noop.medianMs)} (sync itself ${small.noop.syncReportedMs} ms); ${small.noop.scans.length} table scans`,
    '(for comparison)',
    '',
  ]);
  for (const r of [small, ...(big ? [big] : [])]) {
    const t = r.stats;
    rows.push([
      `\`ckym stats\`, ${r.calls} calls in the database`,
      `${t['ckym stats'].medianMs} ms = ${t['ckym stats'].vsVersion}× \`ckym --version\` (${t['ckym --version'].medianMs} ms), ${t['ckym stats'].ratio}× node -e 0 (${t['node -e 0'].medianMs} ms); --json ${t['ckym stats --json'].medianMs} ms`,
      '≤ 4× `ckym --version`',
      mark(t['ckym stats'].vsVersion <= 4),
    ]);
  }
  const st = results.stuck;
  if (st) {
    rows.push([
      `no-op sync, stuck-calls account (${opt.stuckCalls} calls, ${st.stuck.stuckCallbacks} callbacks never final; ${st.stuck.backfill.waiting} deliveries waiting after the backfill)`,
      `${st.stuck.medianMs} ms = ${vs(st.stuck.medianMs)} vs ${st.plain.medianMs} ms = ${vs(st.plain.medianMs)} without them: ${st.ratio}×`,
      '≤ 1.2×',
      mark(st.ratio <= 1.2),
    ]);
    rows.push([
      'HTTP requests, no-op of the stuck-calls account',
      `CallKeeper ${st.stuck.requests} = ${st.stuck.mainRequests} of the look-back window (${st.stuck.window.from} … ) + ${st.stuck.windowRequests} for ${st.stuck.windows} narrow windows; ${st.stuck.refetched} calls re-fetched (${st.plain.refetched} without them)`,
      'look-back pages + windows',
      mark(st.stuck.allOk),
    ]);
  }
  for (const [name, r] of [[`${small.calls}`, small], ...(big ? [[`${big.calls}`, big]] : [])]) {
    const q = r.requests;
    rows.push([
      `HTTP requests, sync of ${name}`,
      `CallKeeper ${q.callkeeperRequests} (${q.pages} pages), Metrica ${q.metrikaRequests} (${q.metrikaReads} linking switches read, ${q.listReads} uploadings lists read on the first run, ${q.metrikaUploads} files for ${q.expectedUploads} counter/kind pairs with rows)`,
      'pages + a switch read and 1–4 files per pair (+ a list read per configured pair on a first run)',
      mark(q.ok),
    ]);
    const n = r.noop.requests;
    rows.push([`HTTP requests, no-op at ${name}`, `CallKeeper ${n.callkeeperRequests} (${n.pages} pages), Metrica ${n.metrikaRequests}`, 'pages, no upload', mark(n.ok && n.metrikaRequests === 0)]);
  }
  return ['| figure | result | target | |', '|---|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

// ── main ──────────────────────────────────────────────────────────────────

const results = { machine: machine(), options: { ...opt, now: BENCH_NOW, since: sinceIso, rssFrom: TIME ? '/usr/bin/time %M' : '/proc VmHWM polling' } };
log(`startup: ${opt.startupReps} interleaved runs each`);
results.startup = await startup();
await buildNoopFloor();
log(`startup: ${JSON.stringify(results.startup)}`);
if (opt.stuckCalls > 0) results.stuck = await stuckAccount(opt.stuckCalls);
results.backfill = await backfill(opt.calls, opt.reps, `${opt.calls}`);
if (opt.big > 0) results.big = await backfill(opt.big, opt.bigReps, `${opt.big}`);
results.machine.loadAverageAtEnd = os.loadavg().map((x) => round(x, 2));

const text = table(results);
process.stdout.write(`\n${text}\n\n`);
if (values.out) {
  fs.writeFileSync(path.resolve(values.out), `${JSON.stringify({ ...results, table: text }, null, 2)}\n`);
  log(`results written to ${values.out}`);
}
