import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// The tests Stryker runs against each mutant: those that load `shared/` in the test process
// (mutants are switched on there). Tests of the built app in child processes (`dist/`), of the
// simulators, the local host, the infrastructure templates and the docs cannot see a mutant of
// `shared/`; they are left out so that the dry run and each mutant cost less.
export default defineConfig({
  test: {
    ...base.test,
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/faults/**/*.test.ts'],
    exclude: [
      'test/unit/docs/**',
      'test/unit/host/**',
      'test/integration/host/**',
      'test/integration/simulators/**',
      'test/faults/host-crash.test.ts',
    ],
  },
});
