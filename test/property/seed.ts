import fc from 'fast-check';

/**
 * One fixed seed for every property suite, so that a run is reproducible; another one with
 * `PROPERTY_SEED=<n> npx vitest run test/property`. The seed is printed by each suite that imports
 * this module (and fast-check prints it, with the failing case's path, when a property fails).
 */
export const PROPERTY_SEED = process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : 20_261_201;
if (!Number.isSafeInteger(PROPERTY_SEED)) throw new Error('PROPERTY_SEED must be an integer');

fc.configureGlobal({ seed: PROPERTY_SEED });
console.info(`fast-check seed ${PROPERTY_SEED} (re-run with PROPERTY_SEED=${PROPERTY_SEED})`);

/** Run counts are the CI budget; `PROPERTY_RUNS_SCALE=0.1` makes a quick local pass (same seed). */
export function runs(count: number): number {
  const scale = process.env.PROPERTY_RUNS_SCALE ? Number(process.env.PROPERTY_RUNS_SCALE) : 1;
  return Math.max(1, Math.round(count * scale));
}
