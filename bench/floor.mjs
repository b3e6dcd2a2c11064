/**
 * The floor: fetch the same CallKeeper pages ckym's sync fetches, with the same HTTP client (got, the same
 * options), and JSON.parse them — nothing else. No SQLite, no config, no decisions, no uploads.
 *
 *   node bench/floor.mjs CALLKEEPER_URL API_KEY FROM TO
 *
 * Prints one JSON line: { pages, calls }.
 *
 * ckym's client no longer takes got's text: it decodes the bytes itself (parseBody in src/clients/callkeeper.ts), which
 * for the 100 000 calls takes 1.7 s where this floor's decoding takes 2.5 s (BENCHMARKS.md, "The floor"). Ratios
 * to this floor include that gain.
 */
import { got } from 'got';

const [baseUrl, apiKey, from, to] = process.argv.slice(2);
const PAGE_SIZE = 1000;
const http = got.extend({
  retry: { limit: 0 },
  throwHttpErrors: false,
  followRedirect: true,
  responseType: 'text',
  timeout: { request: 600_000 },
  headers: { 'user-agent': 'ckym-bench-floor', accept: 'application/json' },
});

let pages = 0;
let calls = 0;
for (let page = 0; ; page++) {
  const res = await http.get(`${baseUrl}?json/v3/${encodeURIComponent(apiKey)}/call/get/${page}/${from}/${to}`);
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} on page ${page}`);
  const json = JSON.parse(res.body);
  if (!Array.isArray(json)) break; // the "No rows found" / "Incorrect page" envelope ends paging
  pages++;
  calls += json.length;
  if (json.length < PAGE_SIZE) break;
}
process.stdout.write(`${JSON.stringify({ pages, calls })}\n`);
