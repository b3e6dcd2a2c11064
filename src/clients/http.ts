import { setTimeout as delay } from 'node:timers/promises';
import type { Got } from 'got';

/** How hard to try a remote service before calling it unavailable (config `network`). */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  backoffMs: number;
  maxRetryAfterMs: number;
  timeoutMs: number;
}

export function retryPolicy(network: {
  retries: number;
  backoffSeconds: number;
  maxRetryAfterSeconds: number;
  timeoutSeconds: number;
}): RetryPolicy {
  return {
    retries: network.retries,
    backoffMs: network.backoffSeconds * 1000,
    maxRetryAfterMs: network.maxRetryAfterSeconds * 1000,
    timeoutMs: network.timeoutSeconds * 1000,
  };
}

/** Told to the caller before each wait, so a TTY can show "retrying in 4 s". */
export interface RetryNotice {
  service: 'CallKeeper' | 'Metrica';
  what: string;
  attempt: number;
  delayMs: number;
  reason: string;
}
export type OnRetry = (notice: RetryNotice) => void;

/**
 * Delay before retry number `attempt` (1-based): exponential with jitter, or the server's `Retry-After`
 * (seconds or an HTTP date). Null when the server asks for a longer wait than the policy allows.
 */
export function retryDelay(attempt: number, policy: RetryPolicy, retryAfter?: string | undefined, now = Date.now()): number | null {
  if (retryAfter !== undefined && retryAfter.trim() !== '') {
    const seconds = Number(retryAfter);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(retryAfter) - now;
    if (Number.isFinite(ms)) {
      if (ms > policy.maxRetryAfterMs) return null;
      return Math.max(0, ms);
    }
  }
  const base = policy.backoffMs * 2 ** (attempt - 1);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

export const sleep = (ms: number): Promise<void> => (ms > 0 ? delay(ms) : Promise.resolve());

/** A network-level failure (no HTTP answer): its code, never its message (which may carry a URL). */
export function networkReason(error: unknown): string {
  const e = error as { code?: string; name?: string };
  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') return 'timed out';
  if (e.code) return `network error ${e.code}`;
  return `network error (${e.name ?? 'unknown'})`;
}

export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A got instance as every ckym client uses it: no retries of its own (ckym decides), no throwing on HTTP
 * errors (the status is classified), text bodies, one timeout per request. got is loaded on first use.
 */
export async function createHttp(options: { timeoutMs: number; followRedirect?: boolean; userAgent?: string | undefined }): Promise<Got> {
  const { got } = await import('got');
  return got.extend({
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: options.followRedirect ?? false,
    responseType: 'text',
    timeout: { request: options.timeoutMs },
    headers: { 'user-agent': options.userAgent ?? 'ckym', accept: 'application/json' },
  });
}

/** A JSON object, or null for anything else (an array, a scalar, not JSON at all). */
export function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
