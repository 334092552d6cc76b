import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { RunningSimulators, StartSimulatorsOptions } from '../../dev/simulators/index.js';
import { startTestSimulators } from './simulators.js';

/** Where the app keeps its trackings: a table name prefix and a blob container. */
export interface StorageNames {
  tablePrefix: string;
  container: string;
}

/** A table prefix and a result container that no other test (or call) uses: `tag` and random hex. */
export function uniqueStorageNames(tag: string): StorageNames {
  return {
    tablePrefix: `${tag}${randomBytes(5).toString('hex')}`,
    container: `${tag}-${randomBytes(5).toString('hex')}`,
  };
}

/** The settings that put the app's trackings under `names` in `connectionString` (default: the run's Azurite). */
export function trackingStorageSettings(
  names: StorageNames,
  connectionString: string = inject('azuriteConnectionString'),
): Record<string, string> {
  return {
    AzureWebJobsStorage: connectionString,
    TRACKING_TABLE_PREFIX: names.tablePrefix,
    TRACKING_RESULT_CONTAINER: names.container,
  };
}

/**
 * Starts the simulators and points this process's environment at them, `settings` on top, for
 * function handlers called in this process. Handlers read their settings from the environment once
 * per process: call this before importing them. Call `stop()` in `afterAll`.
 */
export async function startSimulatorsForHandlers(
  settings: Record<string, string> = {},
  options?: Omit<StartSimulatorsOptions, 'tls'>,
): Promise<RunningSimulators> {
  const sims = await startTestSimulators(options);
  Object.assign(process.env, sims.env, settings);
  return sims;
}
