import { defineConfig } from 'vitest/config';

/** The packed-install test: slow (better-sqlite3 compiles), so `npm test` runs it alone, after the rest. */
export default defineConfig({
  test: {
    include: ['test/install/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 420_000,
    pool: 'forks',
  },
});
