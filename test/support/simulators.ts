import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { inject } from 'vitest';
import {
  type RunningSimulators,
  type StartSimulatorsOptions,
  startSimulators,
} from '../../dev/simulators/index.js';
import type { TlsMaterial } from '../../dev/simulators/tls.js';

/** The certificate the global setup made trusted (NODE_EXTRA_CA_CERTS) for this test run. */
export function testTls(): TlsMaterial {
  return { cert: inject('tlsCert'), key: inject('tlsKey') };
}

/** {@link startSimulators} serving the run's trusted certificate. Call `stop()` in `afterAll`. */
export function startTestSimulators(
  options: Omit<StartSimulatorsOptions, 'tls'> = {},
): Promise<RunningSimulators> {
  return startSimulators({ ...options, tls: testTls() });
}

/** Clears the counters, injected faults and latency of all three simulators; batches, secrets and registrations stay. */
export function resetSimulators(sims: RunningSimulators): void {
  sims.partnerCenter.reset();
  sims.keyVault.reset();
  sims.entra.reset();
}

/** A real `ClientSecretCredential` pointed at the Entra simulator. */
export function simulatorCredential(
  entraUrl: string,
  app: { tenantId: string; clientId: string; clientSecret: string },
): ClientSecretCredential {
  return new ClientSecretCredential(app.tenantId, app.clientId, app.clientSecret, {
    authorityHost: entraUrl,
    disableInstanceDiscovery: true,
  });
}

/** A real `SecretClient` on the vault simulator, authenticated as the developer identity. */
export function developerSecretClient(sims: RunningSimulators): SecretClient {
  return new SecretClient(sims.keyVault.url, simulatorCredential(sims.entra.url, sims.developer), {
    disableChallengeResourceVerification: true,
  });
}
