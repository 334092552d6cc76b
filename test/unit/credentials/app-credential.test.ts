import type { AccessToken, GetTokenOptions } from '@azure/core-auth';
import { ClientCertificateCredential, ClientSecretCredential } from '@azure/identity';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ClientCertificate, createClientCertificate } from '../../../dev/simulators/tls.js';
import {
  AppCredential,
  CredentialError,
  type CredentialMaterial,
  type CredentialMaterialSource,
  isCertificateMaterial,
  PEM_CONTENT_TYPE,
  StaticCredentialSource,
} from '../../../shared/credentials/app-credential.js';

// The app credential's cache and single flight with a scripted material source and a fixed clock;
// Entra's answers are scripted on the identity credential it builds (the wire is in
// test/integration/credentials/app-credential.test.ts).

const T0 = 1_000_000;
const TTL = 60_000;
const DESCRIPTION = "Key Vault secret 'partner-center-app-secret' in https://vault.test";

/** The vault: each read answers `material`, or waits for the test to release it. */
class ScriptedSource implements CredentialMaterialSource {
  readonly description = DESCRIPTION;
  material: CredentialMaterial = { value: 'secret-1', version: 'v1' };
  reads = 0;
  /** When set, reads wait until the test calls the release it is handed. */
  hold = false;
  readonly pending: Array<() => void> = [];

  async read(): Promise<CredentialMaterial> {
    this.reads += 1;
    const material = this.material;
    if (this.hold) await new Promise<void>((release) => this.pending.push(release));
    return material;
  }
}

let now: number;
let source: ScriptedSource;
let certificate: ClientCertificate;

beforeAll(async () => {
  certificate = await createClientCertificate('device-batch-status test');
});

beforeEach(() => {
  now = T0;
  source = new ScriptedSource();
});

function appCredential(cacheTtlMs = TTL): AppCredential {
  return new AppCredential({
    tenantId: 'tenant-1',
    clientId: 'client-1',
    source,
    cacheTtlMs,
    authorityHost: 'https://login.test',
    disableInstanceDiscovery: true,
    now: () => now,
  });
}

/** Scripts the identity credential's answers (Entra's side) and records its calls. */
async function scriptEntra(
  credential: AppCredential,
  answer: (scopes: string | string[], options?: GetTokenOptions) => Promise<AccessToken | null>,
) {
  const { credential: identity } = await credential.current();
  return vi.spyOn(identity, 'getToken').mockImplementation(answer);
}

describe('AppCredential: the material cache', () => {
  it('keeps material for the TTL after the read, to the millisecond', async () => {
    const cred = appCredential();
    await cred.current();
    now = T0 + TTL - 1;
    await cred.current();
    expect(source.reads).toBe(1);
    now = T0 + TTL;
    await cred.current();
    expect(source.reads).toBe(2);
  });

  it('re-reads for a caller asking for younger material, never trusting it longer than the TTL', async () => {
    const cred = appCredential();
    await cred.current();
    now = T0 + 999;
    await cred.current({ maxAgeMs: 1_000 });
    expect(source.reads).toBe(1);
    now = T0 + 1_000;
    await cred.current({ maxAgeMs: 1_000 });
    expect(source.reads).toBe(2);
    now = T0 + 1_000 + TTL;
    await cred.current({ maxAgeMs: 10 * TTL });
    expect(source.reads).toBe(3);
  });

  it('keeps the identity credential (and its token cache) while the material is unchanged', async () => {
    const cred = appCredential();
    const first = await cred.current();
    source.material = { value: 'secret-1', version: 'v2' };
    now = T0 + TTL;
    const again = await cred.current();
    expect(again.credential).toBe(first.credential);
    expect(again.material.version).toBe('v2');
    expect(again.readAt).toBe(T0 + TTL);

    source.material = { value: 'secret-2', version: 'v3' };
    now = T0 + 2 * TTL;
    const rotated = await cred.current();
    expect(rotated.credential).not.toBe(first.credential);
    expect(rotated.material).toEqual({ value: 'secret-2', version: 'v3' });
  });

  it('shares one read among concurrent callers', async () => {
    const cred = appCredential();
    const results = await Promise.all(Array.from({ length: 5 }, () => cred.current()));
    expect(source.reads).toBe(1);
    expect(new Set(results)).toEqual(new Set([results[0]]));
  });

  it('does not keep material read while invalidate() was called', async () => {
    source.hold = true;
    const cred = appCredential();
    const during = cred.current();
    cred.invalidate();
    source.pending.shift()?.();
    await during;
    source.hold = false;
    await cred.current();
    expect(source.reads).toBe(2);
  });

  it('a read overtaken by invalidate() does not end the newer read for its waiters', async () => {
    source.hold = true;
    const cred = appCredential();
    const stale = cred.current();
    cred.invalidate();
    const fresh = cred.current();
    source.pending.shift()?.();
    await stale;
    const waiter = cred.current();
    expect(source.reads).toBe(2);
    source.pending.shift()?.();
    expect(await waiter).toBe(await fresh);
  });

  it('builds a secret credential, or a certificate credential for a PEM with its key', async () => {
    expect((await appCredential().current()).credential).toBeInstanceOf(ClientSecretCredential);
    source.material = { value: certificate.pem };
    expect((await appCredential().current()).credential).toBeInstanceOf(ClientCertificateCredential);
  });

  it.each([
    ['a PEM certificate alone', (): CredentialMaterial => ({ value: certificate.certPem })],
    [
      'the PEM content type on something else',
      (): CredentialMaterial => ({ value: 'not a pem', contentType: PEM_CONTENT_TYPE }),
    ],
  ])('refuses %s, naming the secret and not its value', async (_, material) => {
    source.material = material();
    const error = await appCredential()
      .current()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialError);
    expect(error).toMatchObject({
      name: 'CredentialError',
      stage: 'key_vault',
      message: `${DESCRIPTION} is a PEM certificate without its private key`,
    });
  });
});

