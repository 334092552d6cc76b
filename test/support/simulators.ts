import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { expect, inject } from 'vitest';
import {
  type RecordedRequest,
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

/**
 * The one MS-RequestId that every given Partner Center request carried. Fails unless there is at
 * least one request, each carried the header (a UUID) and all carried the same value: a set of
 * absent headers must not pass as "one id".
 */
export function theOneRequestId(requests: readonly RecordedRequest[]): string {
  const ids = requests.map((r) => r.headers['ms-requestid']);
  expect(ids.length).toBeGreaterThan(0);
  const first = ids[0];
  expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(ids).toEqual(ids.map(() => first));
  return first as string;
}
