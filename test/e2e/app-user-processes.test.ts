import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSimulators, SIMULATOR_DEFAULTS } from '../../dev/simulators/index.js';
import { type AppProcess, startAppProcess } from '../support/app-process.js';
import { trackingStorageSettings, uniqueStorageNames } from '../support/app-settings.js';
import { startTestSimulators } from '../support/simulators.js';
import { waitFor } from '../support/wait.js';

// App+User across processes, as `npm run serve` runs the app: a restart, two instances rotating
// the same refresh token at once, and `npm run consent` (its built entry point) as an admin runs it.
// Entra revokes each refresh token the moment it is exchanged: a token written late, or not at
// all, shows up as an instance that can no longer get tokens.
const RT = SIMULATOR_DEFAULTS.refreshTokenSecretName;
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
let sims: RunningSimulators;
let env: Record<string, string>;
/** Batches that stay `processing`, so that every lookup asks Partner Center: one per instance. */
let batches: { customerId: string; trackingId: string }[];
const hosts: AppProcess[] = [];

beforeAll(async () => {
  sims = await startTestSimulators({ appUser: {}, userGrants: { revokeOnRotation: true } });
  env = {
    ...sims.env,
    ...trackingStorageSettings(uniqueStorageNames('aup')),
    SWEEP_SCHEDULE: '0 0 0 1 1 *',
    LOCAL_FUNCTION_KEY: '',
  };
  batches = [0, 1].map(() =>
    sims.partnerCenter.createBatch({ customerId: crypto.randomUUID(), devices: 1, statuses: ['processing'] }),
  );
});

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.kill('SIGKILL')));
});

afterAll(async () => {
  await sims?.stop();
});

async function startHost(): Promise<AppProcess> {
  const host = await startAppProcess(env);
  hosts.push(host);
  return host;
}

/** A lookup of `batch` (default the first): its status, or the problem type when it failed. */
async function lookup(host: AppProcess, batch = batches[0]!): Promise<number | string> {
  const res = await fetch(`${host.url}/api/customers/${batch.customerId}/batchJobStatus/${batch.trackingId}`);
  const body = (await res.json()) as { type?: string };
  return res.status === 200 ? 200 : `${res.status} ${body.type}`;
}

/** The vault's latest refresh token, and whether Entra would still exchange it. */
function vaultTokenIsAlive(): boolean {
  return sims.entra.users.isRefreshTokenValid(sims.keyVault.getSecretValue(RT)!);
}

describe('App+User across app processes', () => {
  it('a restarted app uses the rotated token: the original is revoked and lookups still answer 200', async () => {
    const original = sims.keyVault.getSecretValue(RT)!;
    sims.entra.reset();
    sims.keyVault.reset();

    const first = await startHost();
    expect(await lookup(first)).toBe(200);
    await first.kill('SIGTERM');
    expect(sims.entra.users.isRefreshTokenValid(original)).toBe(false);
    expect(sims.keyVault.counters.secretWritesByName[RT]).toBe(1);

    const second = await startHost();
    expect(await lookup(second)).toBe(200);
    expect(sims.entra.users.counters).toMatchObject({ refreshExchanges: 2, invalidGrants: 0 });
    expect(vaultTokenIsAlive()).toBe(true);
  });

  it('two app processes exchanging at once lose no token', async () => {
    const [a, b] = await Promise.all([startHost(), startHost()]);
    sims.entra.reset();
    for (let round = 0; round < 3; round++) {
      // Round 0: both cold. Then a 401 to each makes both drop their access tokens and exchange again.
      if (round > 0) {
        for (const batch of batches) {
          sims.partnerCenter.inject(
            { kind: 'status', status: 401 },
            { times: 1, trackingId: batch.trackingId },
          );
        }
      }
      const statuses = await Promise.all([a, b, a, b].map((host, i) => lookup(host, batches[i % 2]!)));
      expect(statuses, `round ${round}`).toEqual([200, 200, 200, 200]);
      expect(vaultTokenIsAlive(), `round ${round}`).toBe(true);
    }
    // Each round both exchanged; whoever lost a race found the winner's token in the vault.
    const { refreshExchanges, invalidGrants } = sims.entra.users.counters;
    expect(refreshExchanges - invalidGrants).toBeGreaterThanOrEqual(6);
    await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);

    const after = await startHost();
    expect(await lookup(after)).toBe(200);
  }, 90_000);

  it('npm run consent stores a refresh token that the app then uses', async () => {
    sims.keyVault.deleteSecret(RT);
    sims.entra.users.revokeRefreshTokens();
    sims.entra.users.configure({ autoApprove: false, deviceCodeIntervalSeconds: 1 });
    sims.entra.reset();
    sims.keyVault.reset();

    const consent = spawn(process.execPath, ['dist/cli/consent.js'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    consent.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    consent.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => consent.once('exit', resolve));

    // The admin reads the code from the command's output and signs in with it (with MFA).
    const userCode = await waitFor(() => sims.entra.users.pendingUserCodes()[0], {
      description: 'a device code waiting for the sign-in',
    });
    await waitFor(() => output.includes(userCode), {
      description: `the code ${userCode} shown to the admin`,
    });
    expect(output).toContain('/devicelogin');
    sims.entra.users.approveDeviceCode(userCode, { mfa: true });

    expect(await exited, output).toBe(0);
    const versions = sims.keyVault.listVersions(RT);
    expect(versions).toHaveLength(1);
    expect(versions[0]!.tags).toMatchObject({ writtenBy: 'npm run consent' });
    expect(output).toContain(`Stored the refresh token as version ${versions[0]!.version}`);
    expect(output).not.toContain(versions[0]!.value);
    expect(sims.entra.users.counters.deviceCodePolls).toBeGreaterThanOrEqual(1);

    const host = await startHost();
    expect(await lookup(host)).toBe(200);
    expect(sims.entra.users.counters.refreshExchanges).toBe(1);
    expect(sims.keyVault.listVersions(RT)).toHaveLength(2);
  });
});
