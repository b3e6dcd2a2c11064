/**
 * Metrica's uploadings lists as a second record of what ckym sent: for a counter this database has no history of (a
 * new database, or one that was lost), what the lists say — whether ckym uploaded to it before, when the last upload
 * was, and the newest call those uploads hold, after which `sync --adopt` goes on. Pure: uploadings in, facts out.
 *
 * The newest call is read from the comment (`ckym<install>b<id>t<newest DateTime>`). A comment of the old form
 * (`ckym batch <hex>-<id>`) has no such part: its upload time (`create_time`) stands for it — never earlier than any
 * call the upload held (a call is uploaded after it happened), so going on after it sends nothing twice; calls made
 * between the upload's newest call and its upload time that were not in it are the price (README: "A lost database").
 */
import { parseBatchComment, parseLegacyBatchComment } from './comment.js';
import type { Call, DeliveryKind } from './types.js';
import type { DeliveryDecision } from './deliveries.js';

/** An uploading as Metrica lists it: only what this module reads (anything may be missing). */
export interface ListedUploading {
  comment?: unknown;
  create_time?: unknown;
}

/** What one counter's list of one kind says about ckym's uploads (all unix seconds). */
export interface PriorUploads {
  /** ckym's uploads found (either comment form, any installation). */
  uploads: number;
  /** The newest call they hold: the largest `t…` of the comments (an old-form comment: its upload time). Null with none. */
  newestCall: number | null;
  /** When the last of them was uploaded (`create_time`); null when Metrica gave no readable time. */
  lastUpload: number | null;
  /** The installations (databases) that sent them, as their comments name them. */
  installations: string[];
  /** How many were of the old comment form (their upload time stands for their newest call). */
  legacy: number;
  /** ckym's uploads whose newest call could not be told (an old-form comment without a readable `create_time`). */
  undated: number;
}

export const NO_PRIOR_UPLOADS: PriorUploads = { uploads: 0, newestCall: null, lastUpload: null, installations: [], legacy: 0, undated: 0 };

/** `create_time` (`2024-05-20T12:00:00+03:00`) as unix seconds; null when it is not a readable time. */
export function uploadTime(createTime: unknown): number | null {
  if (typeof createTime !== 'string' || !/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(createTime)) return null;
  const ms = Date.parse(createTime.replace(' ', 'T'));
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}

const later = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.max(a, b));

/** `prior` with one more page of a list taken in (pages come newest first; the order does not matter here). */
export function withUploadings(prior: PriorUploads, page: readonly ListedUploading[]): PriorUploads {
  let { uploads, newestCall, lastUpload, legacy, undated } = prior;
  const installations = new Set(prior.installations);
  for (const u of page) {
    if (typeof u.comment !== 'string') continue;
    const facts = parseBatchComment(u.comment);
    const old = facts ? null : parseLegacyBatchComment(u.comment);
    if (!facts && !old) continue;
    const at = uploadTime(u.create_time);
    uploads++;
    lastUpload = later(lastUpload, at);
    installations.add((facts ?? old)!.installation);
    if (facts) {
      newestCall = later(newestCall, facts.newest);
    } else {
      legacy++;
      if (at === null) undated++;
      else newestCall = later(newestCall, at);
    }
  }
  return { uploads, newestCall, lastUpload, installations: [...installations].sort(), legacy, undated };
}

/**
 * Whether the pages after this one (older uploads: the list is newest first) can be skipped: every upload on it was
 * made before the newest call found so far, and an upload holds no call made after it. A page without a readable
 * time on each upload says nothing of the kind — the caller reads on while pages are full.
 */
export function olderPagesTellNothing(prior: PriorUploads, page: readonly ListedUploading[]): boolean {
  // an upload whose newest call cannot be told puts the adopted point at "now" (adoptedFloor): nothing older matters
  if (prior.undated > 0) return true;
  if (prior.newestCall === null || page.length === 0) return false;
  return page.every((u) => {
    const at = uploadTime(u.create_time);
    return at !== null && at < prior.newestCall!;
  });
}

/** Both kinds of a counter's lists together: the facts the stop and `--adopt` go by. */
export function mergePrior(a: PriorUploads, b: PriorUploads): PriorUploads {
  return {
    uploads: a.uploads + b.uploads,
    newestCall: later(a.newestCall, b.newestCall),
    lastUpload: later(a.lastUpload, b.lastUpload),
    installations: [...new Set([...a.installations, ...b.installations])].sort(),
    legacy: a.legacy + b.legacy,
    undated: a.undated + b.undated,
  };
}

/**
 * What `--adopt` takes as already sent, per kind: every call at or before the newest call of that kind's uploads.
 * When some upload's newest call cannot be told (an old-form comment with no upload time), `now` stands for it: every
 * call made so far is taken as sent — nothing twice, at the price of calls that were never uploaded.
 */
export function adoptedFloor(prior: PriorUploads, now: number): number | null {
  if (prior.uploads === 0) return null;
  if (prior.undated > 0 || prior.newestCall === null) return now;
  return prior.newestCall;
}

/** The adopted points of a counter: a kind's calls at or before its point were sent by the database that was lost. */
export type AdoptedFloors = Partial<Record<DeliveryKind, number>>;

/**
 * A call's decisions for a counter with adopted points: a delivery of a kind whose point is at or after the call is
 * skipped as `adopted` (Metrica's list says ckym sent it already), whatever it would have been.
 */
export function respectAdopted(decisions: DeliveryDecision[], call: Pick<Call, 'callTime'>, floors: AdoptedFloors | undefined): DeliveryDecision[] {
  if (!floors) return decisions;
  return decisions.map((d) => {
    const floor = floors[d.kind];
    return floor !== undefined && call.callTime <= floor ? { kind: d.kind, state: 'skipped', reason: 'adopted' } : d;
  });
}

/** The newest call of several counters' uploads (the latest `newestCall`); null when none is known. */
export function newestCallOf(found: readonly { prior: PriorUploads }[]): number | null {
  return found.reduce<number | null>((m, f) => later(m, f.prior.newestCall), null);
}

/** The `--since` to suggest for going on after `newestCall`: the first whole minute after it (unix seconds). */
export function sinceAfter(newestCall: number): number {
  return Math.floor(newestCall / 60) * 60 + 60;
}
