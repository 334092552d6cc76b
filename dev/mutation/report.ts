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
  /** The test files that ran: a kill depends only on the tiers up to the one that failed. */
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
 * same sources (`fingerprintOf` its test files as they are now). A run stopped by its time limit
 * is no verdict and is tried again.
 */
export function earlierVerdict(
  earlier: readonly StaticVerdict[],
  file: string,
  mutant: Mutant,
  fingerprintOf: (testFiles: readonly string[]) => string,
): StaticVerdict | undefined {
  const place = placeOf(file, mutant);
  return earlier.find(
    (v) =>
      v.verdict !== 'unverified' &&
      samePlace(v, place) &&
      v.fingerprint !== undefined &&
      v.fingerprint === fingerprintOf(v.testFiles),
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

/**
 * The order a static mutant's test files run in: the unit tests first (seconds, no storage), the
 * rest only if the unit tests let the mutant live. `--bail` stops at the first failure, so most
 * killed mutants cost one short run.
 */
export function testTiers(files: readonly string[]): string[][] {
  const unit = files.filter((file) => file.startsWith('test/unit/'));
  const rest = files.filter((file) => !file.startsWith('test/unit/'));
  return [unit, rest].filter((tier) => tier.length > 0);
}

export interface FileScore {
  file: string;
  /** Mutants that compile and were tested (killed, timed out, survived, not covered). */
  valid: number;
  /** Killed or timed out, by Stryker's count. */
  detected: number;
  /** Static survivors the static check killed. */
  killedStatic: number;
}

const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

/**
 * Stryker's score per file, and the same with the static check's verdicts counted: a static
 * survivor its tests kill when the module is loaded mutated is detected, like any other.
 */
export function scores(report: Report, verdicts: readonly StaticVerdict[]): FileScore[] {
  return Object.entries(report.files)
    .map(([file, { mutants }]) => {
      const counted = mutants.filter((m) => DETECTED.has(m.status) || UNDETECTED.has(m.status));
      const killedStatic = counted.filter(
        (m) =>
          m.status === 'Survived' &&
          m.static === true &&
          verdicts.some((v) => v.verdict === 'killed' && samePlace(v, placeOf(file, m))),
      ).length;
      return {
        file,
        valid: counted.length,
        detected: counted.filter((m) => DETECTED.has(m.status)).length,
        killedStatic,
      };
    })
    .sort((a, b) => a.file.localeCompare(b.file));
}

/** Percent with one decimal; `n/a` when nothing was tested. */
export function percent(part: number, whole: number): string {
  return whole === 0 ? 'n/a' : `${((100 * part) / whole).toFixed(1)} %`;
}
