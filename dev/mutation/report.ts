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
