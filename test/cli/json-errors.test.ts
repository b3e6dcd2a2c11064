/**
 * `--json` (contract): stdout holds exactly one JSON document on EVERY exit path — a bad key, a missing config, a
 * service that stays unavailable, an internal error, a usage error commander finds — with the error in it.
 * In process, through `run()` (what bin/ckym.js runs), against the loopback CallKeeper emulator.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/main.js';
import { memoryIO as sharedMemoryIO } from '../commands/io.js';
import { startCallKeeperEmulator, type CallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import { startMetrikaEmulator, type MetrikaEmulator } from '../../src/sandbox/metrika.js';

const KEY = 'json0errors0key1';
const TOKEN = 'y0_json-errors-token-0001';
let dir: string;
let callkeeper: CallKeeperEmulator;
/** A run first reads the uploadings list of a counter its (new) database knows nothing of (issue 13.4): empty here. */
let metrika: MetrikaEmulator;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-json-errors-'));
  fs.mkdirSync(path.join(dir, '.git')); // a project root: the config search stops here
  callkeeper = await startCallKeeperEmulator({ apiKey: KEY, calls: [] });
  metrika = await startMetrikaEmulator({ token: TOKEN, counters: [{ id: 11, name: 'shop', site: 'shop.example' }] });
});
afterAll(async () => {
  await Promise.all([callkeeper.close(), metrika.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.doUnmock('../../src/engine/run.js');
});

const memoryIO = (env: NodeJS.ProcessEnv, cwd = dir) => sharedMemoryIO(env, cwd);

function config(network: Record<string, unknown> = {}): string {
  const file = path.join(dir, `ckym-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify({ network: { retries: 0, backoffSeconds: 0, ...network }, counters: [{ id: 11 }] }));
  return file;
}

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  CKYM_HOME: fs.mkdtempSync(path.join(dir, 'home-')),
  CKYM_CALLKEEPER_URL: callkeeper.url,
  CKYM_METRIKA_URL: metrika.url,
  CKYM_CALLKEEPER_KEY: KEY,
  CKYM_YANDEX_TOKEN: TOKEN,
  CKYM_NOW: '2024-05-20T09:00:00Z',
  ...extra,
});

/** Runs ckym and returns the one document stdout holds (it must parse as exactly one JSON value), the code, stderr. */
async function json(args: string[], e: NodeJS.ProcessEnv, cwd?: string) {
  const io = memoryIO(e, cwd);
  const code = await run(['node', 'ckym', ...args], io);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(io.out()) as Record<string, unknown>;
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${code}):\n${io.out()}\nstderr:\n${io.err()}`);
  }
  return { code, doc, stderr: io.err() };
}

describe('sync --json: one JSON document on every exit path', () => {
  it('a bad key → 3, with the error', async () => {
    const r = await json(['--config', config(), 'sync', '--json'], env({ CKYM_CALLKEEPER_KEY: 'wrong0key0000001' }));
    expect(r.code).toBe(3);
    expect(r.doc).toEqual({
      version: 1,
      command: 'sync',
      exitCode: 3,
      error: { kind: 'auth', message: expect.stringMatching(/^CallKeeper did not recognise the API key/) },
    });
    expect(r.stderr).toMatch(/^ckym: CallKeeper did not recognise the API key/); // the human line stays on stderr
  });

  it('no config file → 2', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const r = await json(['sync', '--json'], env({ HOME: empty }), empty);
    expect(r.code).toBe(2);
    expect(r.doc).toMatchObject({ version: 1, command: 'sync', exitCode: 2, error: { kind: 'usage', message: expect.stringMatching(/no config file found/) } });
  });

  it('CallKeeper answering 503 until ckym gives up → 4', async () => {
    callkeeper.inject({ type: 'status', status: 503, times: 5 });
    const r = await json(['--config', config(), 'sync', '--json'], env());
    expect(r.code).toBe(4);
    expect(r.doc).toMatchObject({ command: 'sync', exitCode: 4, error: { kind: 'remote', message: expect.stringMatching(/CallKeeper answered HTTP 503/) } });
  });

  it('a usage error commander finds (an unknown option, a bad value) → 2', async () => {
    const unknown = await json(['sync', '--json', '--dryrun'], env());
    expect(unknown.doc).toMatchObject({ command: 'sync', exitCode: 2, error: { kind: 'usage', message: "unknown option '--dryrun'; (Did you mean --dry-run?)" } });
    const bad = await json(['--config', config(), 'sync', '--counter', 'abc', '--json'], env());
    expect(bad.doc).toMatchObject({ command: 'sync', exitCode: 2, error: { message: expect.stringMatching(/^--counter: expected/) } });
  });

  it('the other --json commands too (stats, counters show, doctor); without --json, nothing on stdout', async () => {
    const missing = path.join(dir, 'missing.json');
    const stats = await json(['--config', missing, 'stats', '--json'], env());
    expect(stats.doc).toMatchObject({ command: 'stats', exitCode: 2, error: { kind: 'usage' } });
    const show = await json(['counters', 'show', '--json', '--config', missing], env());
    expect(show.doc).toMatchObject({ command: 'counters show', exitCode: 2 });
    const io = memoryIO(env());
    expect(await run(['node', 'ckym', '--config', missing, 'sync'], io)).toBe(2);
    expect(io.out()).toBe('');
  });

  it('an internal error → 1, the message in the document and the stack on stderr', async () => {
    vi.doMock('../../src/engine/run.js', () => ({
      sync: () => {
        throw new TypeError("Cannot read properties of undefined (reading 'id')");
      },
    }));
    // (a fresh module graph, so the dynamic import in sync's action finds the mock; the last test, as nothing after it shares it)
    vi.resetModules();
    const { run: fresh } = await import('../../src/cli/main.js');
    const io = memoryIO(env());
    const code = await fresh(['node', 'ckym', '--config', config(), 'sync', '--json'], io);
    expect(code).toBe(1);
    expect(JSON.parse(io.out())).toEqual({
      version: 1,
      command: 'sync',
      exitCode: 1,
      error: { kind: 'internal', message: "Cannot read properties of undefined (reading 'id')" },
    });
    expect(io.err()).toMatch(/internal error — please report it[\s\S]*TypeError: Cannot read properties/);
  });
});
