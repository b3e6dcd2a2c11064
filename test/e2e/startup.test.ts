/**
 * What the built ckym loads to do its work, and nothing more (issue 14: a cron no-op costs what it does, not what
 * other commands need; BENCHMARKS.md "The no-op's start and end"). Each run records every file of the bundle
 * Node loads (a module hook) and every built-in module (`process.moduleLoadList`); the bundle's files say which
 * packages they hold (esbuild's `// node_modules/<package>/…` lines).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCalls } from '../../src/sandbox/generate.js';
import { makeWorld, type World } from '../support/harness.js';
import { counter, seedsFor } from '../support/reliability.js';

const NOW = '2024-05-20T09:00:00Z';
const NOW_UNIX = Date.parse(NOW) / 1000;
const shop = counter(12345678, { name: 'shop.example', goal: 'calltracking_call_order', sites: ['shop.example'] });

let world: World;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-startup-'));
  fs.writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import fs from 'node:fs';
export async function load(url, context, next) {
  if (url.startsWith('file:')) fs.appendFileSync(process.env.CKYM_TEST_LOADED, url + '\\n');
  return next(url, context);
}`,
  );
  fs.writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  fs.writeFileSync(
    path.join(dir, 'builtins.cjs'),
    `process.on('exit', () => require('node:fs').writeFileSync(process.env.CKYM_TEST_BUILTINS, process.moduleLoadList.join('\\n')));\n`,
  );
  world = await makeWorld({
    calls: generateCalls({ count: 300, seed: 14, nowUnix: NOW_UNIX, days: 3 }),
    counters: seedsFor([shop]),
    config: {
      callkeeper: { timezone: 'Europe/Moscow' },
      sync: { initialDays: 7, lookbackHours: 24, settleMinutes: 10, confirmGraceMinutes: 0 },
      network: { retries: 0, timeoutSeconds: 5 },
      counters: [shop],
    },
    nowIso: NOW,
  });
});

afterAll(async () => {
  await world.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let runs = 0;
/** Runs ckym and tells which packages its loaded bundle files hold, and which built-in modules it loaded. */
async function traced(args: string[]): Promise<{ code: number | null; stdout: string; packages: Set<string>; builtins: string[] }> {
  const loaded = path.join(dir, `loaded-${++runs}.txt`);
  const builtins = path.join(dir, `builtins-${runs}.txt`);
  const r = await world.run(args, {
    NODE_OPTIONS: `--require ${path.join(dir, 'builtins.cjs')} --import ${path.join(dir, 'register.mjs')}`,
    CKYM_TEST_LOADED: loaded,
    CKYM_TEST_BUILTINS: builtins,
  });
  const files = fs.readFileSync(loaded, 'utf8').split('\n').filter((u) => u.includes('/dist/bundle/'));
  expect(files.length, 'the hook saw the bundle load').toBeGreaterThan(0);
  const packages = new Set<string>();
  for (const file of files) {
    for (const m of fs.readFileSync(fileURLToPath(file), 'utf8').matchAll(/^\/\/ (?:\S*\/)?node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)) packages.add(m[1]!);
  }
  return { code: r.code, stdout: r.stdout, packages, builtins: fs.readFileSync(builtins, 'utf8').split('\n') };
}

describe('what ckym loads at start', () => {
  it('--version: commander, no zod (the counter settings table is loaded by counters alone)', async () => {
    const r = await traced(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(r.packages).toContain('commander');
    expect([...r.packages]).not.toContain('zod');
  });

  it('a sync and its no-op: no cosmiconfig for a JSON config, no HTTP/2, better-sqlite3 without the CommonJS translator', async () => {
    for (const run of ['first', 'no-op']) {
      const r = await traced(['sync', '--json']);
      expect(r.code, run).toBe(0);
      expect(r.packages, run).toContain('got');
      expect(r.packages, run).toContain('zod'); // the config is validated
      expect([...r.packages], run).not.toContain('cosmiconfig');
      expect([...r.packages], run).not.toContain('js-yaml');
      expect([...r.packages], run).not.toContain('http2-wrapper');
      expect(r.builtins, run).not.toContain('NativeModule http2');
      expect(r.builtins, run).not.toContain('NativeModule internal/deps/cjs-module-lexer/lexer');
    }
    // the no-op really was one: nothing new, nothing uploaded by it
    const uploads = world.metrika.requests.filter((q) => q.method === 'POST').length;
    const again = await world.run(['sync', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ exitCode: 0, fetched: { new: 0 } });
    expect(world.metrika.requests.filter((q) => q.method === 'POST').length).toBe(uploads);
  });
});
