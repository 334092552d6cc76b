import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAzurite } from './azurite.js';
import { DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID, startSimulators } from './simulators/index.js';

/**
 * `npm run dev`: Azurite (in memory), the Entra ID, Key Vault and Partner Center simulators (HTTPS
 * with a certificate generated now), and the function app, wired together with no Azure account.
 *
 * The function app runs as a child process — exactly `npm run serve` — because Node reads
 * NODE_EXTRA_CA_CERTS (how it trusts the simulators' certificate) only when a process starts.
 */

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const appPort = Number(process.env.PORT ?? 7071);

async function main(): Promise<void> {
  const stateDir = path.join(projectRoot, '.dev');
  mkdirSync(stateDir, { recursive: true });

  // PARTNER_CENTER_AUTH_MODE=app_user: Partner Center takes user tokens only, and the vault waits
  // for `npm run consent` (the Entra simulator approves its code as an admin with MFA).
  const appUser = process.env.PARTNER_CENTER_AUTH_MODE === 'app_user';
  const [azurite, sims] = await Promise.all([
    startAzurite(),
    startSimulators(
      appUser
        ? {
            appUser: { consented: false },
            userGrants: { autoApprove: { mfa: true }, deviceCodeIntervalSeconds: 1 },
          }
        : {},
    ),
  ]);
  const caFile = path.join(stateDir, 'local-ca.pem');
  writeFileSync(caFile, sims.tls.cert);

  // A finished upload with failed devices, to try tracking and the sweep with straight away.
  // (`POST /_sim/batches` on the Partner Center simulator makes batches that progress as they are polled.)
  const demo = sims.partnerCenter.createBatch({
    customerId: DOCS_EXAMPLE_CUSTOMER_ID,
    devices: 8,
    finalStatus: 'finished_with_errors',
    advanceEveryCalls: 0,
  });

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...sims.env,
    NODE_EXTRA_CA_CERTS: caFile,
    AzureWebJobsStorage: azurite.connectionString,
    PORT: String(appPort),
    // Every 30 s locally, so the sweep is seen working; production keeps the 5-minute default.
    SWEEP_SCHEDULE: process.env.SWEEP_SCHEDULE ?? '*/30 * * * * *',
    SWEEP_INITIAL_BACKOFF_SECONDS: process.env.SWEEP_INITIAL_BACKOFF_SECONDS ?? '5',
    SWEEP_MAX_BACKOFF_SECONDS: process.env.SWEEP_MAX_BACKOFF_SECONDS ?? '30',
  };
  const app = spawn(process.execPath, [path.join(projectRoot, 'dist', 'dev', 'serve.js')], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });

  let announced = false;
  app.stdout?.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (!announced && chunk.toString().includes('Function app listening at')) {
      announced = true;
      process.stdout.write(banner({ azurite: azurite.blobEndpoint, sims, demo }));
      if (appUser) process.stdout.write(consentBanner(sims, caFile));
    }
  });

  const stopAll = async (code: number) => {
    await stopChild(app);
    await Promise.all([sims.stop(), azurite.stop()]);
    process.exit(code);
  };
  app.once('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`The function app exited (code ${code}); stopping the simulators and Azurite.\n`);
      void stopAll(code ?? 1);
    }
  });
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(130);
      stopping = true;
      void stopAll(0);
    });
  }
}

function banner(input: {
  azurite: string;
  sims: Awaited<ReturnType<typeof startSimulators>>;
  demo: { customerId: string; trackingId: string; location: string };
}): string {
  const api = `http://localhost:${appPort}/api`;
  const { sims, demo } = input;
  return `
Local stand-ins (no Azure account needed):
  Azurite (in memory)   ${input.azurite.replace(/\/devstoreaccount1$/, '')}
  Entra ID simulator    ${sims.entra.url}
  Key Vault simulator   ${sims.keyVault.url}
  Partner Center sim.   ${sims.partnerCenter.url}   (admin API under /_sim/, see dev/simulators/partner-center.ts)

Try it:
  curl ${api}/customers/${DOCS_EXAMPLE_CUSTOMER_ID}/batchjobstatus/${DOCS_EXAMPLE_TRACKING_ID}

  # track a batch that is still being processed, run the sweep now, read the outcome
  curl -X POST ${api}/trackings -H 'Content-Type: application/json' -d '{"location":"${demo.location}","label":"demo"}'
  curl -X POST http://localhost:${appPort}/admin/functions/sweepPendingTrackings -H 'Content-Type: application/json' -d '{"input":""}'
  curl ${api}/trackings/${demo.customerId}/${demo.trackingId}

Press Ctrl+C to stop everything.
`;
}

/** The consent command for the simulators, ready to paste (the app answers consent-required until it has run). */
function consentBanner(sims: Awaited<ReturnType<typeof startSimulators>>, caFile: string): string {
  const settings = Object.entries({ ...sims.env, NODE_EXTRA_CA_CERTS: caFile })
    .map(([name, value]) => `${name}='${value}'`)
    .join(' \\\n    ');
  return `App+User mode: no refresh token yet (lookups answer /problems/consent-required). Consent, as an admin would:
  env ${settings} \\
    npm run consent

`;
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`npm run dev failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
