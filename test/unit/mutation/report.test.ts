import { describe, expect, it } from 'vitest';
import {
  applyMutant,
  earlierVerdict,
  type Mutant,
  offsetOf,
  percent,
  type StaticVerdict,
  scores,
  testTiers,
} from '../../../dev/mutation/report.js';

const source = "const a = 'x';\nconst PATTERN = /^ab$/i;\nexport const b = 2;\n";
const mutant = (start: [number, number], end: [number, number], replacement?: string): Mutant => ({
  id: '1',
  mutatorName: 'Regex',
  status: 'Survived',
  static: true,
  replacement,
  location: { start: { line: start[0], column: start[1] }, end: { line: end[0], column: end[1] } },
});

describe('writing a Stryker mutant back into its source', () => {
  it('reads report positions as 1-based lines and columns', () => {
    expect(offsetOf(source, { line: 1, column: 1 })).toBe(0);
    expect(source.slice(offsetOf(source, { line: 2, column: 17 }))).toMatch(/^\/\^ab\$\/i;/);
    expect(offsetOf(source, { line: 3, column: 1 })).toBe(source.indexOf('export'));
  });

  it('replaces exactly the mutated range, or removes it when there is no replacement', () => {
    expect(applyMutant(source, mutant([2, 17], [2, 24], '/ab$/i'))).toBe(
      "const a = 'x';\nconst PATTERN = /ab$/i;\nexport const b = 2;\n",
    );
    expect(applyMutant(source, mutant([1, 11], [1, 14]))).toBe(
      'const a = ;\nconst PATTERN = /^ab$/i;\nexport const b = 2;\n',
    );
  });
});

describe('verdicts kept from an earlier check', () => {
  const regex = mutant([2, 17], [2, 24], '/ab$/i');
  const given: StaticVerdict = {
    file: 'shared/a.ts',
    line: 2,
    mutator: 'Regex',
    replacement: '/ab$/i',
    testFiles: ['test/a.test.ts'],
    verdict: 'killed',
    fingerprint: 'f1',
  };
  /** The sources as they are now: `fingerprint` for the verdict's own test files. */
  const now =
    (fingerprint: string) =>
    (testFiles: readonly string[]): string =>
      testFiles.join(' ') === 'test/a.test.ts' ? fingerprint : 'another set of files';

  it('reuses a verdict given on the same sources for the same mutant', () => {
    expect(earlierVerdict([given], 'shared/a.ts', regex, now('f1'))).toBe(given);
  });

  it('tries again when a source changed, the mutant differs, or the run ran out of time', () => {
    expect(earlierVerdict([given], 'shared/a.ts', regex, now('f2'))).toBeUndefined();
    expect(
      earlierVerdict([{ ...given, fingerprint: undefined }], 'shared/a.ts', regex, now('f1')),
    ).toBeUndefined();
    expect(earlierVerdict([given], 'shared/b.ts', regex, now('f1'))).toBeUndefined();
    expect(
      earlierVerdict([given], 'shared/a.ts', mutant([3, 17], [3, 24], '/ab$/i'), now('f1')),
    ).toBeUndefined();
    expect(
      earlierVerdict([given], 'shared/a.ts', { ...regex, mutatorName: 'StringLiteral' }, now('f1')),
    ).toBeUndefined();
    expect(
      earlierVerdict([given], 'shared/a.ts', mutant([2, 17], [2, 24], '/^ab/i'), now('f1')),
    ).toBeUndefined();
    expect(
      earlierVerdict([{ ...given, verdict: 'unverified' }], 'shared/a.ts', regex, now('f1')),
    ).toBeUndefined();
  });

  it('matches a long replacement by the 80 characters a verdict stores of it', () => {
    const long = mutant([2, 17], [2, 24], `'${'x'.repeat(100)}'`);
    const stored = { ...given, mutator: 'Regex', replacement: `'${'x'.repeat(79)}` };
    expect(earlierVerdict([stored], 'shared/a.ts', long, now('f1'))).toBe(stored);
  });

  it('compares the fingerprint of the test files the verdict ran, not of every file there is', () => {
    const seen: string[][] = [];
    const kept = earlierVerdict([given], 'shared/a.ts', regex, (files) => {
      seen.push([...files]);
      return 'f1';
    });
    expect(kept).toBe(given);
    expect(seen).toStrictEqual([['test/a.test.ts']]);
  });

  it('keeps a survived verdict as well as a killed one', () => {
    const survived = { ...given, verdict: 'survived' as const };
    expect(earlierVerdict([survived], 'shared/a.ts', regex, now('f1'))).toBe(survived);
  });
});

describe("the order a static mutant's test files run in", () => {
  it('runs the unit tests first and leaves out an empty tier', () => {
    expect(
      testTiers(['test/integration/a.test.ts', 'test/unit/b.test.ts', 'test/unit/c/d.test.ts']),
    ).toStrictEqual([['test/unit/b.test.ts', 'test/unit/c/d.test.ts'], ['test/integration/a.test.ts']]);
    expect(testTiers(['test/integration/a.test.ts'])).toStrictEqual([['test/integration/a.test.ts']]);
    expect(testTiers([])).toStrictEqual([]);
  });
});

describe('scores with the static verdicts', () => {
  const at = (line: number, status: string, isStatic = false): Mutant => ({
    ...mutant([line, 1], [line, 2], `r${line}`),
    status,
    static: isStatic,
  });
  const report = {
    files: {
      'shared/b.ts': { source, mutants: [at(1, 'Killed'), at(2, 'CompileError'), at(3, 'NoCoverage')] },
      'shared/a.ts': {
        source,
        mutants: [at(1, 'Timeout'), at(2, 'Survived', true), at(3, 'Survived', true), at(4, 'Survived')],
      },
    },
  };
  const verdict = (file: string, line: number, outcome: StaticVerdict['verdict']): StaticVerdict => ({
    file,
    line,
    mutator: 'Regex',
    replacement: `r${line}`,
    testFiles: [],
    verdict: outcome,
  });

  it('counts what compiles, and a static survivor as detected only when its tests killed it', () => {
    const verdicts = [
      verdict('shared/a.ts', 2, 'killed'),
      verdict('shared/a.ts', 3, 'survived'),
      // Same place in another file, and a non-static survivor: neither counts.
      verdict('shared/b.ts', 2, 'killed'),
      verdict('shared/a.ts', 4, 'killed'),
    ];
    expect(scores(report, verdicts)).toStrictEqual([
      { file: 'shared/a.ts', valid: 4, detected: 1, killedStatic: 1 },
      { file: 'shared/b.ts', valid: 2, detected: 1, killedStatic: 0 },
    ]);
  });

  it('prints a percent with one decimal, and n/a for nothing tested', () => {
    expect(percent(767, 908)).toBe('84.5 %');
    expect(percent(1, 3)).toBe('33.3 %');
    expect(percent(0, 0)).toBe('n/a');
  });
});
