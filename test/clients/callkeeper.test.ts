import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallKeeperClient, parseKeepingDigits } from '../../src/clients/callkeeper.js';
import { AuthError, ConfigError, RemoteError } from '../../src/errors.js';
import type { RetryNotice } from '../../src/clients/retry.js';
import { startCallKeeperEmulator, type CallKeeperEmulator } from '../../src/sandbox/callkeeper.js';

const KEY = 'a1b2c3d4e5f6g7h8';
const policy = { retries: 3, backoffMs: 1, maxRetryAfterMs: 1000, timeoutMs: 2000, giveUpMs: 60_000 };
const FROM = Date.parse('2024-05-01T00:00:00Z') / 1000;
const TO = Date.parse('2024-05-03T00:00:00Z') / 1000;

/** n calls an hour apart from 2024-05-01 03:00 Moscow. */
function calls(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    const at = new Date(Date.parse('2024-05-01T00:00:00Z') + i * 60_000);
    const msk = new Date(at.getTime() + 3 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
    return { universalId: `u${i}`, callTime: msk, serviceType: 'calltracking', status: 'success' };
  });
}

let emulator: CallKeeperEmulator;
const notices: RetryNotice[] = [];
const client = (key = KEY, method: 'get' | 'getWithRole' = 'get') =>
  new CallKeeperClient({ baseUrl: emulator.url, apiKey: key, method, policy, onRetry: (n) => notices.push(n) });

async function collect(c: CallKeeperClient): Promise<{ pages: number[]; ids: string[] }> {
  const pages: number[] = [];
  const ids: string[] = [];
  for await (const page of c.pages(FROM, TO)) {
    pages.push(page.page);
    for (const call of page.calls) ids.push(String(call.universalId));
  }
  return { pages, ids };
}

beforeAll(async () => {
  emulator = await startCallKeeperEmulator({ apiKey: KEY, calls: calls(2500) });
});
afterAll(() => emulator.close());

describe('CallKeeperClient', () => {
  it('pages by 1000 from page 0 and stops at the short last page', async () => {
    emulator.requests.length = 0;
    const { pages, ids } = await collect(client());
    expect(pages).toEqual([0, 1, 2]);
    expect(ids).toHaveLength(2500);
    expect(new Set(ids).size).toBe(2500);
    expect(emulator.requests.map((r) => [r.page, r.from, r.to])).toEqual([
      [0, FROM, TO],
      [1, FROM, TO],
      [2, FROM, TO],
    ]);
  });

  it('stops on "Incorrect page is set" after an exactly full last page, and on "No rows found"', async () => {
    emulator.setCalls(calls(1000));
    expect((await collect(client())).pages).toEqual([0]);
    emulator.setCalls([]);
    expect(await collect(client())).toEqual({ pages: [], ids: [] });
    emulator.setCalls(calls(2500));
  });

  it('reads the older envelope shape ({inbound, info, payload:[…]})', async () => {
    emulator.inject({ type: 'envelope', times: 3 });
    expect((await collect(client())).ids).toHaveLength(2500);
  });

  it('retries 5xx, HTML pages, garbage, truncated JSON and resets, then succeeds', async () => {
    notices.length = 0;
    emulator.inject({ type: 'status', status: 503, times: 1 });
    emulator.inject({ type: 'html', times: 1, page: 1 });
    emulator.inject({ type: 'truncated', times: 1, page: 2 });
    expect((await collect(client())).ids).toHaveLength(2500);
    expect(notices.map((n) => n.reason)).toEqual([
      expect.stringMatching(/HTTP 503/),
      expect.stringMatching(/an HTML page/),
      expect.stringMatching(/not JSON/),
    ]);
    emulator.inject({ type: 'garbage', times: 1 });
    emulator.inject({ type: 'reset', times: 1 });
    expect((await collect(client())).ids).toHaveLength(2500);
  });

  it('gives up after the policy\'s retries with a RemoteError that does not show the key', async () => {
    emulator.inject({ type: 'status', status: 502, times: policy.retries + 1 }); // every attempt
    const error = await collect(client()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as Error).message).toMatch(/CallKeeper answered HTTP 502 at http:\/\/127\.0\.0\.1:\d+\/api\/\?json\/v3\/a1b2…h8\/call\/get\/0\//);
    expect((error as Error).message).not.toContain(KEY);
  });

  it('maps "User is not recognized" to an AuthError, other envelope errors to a ConfigError', async () => {
    const auth = await collect(client('wrongwrongwrong1')).catch((e: unknown) => e);
    expect(auth).toBeInstanceOf(AuthError);
    expect((auth as Error).message).toMatch(/run "ckym login"/);
    const method = await collect(
      new CallKeeperClient({ baseUrl: emulator.url, apiKey: KEY, method: 'nope' as 'get', policy }),
    ).catch((e: unknown) => e);
    expect(method).toBeInstanceOf(ConfigError);
    expect((method as Error).message).toMatch(/Method does not exist.*callkeeper\.method/);
  });
});

describe('parseKeepingDigits', () => {
  it('keeps an integer past 2^53 as its digits; leaves strings, safe integers and other numbers alone', () => {
    const text =
      '[{"yaClid": 1716195600123456789, "n": -98765432109876543210, "safe": 9007199254740991, "f": 1.5e300, ' +
      '"s": "a \\" 12345678901234567890 \\\\", "t": "1716195600123456789", "nested": {"a": [12345678901234567]}}]';
    expect(parseKeepingDigits(text)).toEqual([
      {
        yaClid: '1716195600123456789',
        n: '-98765432109876543210',
        safe: 9007199254740991,
        f: 1.5e300,
        s: 'a " 12345678901234567890 \\',
        t: '1716195600123456789',
        nested: { a: ['12345678901234567'] },
      },
    ]);
    expect(parseKeepingDigits('{"a": 1, "b": [2, 3]}')).toEqual({ a: 1, b: [2, 3] });
    expect(() => parseKeepingDigits('{"a": 12345678901234567890')).toThrow(SyntaxError);
  });
});
