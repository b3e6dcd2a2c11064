/**
 * A run's first step: a new (or lost) database must not send again what Metrica already has.
 *
 * For each counter of the run that this database has no history of (no cursor, no decision, no batch), Metrica's
 * uploadings lists of the kinds it delivers are read (paged, newest first). When ckym's uploads are there (either
 * comment form, any installation: a lost database had another id), the run stops before anything is fetched or sent
 * — for every counter, not only that one (exit 2, `UploadsInMetrica`) — unless the user chose how to go on:
 * - `--adopt`: each kind's calls at or before the newest call those uploads hold are taken as sent (skipped as
 *   `adopted`, in every run from now on), and the counter's cursor goes there;
 * - `--since`: the user chose the start; the run goes on (and is told when that start is before the newest call held).
 * A counter with history is never checked: a run with nothing new still asks Metrica nothing.
 */
import { ConfigError } from '../errors.js';
import { deliveryKinds } from '../domain/rows.js';
import {
  NO_PRIOR_UPLOADS,
  adoptedFloor,
  mergePrior,
  olderPagesTellNothing,
  withUploadings,
  type AdoptedFloors,
  type ListedUploading,
  type PriorUploads,
} from '../domain/adopt.js';
import type { CounterSettings, DeliveryKind } from '../domain/types.js';
import type { SyncContext, SyncOptions } from './types.js';

/** Metrica's uploadings lists (the Metrica client has this method). */
export interface UploadingsList {
  listUploadings(counterId: number, kind: DeliveryKind, offset: number, limit: number): Promise<ListedUploading[]>;
}

/** Uploadings asked for per request, and at most this many requests per list (10 000 uploads, newest first). */
export const LIST_PAGE = 100;
export const MAX_LIST_PAGES = 100;

/** A counter with no history here whose uploads by ckym are in Metrica's lists. */
export interface FoundUploads {
  counterId: number;
  name: string;
  /** Both kinds' lists together. */
  prior: PriorUploads;
  /** Per kind delivered, what its list says. */
  byKind: Partial<Record<DeliveryKind, PriorUploads>>;
}

/** What `--adopt` did for a counter: the points after which it goes on (unix seconds), per kind. */
export interface AdoptedCounter extends FoundUploads {
  floors: AdoptedFloors;
  /** The cursor it was given: the latest of the points. */
  cursor: number;
}

/**
 * The stop: ckym's uploads are in Metrica for counters this database does not know (exit 2). The command says it
 * with times in the account's zone; this message (UTC) is for whoever else catches it.
 */
export class UploadsInMetrica extends ConfigError {
  constructor(readonly found: FoundUploads[]) {
    super(
      `${found
        .map((f) => `counter ${f.counterId} has no history in this database, but Metrica holds ckym's uploads to it (calls up to ${isoOf(f.prior.newestCall)})`)
        .join('; ')}: nothing was sent; run "ckym sync --adopt" to go on after them, or "ckym sync --since DATE" to choose where to start`,
    );
  }
}

const isoOf = (unix: number | null): string => (unix === null ? 'an unknown time' : new Date(unix * 1000).toISOString().replace('.000Z', 'Z'));

/**
 * Step 0 of a run. Returns the counters `--adopt` took over (empty when there was nothing to adopt); throws
 * `UploadsInMetrica` when the run must stop. Reads nothing when every counter has history, or when `uploadings` is
 * absent (a dry run without a Yandex token: the command warns).
 */
export async function checkPriorUploads(
  ctx: Pick<SyncContext, 'store' | 'counters' | 'uploadings' | 'clock' | 'events'>,
  options: Pick<SyncOptions, 'adopt' | 'since'>,
): Promise<AdoptedCounter[]> {
  const { store, uploadings } = ctx;
  const unknown = ctx.counters.filter((c) => !store.hasHistory(c.id));
  if (unknown.length === 0) return [];
  if (!uploadings) {
    ctx.events?.onPriorUnchecked?.({ counterIds: unknown.map((c) => c.id) });
    return [];
  }
  const found: FoundUploads[] = [];
  for (const counter of unknown) {
    const f = await readLists(uploadings, counter);
    if (f) found.push(f);
  }
  if (found.length === 0) return [];
  if (options.adopt) {
    const now = Math.floor(ctx.clock.now() / 1000);
    return found.map((f) => {
      const floors: AdoptedFloors = {};
      for (const [kind, prior] of Object.entries(f.byKind) as [DeliveryKind, PriorUploads][]) {
        const floor = adoptedFloor(prior, now);
        if (floor !== null) floors[kind] = floor;
      }
      const cursor = Math.max(...Object.values(floors));
      store.adopt(f.counterId, floors, cursor);
      const adopted = { ...f, floors, cursor };
      ctx.events?.onAdopted?.(adopted);
      return adopted;
    });
  }
  if (options.since !== undefined) {
    for (const f of found) ctx.events?.onPriorUploads?.({ ...f, since: options.since });
    return [];
  }
  throw new UploadsInMetrica(found);
}

/** The counter's lists of the kinds it delivers; null when none holds an upload by ckym. */
async function readLists(list: UploadingsList, counter: CounterSettings): Promise<FoundUploads | null> {
  const byKind: Partial<Record<DeliveryKind, PriorUploads>> = {};
  let prior = NO_PRIOR_UPLOADS;
  for (const kind of deliveryKinds(counter)) {
    let kindPrior = NO_PRIOR_UPLOADS;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const uploads = await list.listUploadings(counter.id, kind, page * LIST_PAGE, LIST_PAGE);
      kindPrior = withUploadings(kindPrior, uploads);
      if (uploads.length < LIST_PAGE || olderPagesTellNothing(kindPrior, uploads)) break;
    }
    if (kindPrior.uploads > 0) byKind[kind] = kindPrior;
    prior = mergePrior(prior, kindPrior);
  }
  return prior.uploads > 0 ? { counterId: counter.id, name: counter.name, prior, byKind } : null;
}
