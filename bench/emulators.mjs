/**
 * The bench's world, in its own process (so its memory is not ckym's; its CPU still shares the machine's
 * two cores): the sandbox CallKeeper and Metrica emulators from dist/sandbox, a fixed clock, a generated
 * call history, and a small control server the bench uses to count and reset requests.
 *
 *   node bench/emulators.mjs --calls 100000 --days 365 --seed 1 --now 2025-06-01T12:00:00Z --gap-hours 12
 *
 * Prints one JSON line when ready: { callkeeper, metrika, control, calls, generateMs, verified }.
 *
 * `--stuck 0.01` makes the stuck-calls account: 1 % of the callbacks, anywhere in the history, stay in progress or
 * scheduled for ever (applied after the rework below).
 *
 * The history: `--calls` calls spread over `--days` days, ending `--gap-hours` before `--now` (so a
 * later no-op run re-fetches known calls inside its look-back window but finds nothing new). The
 * generator marks a share of the newest 5 % of callbacks as in progress or scheduled; at a million
 * calls that is weeks of "waiting forever" callbacks, which would pin every later window weeks back.
 * Real accounts have a handful, in the last hours: so the bench keeps unfinished callbacks only in the
 * last 2 hours of the history and gives the others a final (missed) outcome.
 *
 * CallKeeper's pages come through a front that answers well-formed `call/get` requests from the same
 * calls, sorted once. The sandbox emulator filters and sorts its whole history on every request
 * (≈ 90 ms a page at 100 000 calls, ≈ 0.9 s at a million: a million-call pass would take 15 minutes
 * and the "floor" would measure the emulator). The front is checked byte for byte against the emulator
 * at start (first, middle, last and one-past-last page of the backfill window, the no-op window, an empty
 * window); anything it does not recognise is passed to the emulator. The backfill window's pages are rendered
 * once at start and then served from memory, so the floor measures the client, not the server.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { startCallKeeperEmulator } from '../dist/sandbox/callkeeper.js';
import { startMetrikaEmulator } from '../dist/sandbox/metrika.js';
import { generateCalls, strandCallbacks } from '../dist/sandbox/generate.js';
import { parseWallTime, wallTimeToUnix } from '../dist/sandbox/time.js';
import { BENCH_API_KEY, BENCH_COUNTERS, BENCH_TOKEN, backfillWindow } from './world.mjs';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '100000' },
    days: { type: 'string', default: '365' },
    seed: { type: 'string', default: '1' },
    now: { type: 'string', default: '2025-06-01T12:00:00Z' },
    'gap-hours': { type: 'string', default: '12' },
    stuck: { type: 'string', default: '0' },
  },
});

const TIME_ZONE = 'Europe/Moscow';
const PAGE_SIZE = 1000;
const nowMs = Date.parse(values.now);
const nowUnix = Math.floor(nowMs / 1000);
const days = Number(values.days);
const historyEnd = nowUnix - Math.round(Number(values['gap-hours']) * 3600);

const started = performance.now();
const calls = generateCalls({ count: Number(values.calls), seed: Number(values.seed), nowUnix: historyEnd, days });
const atOf = (raw) => {
  const wall = parseWallTime(typeof raw.callTime === 'string' ? raw.callTime : '');
  return wall ? wallTimeToUnix(wall, TIME_ZONE) : null;
};
for (const c of calls) {
  const unfinished = c.serviceType === 'callback' && Number(c.statusSecond) === 0 && [1, 2].includes(Number(c.statusFirst));
  if (unfinished && atOf(c) < historyEnd - 2 * 3600) {
    c.statusFirst = 200;
    c.statusSecond = 486;
  }
}
// The stuck-calls account (issue 14): a share of the callbacks, spread over the whole history, never final.
const stuckShare = Number(values.stuck);
if (stuckShare > 0) strandCallbacks(calls, stuckShare, Number(values.seed));
const generateMs = Math.round(performance.now() - started);

const emulator = await startCallKeeperEmulator({ apiKey: BENCH_API_KEY, calls, now: () => nowMs, timeZone: TIME_ZONE });
const metrika = await startMetrikaEmulator({ token: BENCH_TOKEN, counters: BENCH_COUNTERS, now: () => nowMs });

// ── the CallKeeper front ──────────────────────────────────────────────────

/** The emulator's order: callTime, then universalId as text. */
const sorted = calls
  .map((raw) => ({ raw, at: atOf(raw), id: String(raw.universalId ?? '') }))
  .filter((c) => c.at !== null)
  .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
const firstAtOrAfter = (t) => {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid].at < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

