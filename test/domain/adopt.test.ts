import { describe, expect, it } from 'vitest';
import {
  NO_PRIOR_UPLOADS,
  adoptedFloor,
  mergePrior,
  newestCallOf,
  olderPagesTellNothing,
  respectAdopted,
  sinceAfter,
  uploadTime,
  withUploadings,
} from '../../src/domain/adopt.js';
import type { DeliveryDecision } from '../../src/domain/deliveries.js';

const T = 1_716_195_600; // 2024-05-20T09:00:00Z
const at = (unix: number) => new Date((unix + 3 * 3600) * 1000).toISOString().replace('.000Z', '+03:00'); // Moscow, as Metrica writes it

describe("what Metrica's uploadings list says of ckym's uploads", () => {
  it("reads ckym's comments of either form and any installation; other comments and entries without one are not ckym's", () => {
    const prior = withUploadings(NO_PRIOR_UPLOADS, [
      { id: 5, comment: `ckym0a1b2c3d4e5fb42t${T - 600}`, create_time: at(T) },
      { id: 4, comment: `ckym0a1b2c3d4e5fb41t${T - 7200}`, create_time: at(T - 3600) },
      { id: 3, comment: 'ckym batch ffeeddccbbaa-7', create_time: at(T - 86_400) },
      { id: 2, comment: 'crm export 5', create_time: at(T + 60) },
      { id: 1, create_time: at(T + 120) },
      { comment: 42 },
    ] as never[]);
    expect(prior).toEqual({
      uploads: 3,
      newestCall: T - 600,
      lastUpload: T,
      installations: ['0a1b2c3d4e5f', 'ffeeddccbbaa'],
      legacy: 1,
      undated: 0,
    });
  });

  it("an old-form comment's upload time stands for its newest call (an upload holds no call made after it)", () => {
    const prior = withUploadings(NO_PRIOR_UPLOADS, [{ comment: 'ckym batch 0a1b2c3d4e5f-3', create_time: at(T) }]);
    expect([prior.newestCall, prior.lastUpload, prior.legacy]).toEqual([T, T, 1]);
    expect(adoptedFloor(prior, T + 999)).toBe(T);
  });

  it('an old-form comment without a readable upload time: the point is now (nothing twice; what was never sent is the price)', () => {
    const prior = withUploadings(NO_PRIOR_UPLOADS, [
      { comment: `ckym0a1b2c3d4e5fb1t${T - 600}`, create_time: at(T) },
      { comment: 'ckym batch 0a1b2c3d4e5f-3', create_time: 'yesterday' },
    ]);
    expect(prior.undated).toBe(1);
    expect(adoptedFloor(prior, T + 999)).toBe(T + 999);
    expect(adoptedFloor(NO_PRIOR_UPLOADS, T)).toBeNull();
  });

  it('create_time: ISO with an offset (or a space), else null', () => {
    expect(uploadTime('2024-05-20T12:00:00+03:00')).toBe(T);
    expect(uploadTime('2024-05-20 12:00:00+03:00')).toBe(T);
    expect([uploadTime(undefined), uploadTime(null), uploadTime(T), uploadTime('soon'), uploadTime('2024-13-45T99:00:00Z')]).toEqual([null, null, null, null, null]);
  });

  it('paging stops once a page holds only uploads made before the newest call found (older ones cannot hold a newer call)', () => {
    const newest = withUploadings(NO_PRIOR_UPLOADS, [{ comment: `ckym0a1b2c3d4e5fb9t${T}`, create_time: at(T + 60) }]);
    expect(olderPagesTellNothing(newest, [{ comment: `ckym0a1b2c3d4e5fb9t${T}`, create_time: at(T + 60) }])).toBe(false);
    expect(olderPagesTellNothing(newest, [{ comment: 'x', create_time: at(T - 1) }, { create_time: at(T - 500) }])).toBe(true);
    expect(olderPagesTellNothing(newest, [{ comment: 'x', create_time: at(T - 1) }, { comment: 'y' }])).toBe(false);
    expect(olderPagesTellNothing(NO_PRIOR_UPLOADS, [{ comment: 'x', create_time: at(T - 1) }])).toBe(false);
  });

  it('both kinds together: counts add up, the latest times win', () => {
    const calls = withUploadings(NO_PRIOR_UPLOADS, [{ comment: `ckym0a1b2c3d4e5fb1t${T - 60}`, create_time: at(T) }]);
    const conversions = withUploadings(NO_PRIOR_UPLOADS, [{ comment: `ckym0a1b2c3d4e5fb2t${T - 30}`, create_time: at(T - 10) }]);
    expect(mergePrior(calls, conversions)).toMatchObject({ uploads: 2, newestCall: T - 30, lastUpload: T, installations: ['0a1b2c3d4e5f'] });
  });
});

