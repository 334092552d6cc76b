// Mutation testing of the domain (`shared/`), incremental: only mutants in changed code, or
// covered by changed tests, are run again. One folder at a time (each with its own incremental
// file, so folders can be run separately and in any order):
//   MUTATE_FOLDER=http npm run test:mutation        # shared/http
//   npm run test:mutation                           # all of shared/ (hours on a small machine)
// The machine is shared and small: one test runner, one checker.
const folder = process.env.MUTATE_FOLDER;
const scope = folder ? `shared/${folder}` : 'shared';
const name = folder ? folder.replaceAll('/', '-') : 'shared';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // forks: each test file in its own process, as in vitest.config.ts (NODE_EXTRA_CA_CERTS, @azure/functions).
  vitest: { configFile: 'vitest.mutation.config.ts', related: true, pool: 'forks' },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: [`${scope}/**/*.ts`, '!shared/**/*-schema.ts', '!shared/openapi/**'],
  coverageAnalysis: 'perTest',
  ignoreStatic: true,
  concurrency: 1,
  // The dry run (every related test, instrumented) takes minutes on a loaded machine.
  dryRunTimeoutMinutes: 30,
  timeoutMS: 20_000,
  timeoutFactor: 2,
  incremental: true,
  // Committed on purpose: the next run (anyone's) starts from the last one's results.
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  tempDirName: `.stryker-tmp-${name}`,
  cleanTempDir: 'always',
};
