import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The tests Stryker runs against each mutant: the unit and integration tests, which load `shared/`
// in the test process (mutants are switched on there). Tests of the built app in child processes
// (`dist/`), of the simulators, the local host, the infrastructure templates and the docs cannot
// see a mutant of `shared/`; the fault and property suites take minutes a run (and their timing
// suffers under instrumentation). They are left out so that a folder's run fits in an hour here.
export default defineConfig({
  test: {
    ...base.test,
    // Instrumented code on a shared machine: generous guards against a hang, not limits.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
    exclude: [
      'test/unit/docs/**',
      'test/unit/host/**',
      'test/integration/host/**',
      'test/integration/simulators/**',
    ],
  },
});
