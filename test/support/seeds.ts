import type { MetrikaCounterSeed } from '../../src/sandbox/metrika.js';

/** Counters for the counters/login tests: own with a JS-event goal, edit without goals and linking off, view-only. */
export const SEEDS: MetrikaCounterSeed[] = [
  {
    id: 11111111,
    name: 'Магазин',
    site: 'shop.example',
    permission: 'own',
    callsLinking: true,
    goals: [{ id: 501, name: 'Звонок коллтрекинга', type: 'action', conditions: [{ type: 'exact', url: 'calltracking_call_order' }] }],
  },
  { id: 22222222, name: 'Блог', site: 'blog.example', permission: 'edit', callsLinking: false, goals: [] },
  { id: 33333333, name: 'Чужой', site: 'other.example', permission: 'view', goals: [] },
];
