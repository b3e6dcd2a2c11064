import { setTimeout as delay } from 'node:timers/promises';

/**
 * How ckym retries a remote service — one module for every client (CallKeeper, Metrica) and for the upload protocol.
 *
 * - Per request: at most `retries` retries, each after an exponential, jittered backoff, or after the server's
 *   `Retry-After` (one longer than `maxRetryAfterMs` is not waited for: the request gives up at once).
 * - Per command run: ONE budget (`giveUpMs`, config `network.giveUpSeconds`) shared by every client of the run:
 *   the time spent on failed attempts and on the waits between them, whatever the service, counter or request.
 *   Once it is spent, the next failure is final at once — a service that does not answer costs a run at most
 *   that long, however many counters, pages or requests it has.
 *
 * Time comes from a `Timer` (now + sleep), so tests run on a fake clock instead of waiting.
 */

/** How hard to try a remote service before calling it unavailable (config `network`). */
export interface RetryPolicy {
  /** Retries after the first attempt, per request. */
  retries: number;
  backoffMs: number;
  maxRetryAfterMs: number;
  timeoutMs: number;
  /** The run's retry budget: time spent failing (attempts and waits), all services together. */
  giveUpMs: number;
}

export function retryPolicy(network: {
  retries: number;
  backoffSeconds: number;
  maxRetryAfterSeconds: number;
  timeoutSeconds: number;
  giveUpSeconds: number;
}): RetryPolicy {
  return {
    retries: network.retries,
    backoffMs: network.backoffSeconds * 1000,
    maxRetryAfterMs: network.maxRetryAfterSeconds * 1000,
    timeoutMs: network.timeoutSeconds * 1000,
    giveUpMs: network.giveUpSeconds * 1000,
  };
}

/** The time source of retrying: unix ms, and a wait. Never `CKYM_NOW` (that fixes the calls' time, not the wall clock). */
export interface Timer {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const sleep = (ms: number): Promise<void> => (ms > 0 ? delay(ms) : Promise.resolve());

export const systemTimer: Timer = { now: () => Date.now(), sleep };

/** Told to the caller before each wait, so a terminal can show "retrying in 4 s". */
export interface RetryNotice {
  service: Service;
  what: string;
  attempt: number;
  delayMs: number;
  reason: string;
}
export type OnRetry = (notice: RetryNotice) => void;

export type Service = 'CallKeeper' | 'Metrica';

/** What one command run may still spend on retries; shared by all the run's clients. */
export class RetryBudget {
  private spentMs = 0;

  constructor(readonly limitMs: number) {}

  get remainingMs(): number {
    return Math.max(0, this.limitMs - this.spentMs);
  }

  spend(ms: number): void {
    if (ms > 0) this.spentMs += ms;
  }
}

/** A failed attempt, as the client classified it. */
export interface Failure {
  /** Short, for messages: `HTTP 503 backend_error`, `network error ECONNREFUSED at 127.0.0.1:9`. Never a secret. */
  reason: string;
  /** The server's `Retry-After`, if it sent one. */
  retryAfter?: string | undefined;
}

/** Why a request stopped trying: its own retries used up, a `Retry-After` too long, or the run's budget spent. */
export type GiveUp = 'attempts' | 'retry-after' | 'budget';

export type Next = { retry: true; delayMs: number } | { retry: false; why: GiveUp };

/** One attempt's result for `Retrier.run`: the value, a failure worth retrying, or a final error. */
export type Attempt<T> =
  | { ok: true; value: T }
  | ({ ok: false; retry: true; error: Error } & Failure)
  | { ok: false; retry: false; error: Error };

export interface RetrierOptions {
  service: Service;
  policy: RetryPolicy;
  /** The run's budget; a client made alone gets one of its own (`policy.giveUpMs`). */
  budget?: RetryBudget | undefined;
  timer?: Timer | undefined;
  onRetry?: OnRetry | undefined;
  /** [0, 1): the backoff's jitter. */
  random?: (() => number) | undefined;
}

export class Retrier {
  readonly service: Service;
  readonly policy: RetryPolicy;
  readonly budget: RetryBudget;
  readonly timer: Timer;
  private readonly onRetry: OnRetry | undefined;
  private readonly random: () => number;

