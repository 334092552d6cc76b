// What the static-survivor check (dev/mutation/static-survivors.ts) needs of a Stryker JSON report, and how a
// mutant is written back into its source: pure, so that it is unit-tested.

export interface Position {
  line: number;
  column: number;
}
export interface Mutant {
  id: string;
  mutatorName: string;
  replacement?: string;
  status: string;
  static?: boolean;
  coveredBy?: string[];
  location: { start: Position; end: Position };
}
export interface Report {
  files: Record<string, { source: string; mutants: Mutant[] }>;
  testFiles?: Record<string, { tests: { id: string }[] }>;
}
export interface StaticVerdict {
  file: string;
  line: number;
  mutator: string;
  replacement: string;
  testFiles: string[];
  verdict: 'killed' | 'survived' | 'unverified';
  /** Hash of the mutated file and of the test files as they were when the verdict was given. */
  fingerprint?: string;
}

/** Where a verdict applies: the mutated file and line, the mutator and its replacement (as stored). */
export type VerdictPlace = Pick<StaticVerdict, 'file' | 'line' | 'mutator' | 'replacement'>;

export function placeOf(file: string, mutant: Mutant): VerdictPlace {
  return {
    file,
    line: mutant.location.start.line,
    mutator: mutant.mutatorName,
    replacement: (mutant.replacement ?? '').slice(0, 80),
  };
}

export function samePlace(a: VerdictPlace, b: VerdictPlace): boolean {
  return a.file === b.file && a.line === b.line && a.mutator === b.mutator && a.replacement === b.replacement;
}

/**
 * A verdict from an earlier check that still holds for this mutant: the same place, given on the
 * same sources (`fingerprint`). A run stopped by its time limit is no verdict and is tried again.
 */
export function earlierVerdict(
  earlier: readonly StaticVerdict[],
  file: string,
  mutant: Mutant,
  fingerprint: string,
): StaticVerdict | undefined {
  const place = placeOf(file, mutant);
  return earlier.find(
    (v) => v.fingerprint === fingerprint && v.verdict !== 'unverified' && samePlace(v, place),
  );
}

/** Offset of a report position (lines and columns 1-based) in `source`. */
export function offsetOf(source: string, position: Position): number {
  let offset = 0;
  for (let line = 1; line < position.line; line++) offset = source.indexOf('\n', offset) + 1;
  return offset + position.column - 1;
}

/** `source` with the mutant's range replaced by its replacement. */
export function applyMutant(source: string, mutant: Mutant): string {
  const start = offsetOf(source, mutant.location.start);
  const end = offsetOf(source, mutant.location.end);
  return source.slice(0, start) + (mutant.replacement ?? '') + source.slice(end);
}
