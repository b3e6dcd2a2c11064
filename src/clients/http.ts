import type { Got } from 'got';

/** Network errors that happen before a request leaves this machine: the server certainly did not get it. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * A network-level failure (no HTTP answer): its code, never the error's message (which may carry a whole URL, and
 * CallKeeper's URL holds the key). With `url`, a connection that could not be made names the host it was for.
 */
export function networkReason(error: unknown, url?: string): string {
  const e = error as { code?: string; name?: string };
  if (e.name === 'TimeoutError' || e.code === 'ETIMEDOUT') return 'timed out';
  const at = url && neverSent(error) ? ` at ${hostOf(url)}` : '';
  if (e.code) return `network error ${e.code}${at}`;
  return `network error (${e.name ?? 'unknown'})`;
}

/** True when the request never reached the server (refused, unknown host…): resending it cannot double anything. */
export function neverSent(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code !== undefined && NEVER_SENT.has(code);
}

/** `host:port` of a base URL (no path, query or credentials), for messages. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(an unreadable URL)';
  }
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
