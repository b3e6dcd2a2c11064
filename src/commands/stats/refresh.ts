import { AuthError, MetrikaError, RemoteError } from '../../errors.js';
import type { MetrikaClient, Uploading } from '../../clients/metrika.js';
import type { Store } from '../../store/store.js';
import { recentBatches, type StatsFilter } from '../../store/stats.js';

export interface RefreshResult {
  /** Uploads asked about. */
  checked: number;
  /** Uploads whose Metrica status changed since ckym last looked. */
  changed: { batchId: number; from: string | null; to: string | null }[];
  /** Uploads Metrica answered about with an error (e.g. it no longer knows the uploading). */
  errors: { batchId: number; message: string }[];
  /** Set when Metrica stayed unavailable: the refresh stopped there (exit 4). */
  unavailable: string | null;
}

export interface RefreshContext {
  store: Store;
  metrika: Pick<MetrikaClient, 'uploading'>;
  filter: StatsFilter;
  /** The newest this many uploads (those stats lists). */
  limit: number;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/**
 * `stats --refresh`: asks Metrica for the current state of each listed sent upload, one request at a time,
 * and records it. A refused token stops everything (exit 3); Metrica unavailable stops the refresh, keeping
 * what was learnt; an error about one upload is noted and the others go on.
 */
export async function refreshUploadings(ctx: RefreshContext): Promise<RefreshResult> {
  const batches = recentBatches(ctx.store, ctx.limit, ctx.filter).filter((b) => b.status === 'sent' && b.uploadingId !== null);
  const result: RefreshResult = { checked: 0, changed: [], errors: [], unavailable: null };
  for (const batch of batches) {
    ctx.onProgress?.(result.checked, batches.length);
    let uploading: Uploading;
    try {
      uploading = await ctx.metrika.uploading(batch.counterId, batch.kind, batch.uploadingId!);
    } catch (error) {
      if (error instanceof AuthError) throw error;
      if (error instanceof MetrikaError) {
        result.checked++;
        result.errors.push({ batchId: batch.id, message: error.message });
        continue;
      }
      if (error instanceof RemoteError) {
        result.unavailable = error.message;
        break;
      }
      throw error;
    }
    result.checked++;
    if (!uploading || typeof uploading !== 'object') {
      result.errors.push({ batchId: batch.id, message: `Metrica answered without the uploading ${batch.uploadingId}` });
      continue;
    }
    const status = typeof uploading.status === 'string' ? uploading.status : null;
    if (status !== batch.metrikaStatus) result.changed.push({ batchId: batch.id, from: batch.metrikaStatus, to: status });
    ctx.store.recordUploadingStatus(batch.id, { ...uploading, id: uploading.id ?? batch.uploadingId!, status: status ?? undefined });
  }
  return result;
}
