/**
 * The `comment` every upload carries: how ckym finds its own uploads in Metrica's uploadings list.
 *
 * Metrica accepts only digits and letters in a comment (otherwise 400 «Комментарий содержит недопустимые символы.»),
 * at most 255 of them. ckym's form names the installation, the batch and the newest call the batch holds:
 *
 *   `ckym` + installation id (12 lowercase hex) + `b` + batch id + `t` + newest DateTime (unix seconds)
 *   e.g. `ckym3f2a9c0d1e2fb42t1732900000`
 *
 * The newest DateTime lets a new (or lost) database continue after what was already uploaded (`sync --adopt`).
 * Batches sent before this form carry `ckym batch <hex>-<id>`; their stored comment is what reconciliation looks
 * for, so they stay recognised. Pure: text in, facts out.
 */

/** What a ckym comment says. */
export interface BatchCommentFacts {
  /** 12 lowercase hex digits: the database that sent it. */
  installation: string;
  batchId: number;
  /** Unix seconds: the newest `DateTime` among the batch's rows. */
  newest: number;
}

const COMMENT = /^ckym([0-9a-f]{12})b([0-9]+)t([0-9]+)$/;
const LEGACY = /^ckym batch ([0-9a-f]+)-([0-9]+)$/;
/** What Metrica lets a comment hold (the documentation: digits, Latin and Cyrillic letters). */
const ALLOWED = /^[0-9A-Za-zА-Яа-яЁё]*$/;
export const MAX_COMMENT_LENGTH = 255;

/** The comment of a batch, fixed when the batch is sealed. */
export function formatBatchComment(facts: BatchCommentFacts): string {
  if (!/^[0-9a-f]{12}$/.test(facts.installation)) throw new RangeError(`not an installation id: ${JSON.stringify(facts.installation)}`);
  if (!Number.isSafeInteger(facts.batchId) || facts.batchId < 0) throw new RangeError(`not a batch id: ${facts.batchId}`);
  // A row dated before 1970 never passes validation; a negative time must still not put a "-" in the comment.
  const newest = Math.max(0, Math.trunc(facts.newest));
  return `ckym${facts.installation}b${facts.batchId}t${newest}`;
}

/** The facts of a comment in ckym's form; null for anything else (the old form included: see `parseLegacyBatchComment`). */
export function parseBatchComment(comment: string): BatchCommentFacts | null {
  const m = COMMENT.exec(comment);
  if (!m) return null;
  const batchId = Number(m[2]);
  const newest = Number(m[3]);
  if (!Number.isSafeInteger(batchId) || !Number.isSafeInteger(newest)) return null;
  return { installation: m[1]!, batchId, newest };
}

/** A comment of the form ckym used before (`ckym batch <hex>-<id>`, refused by Metrica today): its installation and batch. */
export function parseLegacyBatchComment(comment: string): { installation: string; batchId: number } | null {
  const m = LEGACY.exec(comment);
  if (!m) return null;
  const batchId = Number(m[2]);
  return Number.isSafeInteger(batchId) ? { installation: m[1]!, batchId } : null;
}

/** True for an upload ckym made, in either form. */
export function isCkymComment(comment: string): boolean {
  return parseBatchComment(comment) !== null || parseLegacyBatchComment(comment) !== null;
}

/** True when Metrica accepts `comment` as it is: digits and letters only, at most 255 characters. */
export function commentAllowed(comment: string): boolean {
  return [...comment].length <= MAX_COMMENT_LENGTH && ALLOWED.test(comment);
}
