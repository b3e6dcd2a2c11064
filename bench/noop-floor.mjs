/**
 * The no-op's floor: the least a sync that finds nothing new has to do with the dependencies ckym is built on — load
 * got (its HTTP client) and better-sqlite3 (its store), open the database, look at the time zone (ICU: both got and
 * the time zone need it), fetch the look-back window's pages with got and parse them as ckym does (the bytes read as
 * Latin-1). Nothing is decided or written; no command line, no config validation, no lock.
 *
 *   node dist/bench/noop-floor.mjs DB CALLKEEPER_URL API_KEY FROM TO TIMEZONE [got|http]
 *
 * `http` fetches with Node's own `http` instead of got: the difference is what loading got costs (BENCHMARKS.md,
 * "The no-op's floor"). Prints one JSON line: { pages, calls }.
 *
 * bench/run.mjs bundles this file into dist/bench/ with ckym's own bundling plugin (scripts/start-costs.mjs) before it
 * measures it: ckym runs from a bundle, and got loaded file by file would cost about twice as much.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import { got } from 'got';

const [dbFile, baseUrl, apiKey, from, to, timeZone, client = 'got'] = process.argv.slice(2);
const PAGE_SIZE = 1000;
const Database = createRequire(import.meta.url)('better-sqlite3');

new Intl.DateTimeFormat('en-US', { timeZone }).format(0);
const db = new Database(dbFile, { readonly: true, fileMustExist: true });
db.prepare('SELECT count(*) FROM sqlite_schema').get();

const viaGot = got.extend({ retry: { limit: 0 }, throwHttpErrors: false, responseType: 'buffer', headers: { 'user-agent': 'ckym-bench-floor', accept: 'application/json' } });
const viaHttp = (url) =>
  new Promise((resolve, reject) => {
    http
      .get(url, { headers: { 'user-agent': 'ckym-bench-floor', accept: 'application/json' } }, (res) => {
        const parts = [];
        res.on('data', (part) => parts.push(part));
        res.on('end', () => resolve({ statusCode: res.statusCode, body: Buffer.concat(parts) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
const get = client === 'http' ? viaHttp : (url) => viaGot.get(url);

let pages = 0;
let calls = 0;
for (let page = 0; ; page++) {
  const res = await get(`${baseUrl}?json/v3/${encodeURIComponent(apiKey)}/call/get/${page}/${from}/${to}`);
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} on page ${page}`);
  const json = JSON.parse(res.body.toString('latin1'));
  if (!Array.isArray(json)) break; // the "No rows found" / "Incorrect page" envelope ends paging
  pages++;
  calls += json.length;
  if (json.length < PAGE_SIZE) break;
}
db.close();
process.stdout.write(`${JSON.stringify({ pages, calls })}\n`);
