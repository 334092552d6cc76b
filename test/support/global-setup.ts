import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startAzurite } from '../../dev/azurite.js';
import { createLocalTlsCertificate } from '../../dev/simulators/tls.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the Azurite started for this test run. */
    azuriteConnectionString: string;
    azuriteBlobPort: number;
    azuriteTablePort: number;
    /** The one TLS certificate every simulator in this run serves (trusted via NODE_EXTRA_CA_CERTS). */
    tlsCert: string;
    tlsKey: string;
  }
}

/**
 * One Azurite and one trusted TLS certificate for the whole run. NODE_EXTRA_CA_CERTS is read by
 * Node only at process start, so it is set here, before vitest forks the test processes.
 */
export default async function setup(project: TestProject) {
  const tls = await createLocalTlsCertificate();
  const folder = mkdtempSync(join(tmpdir(), 'dbs-test-'));
  const caFile = join(folder, 'local-ca.pem');
  writeFileSync(caFile, tls.cert);
  process.env.NODE_EXTRA_CA_CERTS = caFile;

  const azurite = await startAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);
  project.provide('azuriteBlobPort', azurite.blobPort);
  project.provide('azuriteTablePort', azurite.tablePort);
  project.provide('tlsCert', tls.cert);
  project.provide('tlsKey', tls.key);

  return async () => {
    await azurite.stop();
  };
}
