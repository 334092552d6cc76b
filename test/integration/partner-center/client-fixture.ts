import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { PartnerCenterClient, type UpstreamCallInfo } from '../../../shared/partner-center/client.js';
import { PartnerCenterError } from '../../../shared/partner-center/errors.js';
import type { CallPriority } from '../../../shared/partner-center/model.js';
import type { RotatableCredential } from '../../../shared/partner-center/pipeline.js';
import { rejectionOf } from '../../support/rejection.js';
import { simulatorCredential, startTestSimulators } from '../../support/simulators.js';

type ClientOptions = ConstructorParameters<typeof PartnerCenterClient>[2];

/**
 * PartnerCenterClient on its own against the simulators of this test file (started once, faults
 * cleared before each test), with what every call reported and every throttle it saw.
 */
export function partnerCenterClientFixture() {
  let sims: RunningSimulators | undefined;
  const calls: UpstreamCallInfo[] = [];
  const throttles: { retryAfterMs: number | undefined; priority: CallPriority }[] = [];
  const running = () => {
    if (!sims) throw new Error('the simulators are not started (use the fixture inside a test)');
    return sims;
  };

  beforeAll(async () => {
    sims = await startTestSimulators();
  });
  afterAll(() => sims?.stop());
  beforeEach(() => {
    running().partnerCenter.clearFaults();
    calls.length = 0;
    throttles.length = 0;
  });

  return {
    sims: running,
    calls,
    throttles,
    /**
     * No retries, so each test sees each answer once. By default on the simulators' Partner Center
     * with a ClientSecretCredential of the app.
     */
    client(options: ClientOptions = {}, target: { url?: string; credential?: RotatableCredential } = {}) {
      const { entra, app, partnerCenter } = running();
      const credential = target.credential ?? simulatorCredential(entra.url, app);
      return new PartnerCenterClient(target.url ?? partnerCenter.url, credential, {
        retryOptions: { maxRetries: 0 },
        onResponse: (info) => calls.push(info),
        onThrottled: (retryAfterMs, priority) => throttles.push({ retryAfterMs, priority }),
        ...options,
      });
    },
    /** A batch of `devices` devices that stays `processing`. */
    newBatch(devices = 2) {
      return running().partnerCenter.createBatch({
        customerId: crypto.randomUUID(),
        devices,
        statuses: ['processing'],
      });
    },
    failure: (promise: Promise<unknown>) => rejectionOf(promise, PartnerCenterError),
  };
}
