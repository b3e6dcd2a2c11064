import { ConfigError } from './errors.js';

/** The one source of "now" for calls, windows and settle times. `CKYM_NOW` (tests only) fixes it. */
export interface Clock {
  /** Unix milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The clock `CKYM_NOW` asks for: fixed at that ISO-8601 time, or the system's when it is not set (null). */
export function clockAt(fixed: string | null): Clock {
  if (fixed === null) return systemClock;
  const ms = Date.parse(fixed);
  if (Number.isNaN(ms)) {
    throw new ConfigError(`CKYM_NOW: expected an ISO-8601 time such as 2024-05-01T12:00:00Z; got ${JSON.stringify(fixed)}`);
  }
  return { now: () => ms };
}

export const unixSeconds = (ms: number): number => Math.floor(ms / 1000);
