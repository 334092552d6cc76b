import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  applyMutant,
  earlierVerdict,
  placeOf,
  type Report,
  type StaticVerdict,
  samePlace,
} from './report.js';

/**
 * `npm run test:mutation:static -- <folder>`: re-tests the survivors Stryker cannot test itself.
 *
 * A static mutant changes code that runs while its module loads (a constant, a regex, a table).
 * Stryker's vitest runner switches mutants on at run time, after the module has loaded, and cannot
 * reload it (stryker-js#6144, #6209), so such a mutant "survives" whatever the tests say. Here each
 * survivor that Stryker marked static is written into a copy of the project, and the test files
 * that reach the mutated file run against that copy: a failing run means the tests kill it. The result goes to
 * `reports/mutation/<folder>.static.json`; Stryker's own report is left as it is. A verdict given
 * before on the same mutated file and test files is kept (`--fresh` tests every one again: a change
 * in a test helper is not seen by the fingerprint).
 */

/** Test files that cover each test id of the report. */
function testFileOf(report: Report): Map<string, string> {
  const files = new Map<string, string>();
  for (const [file, { tests }] of Object.entries(report.testFiles ?? {})) {
    for (const test of tests) files.set(test.id, file);
  }
  return files;
}

/**
 * The test files that reach any code of `file`. A static mutant's own coverage names only the tests
 * that happened to load its module first, not the ones that check what it sets up.
 */
function testFilesReaching(report: Report, file: string, testFiles: Map<string, string>): string[] {
  const ids = new Set((report.files[file]?.mutants ?? []).flatMap((m) => m.coveredBy ?? []));
  return [
    ...new Set([...ids].map((id) => testFiles.get(id)).filter((f): f is string => f !== undefined)),
  ].sort();
}

/** A copy of the project's sources (node_modules linked) where mutants can be written safely. */
function projectCopy(root: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'mutation-static-'));
  for (const entry of ['shared', 'test', 'dev', 'functions', 'bench', 'cli', 'docs', 'infra']) {
    if (existsSync(join(root, entry))) cpSync(join(root, entry), join(copy, entry), { recursive: true });
  }
  for (const file of [
    'package.json',
    'tsconfig.json',
    'tsconfig.test.json',
    'vitest.config.ts',
    'vitest.mutation.config.ts',
  ]) {
    if (existsSync(join(root, file))) cpSync(join(root, file), join(copy, file));
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  return copy;
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

function main(): number {
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
  const testFiles = testFileOf(report);
  const candidates = Object.entries(report.files).flatMap(([file, { mutants }]) =>
    mutants.filter((m) => m.status === 'Survived' && m.static).map((mutant) => ({ file, mutant })),
  );
  process.stdout.write(`${candidates.length} static survivors in shared/${folder}\n`);

  const earlier = fresh ? [] : readVerdicts(root, name);
  const copy = projectCopy(root);
  const verdicts: StaticVerdict[] = [];
  const baselines = new Map<string, boolean>();
  try {
    for (const { file, mutant } of candidates) {
      const original = readFileSync(join(root, file), 'utf8');
      if (original !== report.files[file]?.source) {
        process.stdout.write(`stale    ${file}:${mutant.location.start.line} (changed since the run)\n`);
        continue;
      }
      const files = testFilesReaching(report, file, testFiles);
      const fingerprint = fingerprintOf(root, file, files);
      const kept = earlierVerdict(earlier, file, mutant, fingerprint);
      if (kept) {
        verdicts.push(kept);
        process.stdout.write(`${kept.verdict.padEnd(8)} ${file}:${kept.line} ${kept.mutator} (kept)\n`);
        continue;
      }
      // Control: the same tests pass on the unmutated copy, so a failure below is the mutant's doing.
      const key = files.join(' ');
      if (!baselines.has(key)) {
        const passed = runTests(root, copy, files, (output) => process.stdout.write(`${output}\n`)) === 0;
        baselines.set(key, passed);
      }
      if (!baselines.get(key)) {
        process.stdout.write(`skipped  ${file}:${mutant.location.start.line} (its tests fail unmutated)\n`);
        continue;
      }
      writeFileSync(join(copy, file), applyMutant(original, mutant));
      const run = runTests(root, copy, files);
      writeFileSync(join(copy, file), original);
      // Vitest exits 1 when a test fails; no status means the run was stopped (time limit): no verdict.
      const verdict = run === 0 ? 'survived' : run === 1 ? 'killed' : 'unverified';
      verdicts.push({ ...placeOf(file, mutant), testFiles: files, verdict, fingerprint });
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
    `${killed} of ${verdicts.length} static survivors are killed by their tests (${unverified} ran out of time)\n`,
  );
  return 0;
}

process.exitCode = main();
