import { defineConfig } from 'vitest/config';

/**
 * The tests Stryker runs against each mutant (`npm run mutate`): the fast unit, property
 * and in-process tests of shared/ (no build, no child processes, no end-to-end runs).
 */
export default defineConfig({
  test: {
    include: [
      'test/core.test.ts',
      'test/ha-rules.test.ts',
      'test/guards-property.test.ts',
      'test/store.test.ts',
      'test/api.test.ts',
      'test/fuzz-api.test.ts',
      'test/http.test.ts',
      'test/routes.test.ts',
      'test/static-stability.test.ts',
      'test/event-v1.test.ts',
      'test/serving.test.ts',
      'test/active-active.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
