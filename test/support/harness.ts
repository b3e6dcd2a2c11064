/**
 * End-to-end harness: a temporary CKYM_HOME and config, the loopback emulators, and `bin/ckym.js`
 * spawned as a real process (the way cron runs it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startCallKeeperEmulator, type CallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import { startMetrikaEmulator, type MetrikaCounterSeed, type MetrikaEmulator, type MetrikaEmulatorOptions } from '../../src/sandbox/metrika.js';
import { startOAuthEmulator, type OAuthEmulator, type OAuthEmulatorOptions } from '../../src/sandbox/oauth.js';
import { findSecrets } from './secrets.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'ckym.js');

export const API_KEY = 'k3y9TEST0secret7';
export const TOKEN = 'y0_AgAAAAtesttokenSECRETvalue0123456789';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface World {
  home: string;
  configPath: string;
  callkeeper: CallKeeperEmulator;
  metrika: MetrikaEmulator;
  /** Present when the world was made with `oauth` options. */
  oauth: OAuthEmulator | null;
  nowIso: string;
  env: NodeJS.ProcessEnv;
  /** Every byte every spawned ckym printed, for the secrets check. */
  transcript: string[];
  /**
   * What must never show up in that output nor in any file under `home` but the credentials file: the API key and
   * the token to start with; tests add refresh tokens, client secrets, PKCE verifiers. Checked by `close()`.
   */
  secrets: Set<string>;
  writeConfig(config: unknown): void;
  run(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<RunResult>;
  /** Starts ckym and returns the child, for kill -9 tests. */
  start(
    args: string[],
    extraEnv?: NodeJS.ProcessEnv,
    options?: { keepStdin?: boolean },
  ): { child: ChildProcess; done: Promise<RunResult>; stdout: () => string; stderr: () => string };
  close(): Promise<void>;
}

export interface WorldOptions {
  calls: Record<string, unknown>[];
  counters: MetrikaCounterSeed[];
  config: Record<string, unknown>;
  nowIso: string;
  oauth?: OAuthEmulatorOptions;
  /** The emulators' clock (unix ms), for tests that move time on between runs; default: fixed at `nowIso`. */
  now?: () => number;
  /** The CallKeeper API key (default API_KEY), e.g. one with characters URL-encoding changes. */
  apiKey?: string;
  /** More options of the Metrica emulator (e.g. the token's `scopes`). */
  metrika?: Partial<MetrikaEmulatorOptions>;
}

export async function makeWorld(options: WorldOptions): Promise<World> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ckym-e2e-'));
  const nowMs = Date.parse(options.nowIso);
  const now = options.now ?? (() => nowMs);
  const apiKey = options.apiKey ?? API_KEY;
  const callkeeper = await startCallKeeperEmulator({ apiKey, calls: options.calls, now });
  const metrika = await startMetrikaEmulator({ token: TOKEN, counters: options.counters, now, ...options.metrika });
  const oauth = options.oauth ? await startOAuthEmulator({ now, ...options.oauth }) : null;
  const configPath = path.join(home, 'ckym.config.json');
  const transcript: string[] = [];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    CKYM_HOME: path.join(home, 'state'),
    CKYM_CALLKEEPER_KEY: apiKey,
    CKYM_YANDEX_TOKEN: TOKEN,
    CKYM_CALLKEEPER_URL: callkeeper.url,
    CKYM_METRIKA_URL: metrika.url,
    CKYM_NOW: options.nowIso,
    ...(oauth ? { CKYM_OAUTH_URL: oauth.url, CKYM_LOGIN_URL: oauth.loginUrl } : {}),
    NO_COLOR: '1',
  };
  const world: World = {
    home,
    configPath,
    callkeeper,
    metrika,
    oauth,
    nowIso: options.nowIso,
    env,
    transcript,
    secrets: new Set([apiKey, TOKEN]),
    writeConfig(config) {
      fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
    },
    start(args, extraEnv = {}, { keepStdin = false } = {}) {
      const child = spawn(process.execPath, [BIN, '--config', configPath, ...args], {
        cwd: home,
        env: { ...env, ...extraEnv },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      if (!keepStdin) child.stdin!.end();
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const done = new Promise<RunResult>((resolve) => {
        child.on('close', (code, signal) => {
          transcript.push(stdout, stderr);
          resolve({ code, signal, stdout, stderr });
        });
      });
      return { child, done, stdout: () => stdout, stderr: () => stderr };
    },
    run(args, extraEnv) {
      return world.start(args, extraEnv).done;
    },
    /** Shuts the emulators down and removes the home — after checking no secret leaked into it or the output. */
    async close() {
      for (const issued of oauth?.issued ?? []) {
        world.secrets.add(issued.accessToken);
        world.secrets.add(issued.refreshToken);
      }
      const leaks = findSecrets(world, world.secrets);
      await Promise.all([callkeeper.close(), metrika.close(), oauth?.close()]);
      fs.rmSync(home, { recursive: true, force: true });
      if (leaks.length > 0) throw new Error(`secrets leaked: ${leaks.join('; ')}`);
    },
  };
  world.writeConfig(options.config);
  return world;
}

/** Waits until `predicate` holds, polling (for "the upload has reached Metrica" moments). */
export async function until(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Rows that occur more than once (Metrica does not deduplicate: any is a double-counted call). */
export function duplicates(rows: Record<string, string>[]): Record<string, string>[] {
  const seen = new Set<string>();
  const dup: Record<string, string>[] = [];
  for (const r of rows) {
    const k = JSON.stringify(r);
    if (seen.has(k)) dup.push(r);
    seen.add(k);
  }
  return dup;
}

/** A loopback port nobody listens on right now (for yandex.redirectPort). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}