describe('AppCredential: tokens', () => {
  const SCOPE = 'https://api.partnercenter.microsoft.com/.default';

  it('merges concurrent requests for the same scopes and claims, and only those', async () => {
    const cred = appCredential();
    const asked: string[] = [];
    await scriptEntra(cred, async (scopes, options) => {
      const call = asked.push(`${[scopes].flat().join(',')}|${options?.claims ?? ''}`);
      await Promise.resolve();
      return { token: `t${call}`, expiresOnTimestamp: T0 + 3_600_000 };
    });
    const tokens = await Promise.all([
      cred.getToken(SCOPE),
      cred.getToken([SCOPE]),
      cred.getToken('https://vault.azure.net/.default'),
      cred.getToken(SCOPE, { claims: '{"access_token":{}}' }),
      cred.getToken(SCOPE, { claims: '{"access_token":{}}' }),
      cred.getToken(SCOPE, { claims: '{"id_token":{}}' }),
    ]);
    expect(asked.sort()).toEqual([
      `${SCOPE}|`,
      `${SCOPE}|{"access_token":{}}`,
      `${SCOPE}|{"id_token":{}}`,
      'https://vault.azure.net/.default|',
    ]);
    expect(tokens[0]).toBe(tokens[1]);
    expect(tokens[3]).toBe(tokens[4]);
    expect(new Set(tokens.map((t) => t?.token)).size).toBe(4);
    // Once answered, the next request asks again (the identity credential's own cache decides).
    await cred.getToken(SCOPE);
    expect(asked).toHaveLength(5);
  });

  it("names the app and tenant and Entra's first line when a token is refused, keeping its status", async () => {
    const cred = appCredential();
    const refusal = Object.assign(
      new Error(`AADSTS7000215: Invalid client secret provided. ${'z'.repeat(400)}\nTrace ID: 1`),
      { statusCode: 401 },
    );
    await scriptEntra(cred, async () => {
      throw refusal;
    });
    const error = await cred.getToken(SCOPE).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialError);
    expect(error).toMatchObject({ stage: 'token', statusCode: 401, cause: refusal });
    expect((error as Error).message).toBe(
      `Microsoft Entra ID refused a token for app client-1 in tenant tenant-1: ${`AADSTS7000215: Invalid client secret provided. ${'z'.repeat(400)}`.slice(0, 300)}`,
    );
  });
});

describe('credential material', () => {
  it('is a certificate by its content type or by its look', () => {
    expect(isCertificateMaterial({ value: 'secret' })).toBe(false);
    expect(isCertificateMaterial({ value: 'secret', contentType: 'text/plain' })).toBe(false);
    expect(isCertificateMaterial({ value: 'secret', contentType: PEM_CONTENT_TYPE })).toBe(true);
    expect(isCertificateMaterial({ value: '-----BEGIN CERTIFICATE-----' })).toBe(true);
    expect(PEM_CONTENT_TYPE).toBe('application/x-pem-file');
  });

  it('comes from the PARTNER_CENTER_CLIENT_SECRET setting in local development', async () => {
    const local = new StaticCredentialSource('local-secret');
    expect(local.description).toBe('the PARTNER_CENTER_CLIENT_SECRET setting');
    expect(await local.read()).toEqual({ value: 'local-secret' });
  });
});
