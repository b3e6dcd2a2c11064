/**
 * The sandbox: loopback CallKeeper, Metrica and Yandex OAuth emulators with a generated call history,
 * wired to each other (the token OAuth issues is the one Metrica accepts). Used by `ckym sandbox`,
 * `npm run sandbox` and `npm run demo`.
 */
import { startCallKeeperEmulator, type CallKeeperEmulator } from './callkeeper.js';
import { generateCalls, generateCounters } from './generate.js';
import { startMetrikaEmulator, type MetrikaCounterSeed, type MetrikaEmulator } from './metrika.js';
import { startOAuthEmulator, type OAuthConsent, type OAuthEmulator } from './oauth.js';

export const SANDBOX_API_KEY = 'sandbox0key00001';
export const SANDBOX_TOKEN = 'sandbox-token-0001';
export const SANDBOX_CLIENT_ID = 'ckym-sandbox-client';

/** The two counters of ckym.config.example.json, with the goals it names, then the generator's others. */
export const SANDBOX_COUNTERS: MetrikaCounterSeed[] = [
  {
    id: 12345678,
    name: 'shop.example',
    site: 'shop.example',
    permission: 'own',
    goals: [{ id: 301, name: 'Звонок коллтрекинга', type: 'action', conditions: [{ type: 'exact', url: 'calltracking_call_order' }] }],
  },
  {
    id: 87654321,
    name: 'blog.example',
    site: 'blog.example',
    permission: 'edit',
    goals: [{ id: 302, name: 'Обратный звонок', type: 'action', conditions: [{ type: 'exact', url: 'call' }] }],
  },
  ...generateCounters().filter((c) => c.id !== 12345678 && c.id !== 87654321),
];

export interface SandboxOptions {
  calls?: number;
  days?: number;
  seed?: number;
  callkeeperPort?: number;
  metrikaPort?: number;
  oauthPort?: number;
  consent?: OAuthConsent;
  /** Unix ms "now" of the emulators (default: the real clock). */
  now?: () => number;
  /** Told how far the generation of the call history got. */
  onProgress?: (done: number, total: number) => void;
}

export interface Sandbox {
  callkeeper: CallKeeperEmulator;
  metrika: MetrikaEmulator;
  oauth: OAuthEmulator;
  calls: number;
  /** The environment that points ckym at the sandbox. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const now = options.now ?? (() => Date.now());
  const calls = generateCalls({
    count: options.calls ?? 2000,
    seed: options.seed ?? 1,
    nowUnix: Math.floor(now() / 1000),
    days: options.days ?? 14,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const callkeeper = await startCallKeeperEmulator({ apiKey: SANDBOX_API_KEY, calls, port: options.callkeeperPort ?? 0, now });
  const metrika = await startMetrikaEmulator({ token: SANDBOX_TOKEN, counters: SANDBOX_COUNTERS, port: options.metrikaPort ?? 0, now });
  const oauth = await startOAuthEmulator({
    clients: [{ clientId: SANDBOX_CLIENT_ID }],
    user: { login: 'sandbox-user', id: '1130000000000001', display_name: 'Sandbox User' },
    issueAccessToken: () => SANDBOX_TOKEN,
    knownTokens: [{ accessToken: SANDBOX_TOKEN, clientId: SANDBOX_CLIENT_ID }],
    consent: options.consent ?? 'page',
    deviceInterval: 1,
    port: options.oauthPort ?? 0,
    now,
  });
  return {
    callkeeper,
    metrika,
    oauth,
    calls: calls.length,
    env: {
      CKYM_CALLKEEPER_URL: callkeeper.url,
      CKYM_METRIKA_URL: metrika.url,
      CKYM_OAUTH_URL: oauth.url,
      CKYM_LOGIN_URL: oauth.loginUrl,
      CKYM_CALLKEEPER_KEY: SANDBOX_API_KEY,
      CKYM_YANDEX_TOKEN: SANDBOX_TOKEN,
    },
    close: async () => {
      await Promise.all([callkeeper.close(), metrika.close(), oauth.close()]);
    },
  };
}
