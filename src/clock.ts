import { ConfigError } from './errors.js';

/** The one source of "now". `CKYM_NOW` (tests only) fixes it, so windows and settle times are reproducible. */
export interface Clock {
  /** Unix milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): Clock {
  const fixed = env.CKYM_NOW?.trim();
  if (!fixed) return systemClock;
  const ms = Date.parse(fixed);
  if (Number.isNaN(ms)) {
    throw new ConfigError(`CKYM_NOW: expected an ISO-8601 time such as 2024-05-01T12:00:00Z; got ${JSON.stringify(fixed)}`);
  }
  return { now: () => ms };
}

export const unixSeconds = (ms: number): number => Math.floor(ms / 1000);
