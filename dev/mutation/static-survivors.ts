import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { createVitest } from 'vitest/node';
import {
  applyMutant,
  earlierVerdict,
  type FileScore,
  percent,
  placeOf,
  type Report,
  type StaticVerdict,
  samePlace,
  scores,
  testTiers,
} from './report.js';

/**
 * `npm run test:mutation:static -- <folder>`: re-tests the survivors Stryker cannot test itself.
 *
 * A static mutant changes code that runs while its module loads (a constant, a regex, a table).
 * Stryker's vitest runner switches mutants on at run time, after the module has loaded, and cannot
 * reload it (stryker-js#6144, #6209), so such a mutant "survives" whatever the tests say. Here each
 * survivor that Stryker marked static is written into a copy of the committed sources, and the
 * test files that load the mutated file run against it, unit tests first: a failing run means the
 * tests kill it. The verdicts go to `reports/mutation/<folder>.static.json` (Stryker's own report
 * is left as it is), and a table of scores with and without them is printed. A verdict given before
 * on the same mutated file and test files is kept (`--fresh` tests every one again: a change in a
 * test helper is not seen by the fingerprint).
 */

/**
 * The test files that load `file` (its importers, to any depth), listed by vitest itself from the
 * mutation test config. A static mutant acts while its module loads, so any of them can see it;
 * Stryker's coverage of it names only the tests that happened to load the module first.
 */
async function testFilesLoading(copy: string, file: string): Promise<string[]> {
  const vitest = await createVitest(
    'test',
    {
      root: copy,
      config: join(copy, 'vitest.mutation.config.ts'),
      related: [join(copy, file)],
      watch: false,
    },
    {},
    {},
  );
  try {
    const specifications = await vitest.getRelevantTestSpecifications();
    return [...new Set(specifications.map((s) => relative(copy, s.moduleId)))].sort();
  } finally {
    await vitest.close();
  }
}

/** What a test run needs of the project. */
const COPIED = new Set([
  ...['shared', 'test', 'dev', 'functions', 'bench', 'cli', 'docs', 'infra'],
  ...['package.json', 'tsconfig.json', 'tsconfig.test.json', 'vitest.config.ts', 'vitest.mutation.config.ts'],
]);

/** The committed sources (HEAD; node_modules linked): verdicts are about a commit, not a work tree. */
function projectCopy(root: string): { copy: string; commit: string } {
  const copy = mkdtempSync(join(tmpdir(), 'mutation-static-'));
  const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  const tree = execFileSync('git', ['ls-tree', '--name-only', 'HEAD'], { cwd: root, encoding: 'utf8' });
  const entries = tree.split('\n').filter((entry) => COPIED.has(entry));
  const archive = execFileSync('git', ['archive', '--format=tar', 'HEAD', ...entries], {
    cwd: root,
    maxBuffer: 512 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', copy], { input: archive });
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  // Some tests start the built app in a child process: unmutated there (a child never sees a
  // mutant), but it has to exist.
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: copy,
  });
  return { copy, commit };
}

/** Runs `files` with the mutation test config in `copy`; the exit status (0: all passed). */
function runTests(
  root: string,
  copy: string,
  files: string[],
  onFailure?: (output: string) => void,
): number | null {
  // --bail: one failing test is enough, the mutant is killed.
  const run = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/vitest/vitest.mjs'),
      'run',
      '--config',
      'vitest.mutation.config.ts',
      '--bail=1',
      ...files,
    ],
    { cwd: copy, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 900_000 },
  );
  if (run.status !== 0) onFailure?.(`${run.stdout ?? ''}${run.stderr ?? ''}`.slice(-3000));
  return run.status;
}

/** What a verdict depends on: the mutated file and the test files, as they are now. */
function fingerprintOf(root: string, file: string, testFiles: readonly string[]): string {
  const hash = createHash('sha256');
  for (const path of [file, ...testFiles])
    hash
      .update(path)
      .update('\0')
      .update(readFileSync(join(root, path)));
  return hash.digest('hex').slice(0, 16);
}

