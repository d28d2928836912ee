import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The end-to-end tests run bin/failover.js, which runs the build in dist/.
    globalSetup: ['test/setup/build.ts'],
    // Integration and end-to-end tests start real servers and processes on loopback.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: keep process-heavy end-to-end files from starving each other.
    maxWorkers: 2,
  },
});
