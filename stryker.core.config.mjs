// Mutation testing of the core and the store against their own tests (docs/TESTING.md): `npm run mutate:core`,
// `npm run mutate:domain`, `npm run mutate:store`, or one file: `npx stryker run stryker.core.config.mjs --mutate src/domain/rows.ts`.
import base from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  mutate: ['src/domain/**/*.ts', 'src/store/store.ts'],
  vitest: { ...base.vitest, configFile: 'vitest.stryker.core.config.ts' },
  htmlReporter: { fileName: 'reports/mutation/core.html' },
  jsonReporter: { fileName: 'reports/mutation/core.json' },
  incrementalFile: 'reports/stryker-incremental-core.json',
};
