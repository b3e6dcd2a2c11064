import { z } from 'zod';
import { settingsShape } from './settings.js';

/**
 * The config file's schema (contract keys from ckym.md, plus `network` which tunes retries).
 * Every key has a default, so `{}` is a valid (if useless) config.
 */

export const counterSchema = z.object({
  // A Metrica counter id; above 2^53 a JSON number has already lost digits (1e300, 9007199254740993).
  id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  // Every setting's type and default come from the one table of counter settings.
  ...settingsShape(),
});

export const configSchema = z.object({
  callkeeper: z
    .object({
      method: z.enum(['get', 'getWithRole', 'getByRole']).default('get'),
      timezone: z.string().default('Europe/Moscow'),
    })
    .default({}),
  yandex: z
    .object({
      clientId: z.string().default(''),
      redirectPort: z.number().int().min(1024).max(65535).default(8899),
    })
    .default({}),
  sync: z
    .object({
      initialDays: z.number().int().min(1).max(365).default(7),
      lookbackHours: z.number().min(0).max(24 * 60).default(24),
      settleMinutes: z.number().min(0).max(24 * 60).default(10),
      /**
       * After an upload whose outcome is unknown (timeout, reset, crash), how long Metrica's upload list must
       * have had to show it before ckym concludes it never arrived and sends the rows again.
       */
      confirmGraceMinutes: z.number().min(0).max(24 * 60).default(10),
      /** How long a callback still in progress, scheduled or awaiting its status (1/0, 2/0, 707/0) is waited for. */
      maxWaitHours: z.number().min(1).max(24 * 30).default(72),
    })
    .default({}),
  network: z
    .object({
      /** Attempts per request before a service counts as unavailable. */
      retries: z.number().int().min(0).max(20).default(5),
      /** First backoff delay; doubles each retry (jittered). */
      backoffSeconds: z.number().min(0).max(600).default(2),
      /** Longest `Retry-After` ckym will honour before giving up for this run. */
      maxRetryAfterSeconds: z.number().min(0).max(3600).default(120),
      /** Per-request timeout (an upload that never answers is then checked against Metrica's list). */
      timeoutSeconds: z.number().min(1).max(3600).default(120),
      /**
       * How long one command run may spend retrying services that do not answer (failed attempts and the waits
       * between them, every service and request together) before it gives up (exit 4).
       */
      giveUpSeconds: z.number().min(0).max(24 * 3600).default(30),
    })
    .default({}),
  counters: z.array(counterSchema).default([]),
});

export type Config = z.output<typeof configSchema>;
export type CounterConfig = z.output<typeof counterSchema>;
