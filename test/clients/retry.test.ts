import { describe, expect, it } from 'vitest';
import { Retrier, RetryBudget, retryAfterMs, retryPolicy, type Attempt, type RetryNotice, type RetryPolicy } from '../../src/clients/retry.js';
import { CallKeeperClient } from '../../src/clients/callkeeper.js';
import { MetrikaClient } from '../../src/clients/metrika.js';
import { RemoteError } from '../../src/errors.js';
import { configSchema } from '../../src/config/schema.js';
import { freePort } from '../support/harness.js';
import { FakeTimer } from '../support/fake-timer.js';

/** The policy of a config that leaves `network` at its defaults. */
const DEFAULTS: RetryPolicy = retryPolicy(configSchema.parse({}).network);
const policy = (over: Partial<RetryPolicy> = {}): RetryPolicy => ({ ...DEFAULTS, ...over });
/** No jitter: each backoff is exactly `backoffMs · 2^(n-1)`. */
const middle = () => 0.5;

function retrier(timer: FakeTimer, over: Partial<RetryPolicy> = {}, budget?: RetryBudget, notices?: RetryNotice[]) {
  return new Retrier({ service: 'Metrica', policy: policy(over), timer, budget, random: middle, onRetry: (n) => notices?.push(n) });
}

/** An attempt that fails `failures` times (each taking `tookMs`), then succeeds. */
function flaky(timer: FakeTimer, failures: number, tookMs = 0, retryAfter?: string) {
  let calls = 0;
  const attempt = async (): Promise<Attempt<string>> => {
    calls++;
    timer.advance(tookMs);
    if (calls <= failures) return { ok: false, retry: true, reason: `HTTP 503 (try ${calls})`, retryAfter, error: new RemoteError(`busy ${calls}`) };
    return { ok: true, value: `done after ${calls}` };
  };
  return { attempt, calls: () => calls };
}

const unavailable = (last: { reason: string }, attempts: number, why: string) => new RemoteError(`gave up (${why}) after ${attempts}: ${last.reason}`);

describe('the network defaults', () => {
  it('give up within 30 s per run: network.giveUpSeconds', () => {
    expect(DEFAULTS).toMatchObject({ retries: 5, backoffMs: 2000, giveUpMs: 30_000 });
  });
});

