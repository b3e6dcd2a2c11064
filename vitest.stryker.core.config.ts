import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The tests Stryker runs against mutants of the core and the store (stryker.core.config.mjs): the core's and the
 * store's own tests, in process. The engine and command layers also reach this code, but through sockets, emulators
 * and whole runs — seconds per mutant where these take milliseconds — and a mutant of the pure core that only a
 * whole run notices is a gap in the core's own tests. The engine is measured with every in-process layer
 * (vitest.stryker.config.ts).
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/domain/**/*.test.ts', 'test/store/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/store/page-writer.test.ts'],
  },
});
