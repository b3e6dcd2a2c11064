/**
 * Metrica's linking switches and thresholds, read as ckym acts on them. Pure: the threshold's text in, a verdict out.
 *
 * A counter has two switches: calls (`calls_extended_threshold`, read with `calls_visit_join_threshold`) and offline
 * conversions (`extended_threshold` / `visit_join_threshold`). A threshold is the date from which uploaded data can
 * be joined to visits; rows dated before it go in a file of their own, sent with Metrica's `ignore_…_threshold=1`
 * (as Yandex's own API tests upload old dates), so that a refusal of old rows never holds back fresh ones.
 */
import type { DeliveryKind } from './types.js';

export type Linking =
  /** On: rows dated before `since` (unix seconds) go in their own file; `threshold` is Metrica's text. */
  | { state: 'on'; since: number; threshold: string }
  /** Off (no threshold), or a threshold not reached yet (`until`): Metrica refuses uploads meanwhile. */
  | { state: 'off'; until: string | null }
  /** Not known (a dry run asks no one; Metrica did not say): upload as if on, nothing split off. */
  | { state: 'unknown'; why: string };

// Stryker disable next-line Regex: without the `^`, text before the date is still refused: the date read back must start the text
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const LOCAL = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$/;
const ZONED = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** The latest a wall time without a zone can be, anywhere (UTC−12), so that no older row is taken for a fresh one. */
const WESTMOST = 12 * 3600;

/**
 * A threshold text as unix seconds, or null when it cannot be read. The answer's shape is unconfirmed: a date
 * (`2024-05-01`) is taken as its start in the westernmost time zone (the latest that date can begin), a time
 * without a zone likewise, a time with a zone exactly.
 */
export function thresholdSeconds(text: string): number | null {
  const t = text.trim();
  const date = DATE.exec(t);
  if (date) {
    const ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    return Number.isFinite(ms) && new Date(ms).toISOString().startsWith(t) ? ms / 1000 + WESTMOST : null;
  }
  const local = LOCAL.exec(t);
  if (local) {
    const ms = Date.parse(`${local[1]}T${local[2]}Z`);
    return Number.isNaN(ms) ? null : Math.floor(ms / 1000) + WESTMOST;
  }
  if (ZONED.test(t)) {
    const ms = Date.parse(t.replace(' ', 'T'));
    return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
  }
  return null;
}

/** What Metrica's threshold answer (null = none) means at `now` (unix seconds). */
export function linkingFrom(threshold: string | null, now: number): Linking {
  if (threshold === null || threshold.trim() === '') return { state: 'off', until: null };
  const since = thresholdSeconds(threshold);
  if (since === null) return { state: 'unknown', why: `Metrica's threshold ${JSON.stringify(threshold)} is not a date ckym can read` };
  // A threshold after now: "upload will become available" then.
  if (since > now + WESTMOST) return { state: 'off', until: threshold.trim() };
  return { state: 'on', since, threshold: threshold.trim() };
}

/** Rows dated before this (unix seconds) go in their own file; null when nothing is split off. */
export function oldBefore(linking: Linking): number | null {
  return linking.state === 'on' ? linking.since : null;
}

/** Which of a counter's switches a kind of delivery needs. */
export function switchName(kind: DeliveryKind): string {
  return kind === 'call' ? 'call linking' : 'conversion linking';
}
