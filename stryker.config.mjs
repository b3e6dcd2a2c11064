// Mutation testing (docs/TESTING.md): `npm run mutate` (core, store and engine against every in-process layer), or
// `npm run mutate:engine`; the core and the store against their own tests: stryker.core.config.mjs. Not part of `npm test`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: ['src/domain/**/*.ts', 'src/store/store.ts', 'src/engine/**/*.ts'],
  testRunner: 'vitest',
  // Only the in-process test layers (vitest.stryker.config.ts); for each mutant, only the tests that import its file.
  vitest: { configFile: 'vitest.stryker.config.ts', related: true },
  coverageAnalysis: 'perTest',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 95, low: 90, break: null },
  // Nothing a test of the sources needs: keeps the sandbox copy small.
  ignorePatterns: ['dist', 'bench', 'coverage', 'test-artifacts', '.ckym-dev', 'reports', '.stryker-tmp'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