describe('Retrier', () => {
  it('backs off exponentially between attempts and returns the value once one succeeds', async () => {
    const timer = new FakeTimer();
    const notices: RetryNotice[] = [];
    const r = retrier(timer, {}, undefined, notices);
    const f = flaky(timer, 3);
    expect(await r.run('the counter list', f.attempt, unavailable)).toBe('done after 4');
    expect(timer.sleeps).toEqual([2000, 4000, 8000]);
    expect(notices.map((n) => [n.service, n.what, n.attempt, n.delayMs, n.reason])).toEqual([
      ['Metrica', 'the counter list', 1, 2000, 'HTTP 503 (try 1)'],
      ['Metrica', 'the counter list', 2, 4000, 'HTTP 503 (try 2)'],
      ['Metrica', 'the counter list', 3, 8000, 'HTTP 503 (try 3)'],
    ]);
  });

  it('jitters each backoff within ±25 %', async () => {
    for (const random of [() => 0, () => 0.999]) {
      const timer = new FakeTimer();
      const r = new Retrier({ service: 'CallKeeper', policy: policy(), timer, random });
      await r.run('page 0', flaky(timer, 2).attempt, unavailable);
      const [a, b] = timer.sleeps;
      expect(a).toBeGreaterThanOrEqual(1500);
      expect(a).toBeLessThanOrEqual(2500);
      expect(b).toBeGreaterThanOrEqual(3000);
      expect(b).toBeLessThanOrEqual(5000);
    }
  });

  it('stops after the request\'s own retries, with the last failure', async () => {
    const timer = new FakeTimer();
    const r = retrier(timer, { retries: 2, giveUpMs: 3_600_000 });
    const f = flaky(timer, 10);
    await expect(r.run('page 3', f.attempt, unavailable)).rejects.toThrow('gave up (attempts) after 3: HTTP 503 (try 3)');
    expect(f.calls()).toBe(3);
    expect(timer.sleeps).toEqual([2000, 4000]);
  });

  it('throws a final error at once, without retrying', async () => {
    const timer = new FakeTimer();
    const final = new RemoteError('refused for good');
    await expect(retrier(timer).run('x', async () => ({ ok: false, retry: false, error: final }), unavailable)).rejects.toBe(final);
    expect(timer.sleeps).toEqual([]);
  });

  it('honours Retry-After (seconds or an HTTP date), and gives up at once when it asks for more than maxRetryAfter', async () => {
    const timer = new FakeTimer();
    await retrier(timer).run('x', flaky(timer, 1, 0, '7').attempt, unavailable);
    expect(timer.sleeps).toEqual([7000]);

    const dated = new FakeTimer();
    const at = new Date(dated.now() + 5000).toUTCString();
    await retrier(dated).run('x', flaky(dated, 1, 0, at).attempt, unavailable);
    expect(dated.sleeps).toEqual([5000]);

    const long = new FakeTimer();
    await expect(retrier(long, { maxRetryAfterMs: 120_000 }).run('x', flaky(long, 1, 0, '3600').attempt, unavailable)).rejects.toThrow(
      'gave up (retry-after) after 1',
    );
    expect(long.sleeps).toEqual([]);
  });

  it('a refused connection gives up within the run\'s budget (30 s by default), not after the request\'s 62 s of backoff', async () => {
    const timer = new FakeTimer();
    const start = timer.now();
    const f = flaky(timer, 100);
    await expect(retrier(timer).run('x', f.attempt, unavailable)).rejects.toThrow(/gave up \(budget\)/);
    // 2 + 4 + 8 + 16 = 30 s: the last backoff is cut to what was left, then one last try
    expect(timer.sleeps).toEqual([2000, 4000, 8000, 16_000]);
    expect(timer.now() - start).toBe(30_000);
    expect(f.calls()).toBe(5);
  });

  it('books the time failed attempts took, so slow failures spend the budget too', async () => {
    const timer = new FakeTimer();
    const f = flaky(timer, 100, 10_000);
    await expect(retrier(timer).run('x', f.attempt, unavailable)).rejects.toThrow(/budget/);
    // 10 s attempt, 2 s wait, 10 s attempt, 4 s wait (26 s), a 10 s attempt: the budget is gone, no more waits
    expect(timer.sleeps).toEqual([2000, 4000]);
    expect(f.calls()).toBe(3);
  });

  it('shares one budget between every client of a run: once spent, the next failure is final at once', async () => {
    const timer = new FakeTimer();
    const budget = new RetryBudget(30_000);
    const first = retrier(timer, {}, budget);
    await expect(first.run('counter 1', flaky(timer, 100).attempt, unavailable)).rejects.toThrow(/budget/);
    const spent = timer.now();
    const other = new Retrier({ service: 'CallKeeper', policy: policy(), timer, budget, random: middle });
    const f = flaky(timer, 100);
    await expect(other.run('counter 2', f.attempt, unavailable)).rejects.toThrow('gave up (budget) after 1');
    expect(f.calls()).toBe(1);
    expect(timer.now()).toBe(spent);
    // … but a request that works still works
    expect(await other.run('counter 3', flaky(timer, 0).attempt, unavailable)).toBe('done after 1');
  });

  it('a Retry-After longer than what is left of the budget is not waited for', async () => {
    const timer = new FakeTimer();
    const budget = new RetryBudget(30_000);
    budget.spend(25_000);
    await expect(retrier(timer, {}, budget).run('x', flaky(timer, 1, 0, '10').attempt, unavailable)).rejects.toThrow(/budget/);
    expect(timer.sleeps).toEqual([]);
  });

  it('says why it stopped', () => {
    const r = retrier(new FakeTimer());
    expect(r.explain('attempts')).toBe('');
    expect(r.explain('budget')).toBe(' (this run has spent its 30 s of retries: network.giveUpSeconds)');
    expect(r.explain('retry-after')).toBe(' (Metrica asked to wait longer than network.maxRetryAfterSeconds)');
  });

  it('reads Retry-After', () => {
    expect(retryAfterMs(undefined, 0)).toBeNull();
    expect(retryAfterMs(' ', 0)).toBeNull();
    expect(retryAfterMs('2.5', 0)).toBe(2500);
    expect(retryAfterMs('Mon, 20 May 2024 09:00:10 GMT', Date.parse('2024-05-20T09:00:00Z'))).toBe(10_000);
    expect(retryAfterMs('Mon, 20 May 2024 08:00:00 GMT', Date.parse('2024-05-20T09:00:00Z'))).toBe(0);
    expect(retryAfterMs('soon', 0)).toBeNull();
  });
});

describe('a service nobody listens on', () => {
  it('Metrica: `counters list` gives up within the budget, naming the host; the run\'s next request tries once', async () => {
    const port = await freePort();
    const timer = new FakeTimer();
    const notices: RetryNotice[] = [];
    const metrika = new MetrikaClient({
      baseUrl: `http://127.0.0.1:${port}`,
      token: 'y0_not-a-real-token-000',
      policy: policy({ timeoutMs: 2000 }),
      timer,
      onRetry: (n) => notices.push(n),
    });
    const start = timer.now();
    const error = await metrika.counters().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    // jittered backoffs: the budget runs out at the 5th attempt, or the retries at the 6th — within 30 s either way
    expect((error as Error).message).toMatch(
      new RegExp(
        `^Metrica unavailable while reading the counter list: network error ECONNREFUSED at 127\\.0\\.0\\.1:${port} \\(after [56] attempts\\); run again later( \\(this run has spent its 30 s of retries: network\\.giveUpSeconds\\))?$`,
      ),
    );
    expect(timer.now() - start).toBeLessThanOrEqual(30_000);
    expect(notices.length).toBeGreaterThanOrEqual(4);
    const again = await metrika.goals(1).catch((e: unknown) => e);
    expect((again as Error).message).toMatch(/\(after 1 attempt\)/);
  });

  it('CallKeeper: gives up within the budget; the message names the host and never the key', async () => {
    const port = await freePort();
    const timer = new FakeTimer();
    const key = 'k3y9TEST0secret7';
    const callkeeper = new CallKeeperClient({ baseUrl: `http://127.0.0.1:${port}/api/`, apiKey: key, method: 'get', policy: policy({ timeoutMs: 2000 }), timer });
    const error = await (async () => {
      for await (const _ of callkeeper.pages(0, 100)) void _;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as Error).message).toMatch(new RegExp(`^CallKeeper unreachable \\(network error ECONNREFUSED\\) at http://127\\.0\\.0\\.1:${port}/api/\\?json/v3/k3y9…t7/call/get/0/0/100( \\(this run has spent its 30 s of retries: network\\.giveUpSeconds\\))?$`));
    expect((error as Error).message).not.toContain(key);
    expect(timer.sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(30_000);
  });
});
