import type { HostLogger } from '../../dev/host/host-log.js';
import type { LocalApp } from '../../dev/serve.js';
import type { RunningSimulators, StartSimulatorsOptions } from '../../dev/simulators/index.js';
import { type StorageNames, trackingStorageSettings, uniqueStorageNames } from './app-settings.js';
import { startTestSimulators } from './simulators.js';

export interface StartTestAppOptions {
  /** Starts the table prefix and the container name of this app's own tracking storage. */
  tag: string;
  simulators?: Omit<StartSimulatorsOptions, 'tls'>;
  /** Required on every call but health (the host enforces it); default: none required. */
  functionKey?: string;
  /** Settings on top of the defaults; `undefined` removes one. A function is given the running simulators. */
  env?:
    | Record<string, string | undefined>
    | ((sims: RunningSimulators) => Record<string, string | undefined>);
  /** Runs once the simulators are up, before the app starts (and so before its modules load). */
  beforeStart?: (sims: RunningSimulators) => void | Promise<void>;
  /** Default: every line dropped. */
  logger?: HostLogger;
}

export interface TestApp {
  sims: RunningSimulators;
  local: LocalApp;
  /** `{local.url}/api` */
  api: string;
  /** Where this app keeps its trackings (in the run's Azurite unless `env` says otherwise). */
  names: StorageNames;
  /** Stops the app, then the simulators. */
  stop(): Promise<void>;
}

/**
 * The whole function app on the local host, in this process, loading the built function modules
 * (npm test builds first) exactly as `npm run serve` does, against the simulators and the run's
 * Azurite, with tracking storage of its own and the sweep never on its schedule (only when a test
 * asks). Call `stop()` in `afterAll`.
 */
export async function startTestApp(options: StartTestAppOptions): Promise<TestApp> {
  const sims = await startTestSimulators(options.simulators);
  try {
    await options.beforeStart?.(sims);
    const names = uniqueStorageNames(options.tag);
    const { startLocalApp } = await import('../../dev/serve.js');
    const local = await startLocalApp({
      port: 0,
      useLocalSettings: false,
      ...(options.functionKey ? { functionKey: options.functionKey } : {}),
      env: {
        ...sims.env,
        ...trackingStorageSettings(names),
        SWEEP_SCHEDULE: '0 0 0 1 1 *',
        LOCAL_FUNCTION_KEY: undefined,
        ...(typeof options.env === 'function' ? options.env(sims) : options.env),
      },
      logger: options.logger ?? (() => {}),
    });
    return {
      sims,
      local,
      api: `${local.url}/api`,
      names,
      stop: async () => {
        await local.stop();
        await sims.stop();
      },
    };
  } catch (error) {
    await sims.stop();
    throw error;
  }
}
