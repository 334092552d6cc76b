import { describe, expect, it } from 'vitest';
import { applyMutant, type Mutant, offsetOf } from '../../../dev/mutation/report.js';

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
