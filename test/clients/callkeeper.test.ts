import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CallKeeperClient, parseBody, parseKeepingDigits } from '../../src/clients/callkeeper.js';
import { generateCalls } from '../../src/sandbox/generate.js';
import { AuthError, ConfigError, RemoteError } from '../../src/errors.js';
import type { RetryNotice } from '../../src/clients/retry.js';
import { startCallKeeperEmulator, type CallKeeperEmulator } from '../../src/sandbox/callkeeper.js';
import { FakeTimer } from '../support/fake-timer.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

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

async function collect(c: CallKeeperClient): Promise<{ pages: number[]; ids: string[]; unverified?: true }> {
  const pages: number[] = [];
  const ids: string[] = [];
  let unverified = false;
  for await (const page of c.pages(FROM, TO)) {
    pages.push(page.page);
    if (page.unverified) unverified = true;
    for (const call of page.calls) ids.push(String(call.universalId));
  }
  return unverified ? { pages, ids, unverified } : { pages, ids };
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

describe('parseBody (a page as bytes)', () => {
  /** What parseBody must give: the body decoded as UTF-8 whole, then parseKeepingDigits — or the error that throws. */
  const plain = (body: Buffer): unknown => {
    try {
      return { value: parseKeepingDigits(body.toString('utf8')) };
    } catch (error) {
      return { error: String(error) };
    }
  };
  const fast = (body: Buffer): unknown => {
    try {
      return { value: parseBody(body) };
    } catch (error) {
      return { error: String(error) };
    }
  };
  const bytes = (...parts: (string | number[])[]): Buffer =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

  it('gives what decoding the whole body and parseKeepingDigits give, for every kind of body', () => {
    const cases: Buffer[] = [
      bytes('[{"city":"Новосибирск","tags":["Директ","SEO"],"n":1,"yaClid":"1716195600123456789","ok":true,"x":null}]'),
      // ASCII only, with escapes (an escaped character past ASCII stays as JSON.parse gives it)
      bytes('[{"a":"\\u041f\\u0440\\u0438","b":"\\"\\\\\\/\\n","c":-0.5e-3}]'),
      // raw bytes past ASCII and a \u escape in one body: the escape's character is not a byte to decode
      bytes('[{"a":"Привет","b":"\\u00d0\\u009f"}]'),
      // broken UTF-8: a lone continuation byte, a cut sequence before a quote, before an escape, at the end of a string
      bytes('[{"a":"x', [0x9f], 'y","b":"', [0xd0], '","c":"', [0xd0], '\\n', [0x9f], '","d":"', [0xe2, 0x82], '"}]'),
      bytes('[{"a":"', [0xf0, 0x9f, 0x98, 0x80], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xff], '"}]'),
      // a key past ASCII, a key named __proto__, numbers past 2^53 (kept as digits) next to text past ASCII
      bytes('[{"ключ":"значение","__proto__":"Щ","n":[1716195600123456789,-98765432109876543210],"m":"Ж"}]'),
      bytes('{"inbound":{"error":"No rows found"},"payload":[{"tags":"Директ, SEO","deep":[[["Ё",[12345678901234567]]]]}]}'),
      // a number past 2^53 written with a fraction or an exponent is JSON.parse's
      bytes('[{"f":1.5e300,"g":12345678901234567.5,"h":"й"}]'),
      // a page that is not JSON: a byte past ASCII outside a string, a BOM, HTML, cut short, a bare string, empty
      bytes('[', [0xd0, 0x9f], ']'),
      bytes([0xef, 0xbb, 0xbf], '[{"a":"б"}]'),
      bytes('<html><body>Ошибка</body></html>'),
      bytes('[{"a":"Привет'),
      bytes('"Привет"'),
      bytes('12345678901234567890'),
      bytes(''),
      // leading zeros a number past 2^53 turns into a string (parseKeepingDigits' own reading)
      bytes('[012345678901234567890]'),
    ];
    for (const body of cases) expect(fast(body), body.toString('utf8')).toEqual(plain(body));
    // a bare string or number is parsed as the plain way parses it
    expect(parseBody(bytes('"Привет"'))).toBe('Привет');
  });

  it('gives the same for random bytes inside strings and keys', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = [0x41, 0x22, 0x5c, 0x6e, 0x75, 0x30, 0x80, 0x9f, 0xbf, 0xc2, 0xd0, 0xe0, 0xe2, 0xed, 0xf0, 0xf4, 0xff];
    for (let n = 0; n < 2000; n++) {
      const field = () => Array.from({ length: random(8) }, () => alphabet[random(alphabet.length)]!);
      const body = bytes('[{"a":"', field(), '","', field(), '":"', field(), '"}]');
      expect(fast(body), body.toString('hex')).toEqual(plain(body));
    }
  });

  it("decodes a page's strings past ASCII one by one, never the whole page as UTF-8", () => {
    const page = Buffer.from(JSON.stringify(generateCalls({ count: 1000, seed: 3, nowUnix: TO, days: 30 })), 'utf8');
    expect(page.length).toBeGreaterThan(100_000);
    const decoded: number[] = [];
    const toString = Buffer.prototype.toString;
    const spy = vi.spyOn(Buffer.prototype, 'toString').mockImplementation(function (this: unknown, ...args: unknown[]) {
      const buffer = this as Buffer;
      if ((args[0] ?? 'utf8') === 'utf8') decoded.push(buffer.length);
      return toString.apply(buffer, args as Parameters<Buffer['toString']>);
    });
    let parsed: unknown;
    try {
      parsed = parseBody(page);
    } finally {
      spy.mockRestore();
    }
    expect(parsed).toEqual(JSON.parse(page.toString('utf8')));
    expect(decoded.length).toBeGreaterThan(0);
    expect(Math.max(...decoded)).toBeLessThan(1000);
  });
});

