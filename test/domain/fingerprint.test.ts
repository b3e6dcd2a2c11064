import { describe, expect, it } from 'vitest';
import { callFingerprint, fingerprintHolds, fingerprintsFrom, settingsFingerprint } from '../../src/domain/fingerprint.js';
import { aCounter } from './builders.js';

const counter = (id: number, over: Parameters<typeof aCounter>[0] = {}) => aCounter({ ...over, id });

const sync = { timezone: 'Europe/Moscow', settleMinutes: 10, maxWaitHours: 72 };
const raw = { universalId: '1', callTime: '2024-05-19 10:00:00', status: 'success', duration: 30 };

describe('fingerprints: a call fetched again as it was, under the same settings, is not decided again', () => {
  it('the same call and settings give the same fingerprint; any field of the call changes it', () => {
    const settings = settingsFingerprint([counter(11)], sync);
    expect(settingsFingerprint([counter(11)], sync)).toBe(settings);
    expect(callFingerprint(raw, settings)).toBe(callFingerprint({ ...raw }, settings));
    expect(callFingerprint({ ...raw, duration: 31 }, settings)).not.toBe(callFingerprint(raw, settings));
    expect(callFingerprint({ ...raw, tags: 'x' }, settings)).not.toBe(callFingerprint(raw, settings));
  });

  it('any setting a decision depends on changes it: a price, a site, a counter added, the zone, settling, the longest wait, an adopted point', () => {
    const base = settingsFingerprint([counter(11)], sync);
    const others = [
      settingsFingerprint([counter(11, { price: 100 })], sync),
      settingsFingerprint([counter(11, { sites: ['shop.example'] })], sync),
      settingsFingerprint([counter(11), counter(22)], sync),
      settingsFingerprint([counter(11)], { ...sync, timezone: 'Asia/Yekaterinburg' }),
      settingsFingerprint([counter(11)], { ...sync, settleMinutes: 11 }),
      settingsFingerprint([counter(11)], { ...sync, maxWaitHours: 24 }),
      settingsFingerprint([counter(11)], { ...sync, adopted: [[11, { call: 1_700_000_000 }]] }),
    ];
    for (const other of others) expect(other).not.toBe(base);
    expect(new Set(others).size).toBe(others.length);
    expect(callFingerprint(raw, others[0]!)).not.toBe(callFingerprint(raw, base));
  });

  it('is kept only when no decision waits on time or depends on the window it was fetched in', () => {
    expect(fingerprintHolds(['skipped', 'pending', 'skipped'])).toBe(true);
    expect(fingerprintHolds([])).toBe(true);
    expect(fingerprintHolds(['pending', 'waiting'])).toBe(false);
    expect(fingerprintHolds(['malformed', 'skipped'])).toBe(false);
  });

  it('are digested from the longer of the look-back and the longest wait before the run\'s end: what later runs fetch again', () => {
    const to = 1_716_000_000;
    expect(fingerprintsFrom(to, { lookbackHours: 24, maxWaitHours: 72 })).toBe(to - 72 * 3600);
    expect(fingerprintsFrom(to, { lookbackHours: 96, maxWaitHours: 72 })).toBe(to - 96 * 3600);
    expect(fingerprintsFrom(to, { lookbackHours: 24 })).toBe(to - 72 * 3600); // finality's default wait
    expect(fingerprintsFrom(to, { lookbackHours: 1, maxWaitHours: 2 })).toBe(to - 2 * 3600);
  });
});

describe('fingerprints at their edges (mutation testing)', () => {
  it('no adopted points is the same as an empty list of them; no longest wait the same as null', () => {
    expect(settingsFingerprint([counter(11)], { ...sync, adopted: [] })).toBe(settingsFingerprint([counter(11)], sync));
    const noWait = { timezone: 'Europe/Moscow', settleMinutes: 10 };
    expect(settingsFingerprint([counter(11)], noWait)).toBe(settingsFingerprint([counter(11)], { ...noWait, maxWaitHours: undefined }));
  });

  it('is 22 characters of base64 (132 bits of SHA-256): small enough to keep for every call', () => {
    const settings = settingsFingerprint([counter(11)], sync);
    expect(settings).toMatch(/^[A-Za-z0-9+/]{22}$/);
    expect(callFingerprint(raw, settings)).toMatch(/^[A-Za-z0-9+/]{22}$/);
  });
});
