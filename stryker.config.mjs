// Mutation testing of the rules that decide failover (`npm run mutate`; see docs/mutation.md).
// Too slow for CI: run it by hand after changing shared/core, the store's expressions or
// the API's validation.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.mts' },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.mutation.json',
  mutate: [
    'shared/core/*.ts',
    'shared/store/expressions.ts',
    'shared/store/target-records.ts',
    'shared/http/api.ts',
  ],
  coverageAnalysis: 'perTest',
  // Static mutants (module-level values such as the API's zod schemas) each need every test
  // run again: about 3 h on 2 cores. They are listed as ignored in the report.
  ignoreStatic: true,
  concurrency: 1,
  timeoutMS: 30_000,
  reporters: ['html', 'clear-text', 'progress', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
