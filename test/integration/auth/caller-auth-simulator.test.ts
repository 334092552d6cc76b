import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { CallerAuthenticator } from '../../../shared/auth/caller-auth.js';
import { CallerAuthError } from '../../../shared/auth/errors.js';
import { loadSettings } from '../../../shared/config/settings.js';
import { simulatorCredential, startTestSimulators } from '../../support/simulators.js';

const APP_ID_URI = 'api://5c7e9a1b-3d5f-4b7d-9f1b-3d5f7b9d1f3b';
const ROLE = 'DeviceBatch.Read';
const TOOL = {
  clientId: 'e1d2c3b4-a596-4877-8899-aabbccddeeff',
  clientSecret: 'tool~secret-for-caller-auth',
};
const ROLELESS_TOOL = '0a1b2c3d-4e5f-4607-8819-2a3b4c5d6e7f';
const OTHER_TENANT = 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e';

const bearer = (token: string) => ({
  get: (name: string) => (name.toLowerCase() === 'authorization' ? `Bearer ${token}` : null),
});

describe('CallerAuthenticator against the Entra ID simulator', () => {
  let sims: RunningSimulators;
  let auth: CallerAuthenticator;

  beforeAll(async () => {
    sims = await startTestSimulators();
    const tenantId = sims.app.tenantId;
    sims.entra.registerApplication({ tenantId, ...TOOL, secrets: [TOOL.clientSecret], roles: [ROLE] });
    sims.entra.registerApplication({ tenantId, clientId: ROLELESS_TOOL, secrets: ['unused'] });
    sims.entra.addTenant(OTHER_TENANT);
    // Built the way the app builds it: from settings, with the simulator as authority host.
    const settings = loadSettings({
      ...sims.env,
      CALLER_AUTH_AUDIENCE: APP_ID_URI,
      CALLER_AUTH_TENANT_ID: tenantId,
      CALLER_AUTH_REQUIRED_ROLE: ROLE,
    });
    auth = new CallerAuthenticator(settings.callerAuth);
  });
  afterAll(() => sims?.stop());

  it('accepts a token the tool got from the token endpoint through @azure/identity', async () => {
    const credential = simulatorCredential(sims.entra.url, { tenantId: sims.app.tenantId, ...TOOL });
    const { token } = await credential.getToken(`${APP_ID_URI}/.default`);
    expect(decodeJwt(token)).toMatchObject({
      aud: APP_ID_URI,
      iss: `https://sts.windows.net/${sims.app.tenantId}/`,
    });

    const identity = await auth.authenticate(bearer(token));

    expect(identity).toEqual({
      appId: TOOL.clientId,
      objectId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      roles: [ROLE],
      tenantId: sims.app.tenantId,
    });
  });

  it('accepts a token minted by issueToken', async () => {
    const token = await sims.entra.issueToken({ audience: APP_ID_URI, clientId: TOOL.clientId });

    await expect(auth.authenticate(bearer(token))).resolves.toMatchObject({ appId: TOOL.clientId });
  });

  it('answers 403 for a valid token of an app without the role', async () => {
    const token = await sims.entra.issueToken({ audience: APP_ID_URI, clientId: ROLELESS_TOOL });

    await expect(auth.authenticate(bearer(token))).rejects.toMatchObject({
      kind: 'forbidden',
      wwwAuthenticate: expect.stringContaining('error="insufficient_scope"'),
    });
  });

  it.each([
    ['expired', { audience: APP_ID_URI, clientId: TOOL.clientId, expiresInSeconds: -600 }, /has expired/],
    ['for Partner Center', { audience: 'https://api.partnercenter.microsoft.com' }, /not this app/],
    ['from another tenant', { audience: APP_ID_URI, tenantId: OTHER_TENANT }, /issued in tenant b1c2d3e4/],
    [
      'with a forged issuer',
      { audience: APP_ID_URI, clientId: TOOL.clientId, issuer: 'https://sts.windows.net/attacker/' },
      /issued by/,
    ],
  ] as const)('answers 401 for a simulator token %s', async (_name, options, detail) => {
    const token = await sims.entra.issueToken({ ...options });

    const error = await auth.authenticate(bearer(token)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(CallerAuthError);
    expect(error).toMatchObject({ kind: 'unauthorized', message: expect.stringMatching(detail) });
    expect((error as CallerAuthError).wwwAuthenticate).toContain('error="invalid_token"');
  });
});
