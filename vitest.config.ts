import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file in its own process: @azure/functions caches its host API per process, and
    // NODE_EXTRA_CA_CERTS (set by the global setup) is only read when a process starts.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: {
      APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
    },
  },
});
