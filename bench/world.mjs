/**
 * What the bench's ckym and emulators agree on: credentials, the three counters (Metrica's seed and
 * ckym's config), the fixed "now".
 */

export const BENCH_API_KEY = 'bench0key0000001';
export const BENCH_TOKEN = 'bench-token-0001';
export const BENCH_NOW = '2025-06-01T12:00:00Z';

/**
 * Three counters that split the generated history the way one CallKeeper account serving several sites
 * does: every call of one site (with a goal), answered long callbacks of another (with a goal and a price),
 * and answered tracked calls of every site. Each takes under half the calls, so that at a million calls
 * each upload stays under the Metrica emulator's 100 MB file limit.
 */
export const BENCH_COUNTER_CONFIG = [
  {
    id: 11111111,
    name: 'shop.example',
    callType: 'all',
    minDuration: 0,
    status: 'all',
    uniqueness: 'all',
    tags: { source: 'call', include: [], callback: '', incoming: '' },
    goal: 'calltracking_call_order',
    callGoalName: 'Звонок',
    sites: ['shop.example'],
    price: null,
    currency: 'RUB',
  },
  {
    id: 22222222,
    name: 'blog.example',
    callType: 'callback',
    minDuration: 30,
    status: 'successful',
    uniqueness: 'all',
    tags: { source: 'call', include: ['Директ', 'SEO'], callback: '', incoming: '' },
    goal: 'call',
    callGoalName: 'Звонок с блога',
    sites: ['blog.example'],
    price: 1500,
    currency: 'RUB',
  },
  {
    id: 33333333,
    name: 'every site, answered tracked calls',
    callType: 'incoming',
    minDuration: 0,
    status: 'successful',
    uniqueness: 'all',
    tags: { source: 'none', include: [], callback: '', incoming: '' },
    goal: '',
    callGoalName: '',
    sites: [],
    price: null,
    currency: 'RUB',
  },
];

export const BENCH_COUNTERS = [
  {
    id: 11111111,
    name: 'shop.example',
    site: 'shop.example',
    permission: 'own',
    goals: [{ id: 501, name: 'Звонок коллтрекинга', type: 'action', conditions: [{ type: 'exact', url: 'calltracking_call_order' }] }],
  },
  {
    id: 22222222,
    name: 'blog.example',
    site: 'blog.example',
    permission: 'edit',
    goals: [{ id: 502, name: 'Обратный звонок', type: 'action', conditions: [{ type: 'exact', url: 'call' }] }],
  },
  { id: 33333333, name: 'all sites', site: 'shop.example', permission: 'own', goals: [] },
];

/** The backfill's window (`--since` … now): a day more than the generated history. */
export function backfillWindow(nowUnix, days) {
  return { from: nowUnix - (days + 1) * 86_400, to: nowUnix };
}

export function benchConfig() {
  return {
    callkeeper: { method: 'get', timezone: 'Europe/Moscow' },
    sync: { initialDays: 7, lookbackHours: 24, settleMinutes: 10 },
    network: { retries: 0, timeoutSeconds: 600 },
    counters: BENCH_COUNTER_CONFIG,
  };
}