function readVerdicts(root: string, name: string): StaticVerdict[] {
  const path = join(root, 'reports', 'mutation', `${name}.static.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as StaticVerdict[]) : [];
}

function writeVerdicts(root: string, name: string, verdicts: StaticVerdict[]): void {
  writeFileSync(
    join(root, 'reports', 'mutation', `${name}.static.json`),
    `${JSON.stringify(verdicts, null, 2)}\n`,
  );
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const fresh = args.includes('--fresh');
  const folder = args.find((arg) => !arg.startsWith('--'));
  if (!folder) {
    process.stderr.write('usage: npm run test:mutation:static -- <folder under shared/> [--fresh]\n');
    return 2;
  }
  const root = resolve('.');
  const name = folder.replaceAll('/', '-');
  const reportPath = join(root, 'reports', 'mutation', `${name}.incremental.json`);
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as Report;
  const candidates = Object.entries(report.files).flatMap(([file, { mutants }]) =>
    mutants.filter((m) => m.status === 'Survived' && m.static).map((mutant) => ({ file, mutant })),
  );
  const earlier = fresh ? [] : readVerdicts(root, name);
  const { copy, commit } = projectCopy(root);
  // Ctrl+C stops the test run in hand first (same process group); the copy goes with the check.
  process.once('SIGINT', () => {
    rmSync(copy, { recursive: true, force: true });
    process.exit(130);
  });
  process.stdout.write(`${candidates.length} static survivors in shared/${folder}, checked on ${commit}\n`);
  const verdicts: StaticVerdict[] = [];
  const loading = new Map<string, string[]>();
  // Control: a tier's tests pass on the unmutated copy, so a failure below is the mutant's doing.
  const controls = new Map<string, boolean>();
  const passesUnmutated = (tier: string[]): boolean => {
    const key = tier.join(' ');
    if (!controls.has(key)) {
      controls.set(key, runTests(root, copy, tier, (output) => process.stdout.write(`${output}\n`)) === 0);
    }
    return controls.get(key)!;
  };
  try {
    for (const { file, mutant } of candidates) {
      const original = readFileSync(join(copy, file), 'utf8');
      if (original !== report.files[file]?.source) {
        process.stdout.write(`stale    ${file}:${mutant.location.start.line} (changed since the run)\n`);
        continue;
      }
      if (!loading.has(file)) loading.set(file, await testFilesLoading(copy, file));
      const files = loading.get(file)!;
      const kept = earlierVerdict(earlier, file, mutant, (testFiles) => fingerprintOf(copy, file, testFiles));
      if (kept) {
        verdicts.push(kept);
        process.stdout.write(`${kept.verdict.padEnd(8)} ${file}:${kept.line} ${kept.mutator} (kept)\n`);
        continue;
      }
      let verdict: StaticVerdict['verdict'] | 'skipped' = 'survived';
      const ran: string[] = [];
      try {
        for (const tier of testTiers(files)) {
          writeFileSync(join(copy, file), original);
          if (!passesUnmutated(tier)) {
            verdict = 'skipped';
            break;
          }
          writeFileSync(join(copy, file), applyMutant(original, mutant));
          ran.push(...tier);
          const run = runTests(root, copy, tier);
          // Vitest exits 1 when a test fails; no status means the run was stopped (time limit).
          if (run === 1) verdict = 'killed';
          else if (run !== 0) verdict = 'unverified';
          if (run !== 0) break;
        }
      } finally {
        writeFileSync(join(copy, file), original);
      }
      if (verdict === 'skipped') {
        process.stdout.write(`skipped  ${file}:${mutant.location.start.line} (its tests fail unmutated)\n`);
        continue;
      }
      verdicts.push({
        ...placeOf(file, mutant),
        testFiles: ran,
        verdict,
        fingerprint: fingerprintOf(copy, file, ran),
      });
      process.stdout.write(
        `${verdict.padEnd(8)} ${file}:${mutant.location.start.line} ${mutant.mutatorName}\n`,
      );
      // Written as it goes, with the earlier verdicts not reached yet: a check stopped half way
      // loses nothing.
      writeVerdicts(root, name, [
        ...verdicts,
        ...earlier.filter((v) => !verdicts.some((n) => samePlace(n, v))),
      ]);
    }
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
  const killed = verdicts.filter((v) => v.verdict === 'killed').length;
  const unverified = verdicts.filter((v) => v.verdict === 'unverified').length;
  writeVerdicts(root, name, verdicts);
  process.stdout.write(
    `${killed} of ${verdicts.length} static survivors are killed by their tests (${unverified} ran out of time)\n\n`,
  );
  process.stdout.write(scoreTable(report, verdicts));
  return 0;
}

/** Stryker's score and the score with the static verdicts, per file and for the folder (markdown). */
function scoreTable(report: Report, verdicts: readonly StaticVerdict[]): string {
  const rows = scores(report, verdicts);
  const total = rows.reduce(
    (sum, row) => ({
      valid: sum.valid + row.valid,
      detected: sum.detected + row.detected,
      killedStatic: sum.killedStatic + row.killedStatic,
    }),
    { valid: 0, detected: 0, killedStatic: 0 },
  );
  const line = (label: string, row: Omit<FileScore, 'file'>) =>
    `| ${label} | ${row.valid} | ${row.detected} | ${percent(row.detected, row.valid)} | ${row.killedStatic} | ${percent(row.detected + row.killedStatic, row.valid)} |\n`;
  return [
    '| file | tested | detected | Stryker | static killed | with static |\n',
    '| --- | --: | --: | --: | --: | --: |\n',
    ...rows.map((row) => line(`\`${row.file}\``, row)),
    line('**all**', total),
  ].join('');
}

process.exitCode = await main();
