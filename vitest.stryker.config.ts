import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * The tests Stryker runs against each mutant (stryker.config.mjs): only the layers that run ckym's sources
 * in this process. The end-to-end and reliability suites spawn bin/ckym.js, which runs the compiled dist/ —
 * code Stryker never mutates — so they could not kill a mutant of src/ and would only cost time; the page
 * writer's tests run the compiled worker from dist/ too. A mutant counts as killed only when a test of the
 * sources themselves notices it.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      'test/domain/**/*.test.ts',
      'test/store/**/*.test.ts',
      'test/engine/**/*.test.ts',
      'test/commands/**/*.test.ts',
      'test/cli/**/*.test.ts',
      'test/config/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', 'test/store/page-writer.test.ts'],
  },
});