const emulatorUrl = new URL(emulator.url);
const ask = (query) =>
  new Promise((resolve, reject) => {
    http
      .get(`${emulator.url}?${query}`, { agent: false }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
const pathOf = (page, from, to) => `json/v3/${BENCH_API_KEY}/call/get/${page}/${from}/${to}`;
// The two end-of-paging answers do not depend on the request: take them from the emulator once.
const noRows = await ask(pathOf(0, 1, 2));
const wrongPage = await ask(pathOf(999_999_999, 1, nowUnix));
const CALL_PAGE = /^json\/v3\/([^/]+)\/call\/(get|getWithRole|getByRole)\/(\d+)\/(\d{1,12})\/(\d{1,12})$/;

/** Rendered pages by query: every pass after the first (floor, sync, repetitions) is served from memory. */
const rendered = new Map();

/** The answer to a well-formed page request, or null to pass the request to the emulator. */
function frontAnswer(query) {
  let body = rendered.get(query);
  if (!body) {
    body = render(query);
    if (body) rendered.set(query, body);
  }
  return body;
}

function render(query) {
  const m = CALL_PAGE.exec(query);
  if (!m || decodeURIComponent(m[1]) !== BENCH_API_KEY) return null;
  const page = Number(m[3]);
  const from = Number(m[4]);
  const to = Number(m[5]);
  const start = firstAtOrAfter(from);
  const end = firstAtOrAfter(to + 1);
  if (end <= start) return noRows.body;
  const ofPages = Math.ceil((end - start) / PAGE_SIZE);
  if (page >= ofPages) return wrongPage.body;
  const slice = sorted.slice(start + page * PAGE_SIZE, Math.min(end, start + (page + 1) * PAGE_SIZE)).map((c) => c.raw);
  return Buffer.from(JSON.stringify(slice), 'utf8');
}

const frontRequests = [];
const front = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const query = q < 0 ? '' : url.slice(q + 1);
  const m = /\/call\/[^/]+\/(\d+)\/(\d+)\/(\d+)/.exec(query);
  const log = { page: m ? Number(m[1]) : -1, from: m ? Number(m[2]) : null, to: m ? Number(m[3]) : null, status: 0 };
  frontRequests.push(log);
  const body = req.method === 'GET' && url.startsWith('/api/?') ? frontAnswer(query) : null;
  if (body) {
    log.status = 200;
    res.writeHead(200, { 'content-type': noRows.type, 'content-length': String(body.length) });
    res.end(body);
    return;
  }
  const upstream = http.request(
    { host: emulatorUrl.hostname, port: emulatorUrl.port, method: req.method, path: url, headers: req.headers },
    (answer) => {
      log.status = answer.statusCode ?? 0;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
await new Promise((resolve) => front.listen(0, '127.0.0.1', resolve));
const frontUrl = `http://127.0.0.1:${front.address().port}/api/`;

// Byte for byte against the emulator, before anything is measured.
const checks = [];
const window = backfillWindow(nowUnix, days);
const inWindow = firstAtOrAfter(window.to + 1) - firstAtOrAfter(window.from);
const lastPage = Math.max(0, Math.ceil(inWindow / PAGE_SIZE) - 1);
for (const page of new Set([0, lastPage >> 1, lastPage, lastPage + 1])) checks.push(pathOf(page, window.from, window.to));
checks.push(pathOf(0, nowUnix - 2 * 86_400, nowUnix));
checks.push(pathOf(0, 1, 2));
let verified = 0;
for (let page = 0; page <= lastPage; page++) frontAnswer(pathOf(page, window.from, window.to));
for (const query of checks) {
  const mine = frontAnswer(query);
  const theirs = await ask(query);
  if (!mine || !mine.equals(theirs.body)) throw new Error(`the CallKeeper front differs from the emulator on ?${query}`);
  verified++;
}

// ── the Metrica front: passes everything through, timing how long the emulator takes to answer ──

/** Per request to Metrica: ms from the request's last byte to the emulator's answer (its own processing). */
const metrikaServerMs = [];
const metrikaUrl = new URL(metrika.url);
const metrikaFront = http.createServer((req, res) => {
  const entry = { method: req.method, path: (req.url ?? '').split('?')[0], serverMs: 0 };
  metrikaServerMs.push(entry);
  let sentAll = 0;
  const upstream = http.request(
    { host: metrikaUrl.hostname, port: metrikaUrl.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      entry.serverMs = performance.now() - sentAll;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  req.on('end', () => (sentAll = performance.now()));
  req.pipe(upstream);
});
await new Promise((resolve) => metrikaFront.listen(0, '127.0.0.1', resolve));

// ── control ───────────────────────────────────────────────────────────────

const control = http.createServer((req, res) => {
  const send = (body) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.url === '/counts') {
    return send({
      callkeeper: frontRequests,
      metrika: metrika.requests.map((r) => ({ method: r.method, path: r.path, status: r.status })),
      metrikaServerMs: metrikaServerMs.map((r) => r.serverMs),
      uploads: metrika.uploads.map((u) => ({ counterId: u.counterId, kind: u.kind, rows: u.rows.length, comment: u.comment })),
    });
  }
  if (req.url === '/reset' && req.method === 'POST') {
    frontRequests.length = 0;
    emulator.requests.length = 0;
    metrika.requests.length = 0;
    metrikaServerMs.length = 0;
    metrika.uploads.length = 0; // the rows of past uploads are the emulator's biggest memory
    // Collect them now, before the answer: otherwise V8 does it (for seconds, at a million rows) on the second
    // core while the next measured run uses it. run.mjs starts this process with --expose-gc.
    globalThis.gc?.();
    return send({ ok: true });
  }
  res.writeHead(404);
  res.end();
});
await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve));

process.stdout.write(
  `${JSON.stringify({
    callkeeper: frontUrl,
    metrika: `http://127.0.0.1:${metrikaFront.address().port}`,
    control: `http://127.0.0.1:${control.address().port}`,
    calls: calls.length,
    stuck: calls.filter((c) => c.serviceType === 'callback' && Number(c.statusSecond) === 0 && [1, 2].includes(Number(c.statusFirst))).length,
    inWindow,
    generateMs,
    verified,
  })}\n`,
);

const stop = async () => {
  control.close();
  front.close();
  front.closeAllConnections();
  metrikaFront.close();
  metrikaFront.closeAllConnections();
  await Promise.all([emulator.close(), metrika.close()]);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
