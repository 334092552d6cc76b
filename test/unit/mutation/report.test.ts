import { describe, expect, it } from 'vitest';
import {
  applyMutant,
  earlierVerdict,
  type Mutant,
  offsetOf,
  type StaticVerdict,
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

  it('reuses a verdict given on the same sources for the same mutant', () => {
    expect(earlierVerdict([given], 'shared/a.ts', regex, 'f1')).toBe(given);
  });

  it('tries again when a source changed, the mutant differs, or the run ran out of time', () => {
    expect(earlierVerdict([given], 'shared/a.ts', regex, 'f2')).toBeUndefined();
    expect(
      earlierVerdict([{ ...given, fingerprint: undefined }], 'shared/a.ts', regex, 'f1'),
    ).toBeUndefined();
    expect(earlierVerdict([given], 'shared/b.ts', regex, 'f1')).toBeUndefined();
    expect(earlierVerdict([given], 'shared/a.ts', mutant([3, 17], [3, 24], '/ab$/i'), 'f1')).toBeUndefined();
    expect(
      earlierVerdict([given], 'shared/a.ts', { ...regex, mutatorName: 'StringLiteral' }, 'f1'),
    ).toBeUndefined();
    expect(earlierVerdict([given], 'shared/a.ts', mutant([2, 17], [2, 24], '/^ab/i'), 'f1')).toBeUndefined();
    expect(earlierVerdict([{ ...given, verdict: 'unverified' }], 'shared/a.ts', regex, 'f1')).toBeUndefined();
  });

  it('matches a long replacement by the 80 characters a verdict stores of it', () => {
    const long = mutant([2, 17], [2, 24], `'${'x'.repeat(100)}'`);
    const stored = { ...given, mutator: 'Regex', replacement: `'${'x'.repeat(79)}` };
    expect(earlierVerdict([stored], 'shared/a.ts', long, 'f1')).toBe(stored);
  });

  it('keeps a survived verdict as well as a killed one', () => {
    const survived = { ...given, verdict: 'survived' as const };
    expect(earlierVerdict([survived], 'shared/a.ts', regex, 'f1')).toBe(survived);
  });
});