  constructor(options: RetrierOptions) {
    this.service = options.service;
    this.policy = options.policy;
    this.budget = options.budget ?? new RetryBudget(options.policy.giveUpMs);
    this.timer = options.timer ?? systemTimer;
    this.onRetry = options.onRetry;
    this.random = options.random ?? Math.random;
  }

  /**
   * After failed attempt number `attempt` (1-based), which took `tookMs`: whether to try again, and after how long.
   * The attempt's time is booked against the run's budget. A backoff longer than what is left of the budget is
   * shortened to it (one last try); a `Retry-After` is never shortened: a server that asks for more gets nothing.
   */
  next(attempt: number, failure: Failure, tookMs: number): Next {
    this.budget.spend(tookMs);
    if (attempt > this.policy.retries) return { retry: false, why: 'attempts' };
    const left = this.budget.remainingMs;
    const asked = retryAfterMs(failure.retryAfter, this.timer.now());
    if (asked !== null) {
      if (asked > this.policy.maxRetryAfterMs) return { retry: false, why: 'retry-after' };
      if (asked > left) return { retry: false, why: 'budget' };
      return { retry: true, delayMs: asked };
    }
    if (left <= 0) return { retry: false, why: 'budget' };
    return { retry: true, delayMs: this.backoff(attempt) };
  }

  /** The backoff after attempt number `attempt` (1-based): exponential, jittered, never past the run's budget. */
  backoff(attempt: number): number {
    const ms = this.policy.backoffMs * 2 ** (attempt - 1) * (0.75 + this.random() * 0.5);
    return Math.round(Math.min(ms, this.budget.remainingMs));
  }

  /** Waits before a retry (booked against the budget), telling `onRetry` first. */
  async wait(delayMs: number, notice: { what: string; attempt: number; reason: string }): Promise<void> {
    this.onRetry?.({ service: this.service, ...notice, delayMs });
    await this.pause(delayMs);
  }

  /** Waits, booked against the budget, telling no one (a moment given to the server before asking it something). */
  async pause(ms: number): Promise<void> {
    this.budget.spend(ms);
    await this.timer.sleep(ms);
  }

  /**
   * The retry loop of a request: `attempt` until it gives a value or a final error; a retryable failure is tried
   * again per `next`. When the retries stop, `unavailable` makes the error (from the last failure).
   */
  async run<T>(
    what: string,
    attempt: () => Promise<Attempt<T>>,
    unavailable: (last: Failure & { error: Error }, attempts: number, why: GiveUp) => Error,
  ): Promise<T> {
    for (let n = 1; ; n++) {
      const started = this.timer.now();
      const result = await attempt();
      if (result.ok) return result.value;
      if (!result.retry) throw result.error;
      const next = this.next(n, result, this.timer.now() - started);
      if (!next.retry) throw unavailable(result, n, next.why);
      await this.wait(next.delayMs, { what, attempt: n, reason: result.reason });
    }
  }

  /** A few words on why retrying stopped, for the end of a message (empty when the request's retries ran out). */
  explain(why: GiveUp): string {
    if (why === 'budget') return ` (this run has spent its ${seconds(this.budget.limitMs)} of retries: network.giveUpSeconds)`;
    if (why === 'retry-after') return ` (${this.service} asked to wait longer than network.maxRetryAfterSeconds)`;
    return '';
  }
}

/** `Retry-After` (seconds or an HTTP date) as a wait in ms; null when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | null {
  if (value === undefined || value.trim() === '') return null;
  const secs = Number(value);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.max(0, ms) : null;
}

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