describe('the adopted point in the decisions', () => {
  const decisions: DeliveryDecision[] = [
    { kind: 'call', state: 'pending', row: ['1'], idType: 'clientId' },
    { kind: 'conversion', state: 'waiting', reason: 'settling' },
  ];

  it("a kind's delivery at or before its point is skipped as `adopted`; after it, or a kind without a point, as decided", () => {
    expect(respectAdopted(decisions, { callTime: T }, { call: T })).toEqual([
      { kind: 'call', state: 'skipped', reason: 'adopted' },
      { kind: 'conversion', state: 'waiting', reason: 'settling' },
    ]);
    expect(respectAdopted(decisions, { callTime: T + 1 }, { call: T, conversion: T })).toEqual(decisions);
    expect(respectAdopted(decisions, { callTime: T - 5 }, { call: T, conversion: T }).map((d) => d.state)).toEqual(['skipped', 'skipped']);
    expect(respectAdopted(decisions, { callTime: 0 }, undefined)).toBe(decisions);
  });

  it('the --since suggested: the first whole minute after the newest call', () => {
    expect(sinceAfter(T - 30)).toBe(T);
    expect(sinceAfter(T)).toBe(T + 60);
  });
});

describe('uploadings lists at their edges (mutation testing)', () => {
  it('installations are listed once each, sorted, whatever order the list gives them in', () => {
    const prior = withUploadings(NO_PRIOR_UPLOADS, [
      { comment: `ckymffeeddccbbaab1t${T - 60}`, create_time: at(T) },
      { comment: 'ckym batch 0a1b2c3d4e5f-7', create_time: at(T - 60) },
      { comment: `ckymffeeddccbbaab2t${T - 90}`, create_time: at(T - 30) },
    ]);
    expect(prior.installations).toEqual(['0a1b2c3d4e5f', 'ffeeddccbbaa']);
    expect(withUploadings(prior, [{ comment: `ckym000000000000b3t${T - 5}` }]).installations).toEqual(['000000000000', '0a1b2c3d4e5f', 'ffeeddccbbaa']);
  });

  it('both kinds together: every count adds up, installations once each', () => {
    const calls = withUploadings(NO_PRIOR_UPLOADS, [
      { comment: `ckymffeeddccbbaab1t${T - 60}`, create_time: at(T) },
      { comment: 'ckym batch 0a1b2c3d4e5f-3', create_time: 'never' },
    ]);
    const conversions = withUploadings(NO_PRIOR_UPLOADS, [
      { comment: 'ckym batch 0a1b2c3d4e5f-4', create_time: at(T - 10) },
      { comment: 'ckym batch 0a1b2c3d4e5f-5', create_time: at(T - 20) },
    ]);
    expect(mergePrior(calls, conversions)).toEqual({ uploads: 4, newestCall: T - 10, lastUpload: T, installations: ['0a1b2c3d4e5f', 'ffeeddccbbaa'], legacy: 3, undated: 1 });
    expect(mergePrior(conversions, NO_PRIOR_UPLOADS)).toEqual(conversions);
    // undated uploads of both kinds add up; installations come out sorted whatever the order of the two
    const undated = withUploadings(NO_PRIOR_UPLOADS, [{ comment: 'ckym batch 0a1b2c3d4e5f-9', create_time: 'never' }]);
    expect(mergePrior(calls, undated)).toMatchObject({ undated: 2, legacy: 2, installations: ['0a1b2c3d4e5f', 'ffeeddccbbaa'] });
    const other = withUploadings(NO_PRIOR_UPLOADS, [{ comment: `ckymffeeddccbbaab7t${T}` }]);
    expect(mergePrior(other, conversions).installations).toEqual(['0a1b2c3d4e5f', 'ffeeddccbbaa']);
  });

  it('paging: an upload made exactly at the newest call found might hold it, an empty page tells nothing', () => {
    const newest = withUploadings(NO_PRIOR_UPLOADS, [{ comment: `ckym0a1b2c3d4e5fb9t${T}`, create_time: at(T + 60) }]);
    expect(olderPagesTellNothing(newest, [{ create_time: at(T) }])).toBe(false);
    expect(olderPagesTellNothing(newest, [{ create_time: at(T - 1) }])).toBe(true);
    expect(olderPagesTellNothing(newest, [])).toBe(false);
    // an undated upload already put the point at now: nothing older matters
    const undated = withUploadings(NO_PRIOR_UPLOADS, [{ comment: 'ckym batch 0a1b2c3d4e5f-3' }]);
    expect(olderPagesTellNothing(undated, [])).toBe(true);
  });

  it('newestCallOf: the latest newest call of several counters; null when none is known', () => {
    const one = withUploadings(NO_PRIOR_UPLOADS, [{ comment: `ckym0a1b2c3d4e5fb1t${T - 60}` }]);
    const two = withUploadings(NO_PRIOR_UPLOADS, [{ comment: `ckym0a1b2c3d4e5fb2t${T - 30}` }]);
    expect(newestCallOf([{ prior: one }, { prior: two }, { prior: NO_PRIOR_UPLOADS }])).toBe(T - 30);
    expect(newestCallOf([{ prior: two }, { prior: one }])).toBe(T - 30);
    expect(newestCallOf([{ prior: NO_PRIOR_UPLOADS }])).toBeNull();
    expect(newestCallOf([])).toBeNull();
  });

  it('create_time must start with a date and a time', () => {
    expect(uploadTime('2024-05-20')).toBeNull();
    expect(uploadTime('2024-05-20T12:00+03:00')).toBe(T);
  });
});
