// Mutation testing of the domain (`shared/`): `npm run test:mutation` (incremental: only mutants
// in changed code, or covered by changed tests, are run again). One folder at a time is quicker:
//   npm run test:mutation -- --mutate "shared/http/**/*.ts"
// The machine is shared and small: one test runner, one checker.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // forks: each test file in its own process, as in vitest.config.ts (NODE_EXTRA_CA_CERTS, @azure/functions).
  vitest: { configFile: 'vitest.mutation.config.ts', related: true, pool: 'forks' },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: ['shared/**/*.ts', '!shared/**/*-schema.ts', '!shared/openapi/**'],
  coverageAnalysis: 'perTest',
  ignoreStatic: true,
  concurrency: 1,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  incremental: true,
  // Committed on purpose: the next run (anyone's) starts from the last one's results.
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