describe('CallKeeperClient against a server that does not behave (issue 12)', () => {
  it("honours CallKeeper's Retry-After (429 and 503) through the one retry module", async () => {
    const timer = new FakeTimer();
    const waits: number[] = [];
    const c = new CallKeeperClient({ baseUrl: emulator.url, apiKey: KEY, method: 'get', policy: { ...policy, backoffMs: 10, maxRetryAfterMs: 10_000 }, timer, onRetry: (n) => waits.push(n.delayMs) });
    emulator.inject({ type: 'status', status: 429, retryAfter: 7, times: 1 });
    emulator.inject({ type: 'status', status: 503, retryAfter: 3, times: 1, page: 1 });
    expect((await collect(c)).ids).toHaveLength(2500);
    expect(waits).toEqual([7000, 3000]);
    expect(timer.sleeps).toEqual([7000, 3000]);
    // longer than network.maxRetryAfterSeconds: not waited for, the run gives up at once
    emulator.inject({ type: 'status', status: 429, retryAfter: 3600, times: 1 });
    const error = await collect(c).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as Error).message).toMatch(/HTTP 429 .*\(CallKeeper asked to wait longer than network\.maxRetryAfterSeconds\)$/);
    expect(timer.sleeps).toEqual([7000, 3000]);
  });

  it('never follows a redirect, to another host or its own: one clear error without the key, and the request stays put', async () => {
    let hits = 0;
    const elsewhere = http.createServer((_req, res) => {
      hits++;
      res.end('[]');
    });
    await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
    const port = (elsewhere.address() as AddressInfo).port;
    try {
      emulator.inject({ type: 'redirect', status: 302, location: `http://127.0.0.1:${port}/steal?json/v3/${KEY}/call/get/0/1/2` });
      const away = await collect(client()).catch((e: unknown) => e);
      expect(away).toBeInstanceOf(ConfigError);
      expect((away as Error).message).toBe(
        `CallKeeper answered HTTP 302, a redirect to http://127.0.0.1:${port}/steal; ckym does not follow redirects (the API key is in the URL). If CallKeeper moved, set CKYM_CALLKEEPER_URL to its new address`,
      );
      emulator.inject({ type: 'redirect', status: 301, location: '/api/index.php' });
      const same = await collect(client()).catch((e: unknown) => e);
      expect((same as Error).message).toMatch(/^CallKeeper answered HTTP 301, a redirect to http:\/\/127\.0\.0\.1:\d+\/api\/index\.php \(the same host\); ckym does not follow/);
      expect(hits).toBe(0);
    } finally {
      await new Promise((r) => elsewhere.close(r));
    }
  });

  it('an empty array on page 0 is not taken as "no calls": asked again when page 1 has calls, else the end, unverified', async () => {
    emulator.inject({ type: 'empty-page', page: 0, times: 1 });
    expect(await collect(client())).toMatchObject({ pages: [0, 1, 2] });
    expect((await collect(client())).ids).toHaveLength(2500);
    emulator.inject({ type: 'empty-page', page: 0, times: policy.retries + 2 });
    const error = await collect(client()).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^CallKeeper answered page 0 empty although page 1 has calls; nothing was advanced/);
    // a window without calls answered [] instead of "No rows found": the end, but marked so no cursor moves
    emulator.setCalls([]);
    emulator.inject({ type: 'empty-array', times: 2 });
    expect(await collect(client())).toEqual({ pages: [0], ids: [], unverified: true });
    expect(await collect(client())).toEqual({ pages: [], ids: [] }); // "No rows found": the documented end
    emulator.setCalls(calls(2500));
  });

  it('a server that ignores the page number stops the fetch at once (RemoteError, exit 4), not after an hour of paging', async () => {
    emulator.requests.length = 0;
    emulator.inject({ type: 'ignore-page', times: 1000 });
    const error = await collect(client()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as Error).message).toBe(
      'CallKeeper answered page 1 with the same calls as page 0: it seems to ignore the page number; stopped instead of paging on. Nothing was advanced; the next run fetches again',
    );
    expect(emulator.requests.map((r) => r.page)).toEqual([0, 1]);
  });
});
