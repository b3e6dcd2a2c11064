/**
 * Small builders for domain tests: sensible defaults, override what the test is about.
 */
import type { Call, CounterSettings, RawCall, TagSettings } from '../../src/domain/types.js';
import { settingDefaults } from '../../src/config/settings.js';

/** 2024-05-01 12:00:00 Europe/Moscow = 09:00 UTC. */
export const NOON_MSK = 1714554000;

/** A raw call as CallKeeper's call/get answers it (strings where CallKeeper uses strings). */
export function aRawCall(overrides: RawCall = {}): RawCall {
  return {
    universalId: 'u-1001',
    serviceType: 'calltracking',
    clientNumber: '79991234567',
    status: 'success',
    statusFirst: 0,
    statusSecond: 0,
    callTime: '2024-05-01 12:00:00',
    duration: 152,
    site: 'shop.example',
    siteVisit: 'shop.example',
    unique: true,
    target: true,
    uniqueTarget: true,
    yaClid: '1714510800123456789',
    callPage: 'https://shop.example/catalog',
    entryPoint: 'https://shop.example/',
    entryPointQuery: 'https://shop.example/?utm_source=yandex&yclid=5417289076543210987',
    recordUrl: 'https://ckct.ru/record/1001.mp3',
    tags: ['Директ'],
    ...overrides,
  };
}

/** A normalised call that every default counter takes. */
export function aCall(overrides: Partial<Call> = {}): Call {
  return {
    id: 'u-1001',
    serviceType: 'calltracking',
    callTime: NOON_MSK,
    callTimeText: '2024-05-01 12:00:00',
    duration: 152,
    status: 'success',
    statusFirst: 0,
    statusSecond: 0,
    phone: '+79991234567',
    site: 'shop.example',
    siteVisit: 'shop.example',
    unique: true,
    target: true,
    uniqueTarget: true,
    clientId: '1714510800123456789',
    callPage: 'https://shop.example/catalog',
    entryPoint: 'https://shop.example/',
    entryPointQuery: '',
    recordUrl: 'https://ckct.ru/record/1001.mp3',
    tags: ['Директ'],
    ...overrides,
  };
}

/** Counter settings with everything open: the settings table's defaults (all types, 0 s, all statuses, any site, the call's tags, no goal, no price). */
export function aCounter(overrides: Partial<Omit<CounterSettings, 'tags'>> & { tags?: Partial<TagSettings> } = {}): CounterSettings {
  const { tags, ...rest } = overrides;
  const defaults = settingDefaults();
  return {
    id: 12345678,
    ...defaults,
    name: 'shop.example',
    callGoalName: 'Звонок',
    ...rest,
    tags: { ...defaults.tags, ...tags },
  };
}
