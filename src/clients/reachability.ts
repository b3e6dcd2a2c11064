/**
 * A service's clock, read from a plain HEAD request that carries no credentials (for `ckym doctor`'s clock
 * check). HTTP stays in src/clients/; this is the one request that needs no client of its own.
 */

/** This machine's clock at the middle of the request, and the server's `Date` header (null when unreadable). */
export async function serverClock(baseUrl: string, timeoutMs: number, systemNow: () => number): Promise<{ systemMs: number; serverMs: number | null }> {
  const before = systemNow();
  try {
    const res = await fetch(baseUrl, { method: 'HEAD', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const after = systemNow();
    const header = res.headers.get('date');
    const ms = header ? Date.parse(header) : Number.NaN;
    // The header has whole seconds, truncated: compare with the middle of that second.
    return { systemMs: Math.round((before + after) / 2), serverMs: Number.isNaN(ms) ? null : ms + 500 };
  } catch {
    return { systemMs: systemNow(), serverMs: null };
  }
}
