import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalApp } from '../../dev/serve.js';
import {
  DOCS_EXAMPLE_CUSTOMER_ID,
  DOCS_EXAMPLE_TRACKING_ID,
  type RunningSimulators,
} from '../../dev/simulators/index.js';
import { startTestApp, type TestApp } from '../support/local-app.js';

// Function keys (enforced by the host) and Entra ID tokens (checked by the app), over HTTP.
const FUNCTION_KEY = 'local-test-function-key-0001';
const AUDIENCE = 'api://5f0c2c47-43a9-4c5e-9a3f-0d5b8c1e2f11';
const ROLE = 'BatchStatus.Read';

let app: TestApp;
let sims: RunningSimulators;
let local: LocalApp;

beforeAll(async () => {
  app = await startTestApp({
    tag: 'auth',
    functionKey: FUNCTION_KEY,
    env: (s) => ({
      CALLER_AUTH_AUDIENCE: AUDIENCE,
      CALLER_AUTH_TENANT_ID: s.app.tenantId,
      CALLER_AUTH_REQUIRED_ROLE: ROLE,
    }),
  });
  ({ sims, local } = app);
});

afterAll(async () => {
  await app?.stop();
});

const lookupPath = `/api/customers/${DOCS_EXAMPLE_CUSTOMER_ID}/batchJobStatus/${DOCS_EXAMPLE_TRACKING_ID}`;

function get(path: string, headers: Record<string, string> = {}) {
  return fetch(`${local.url}${path}`, { headers });
}

function token(roles: string[], audience = AUDIENCE, expiresInSeconds = 600) {
  return sims.entra.issueToken({ audience, roles, clientId: crypto.randomUUID(), expiresInSeconds });
}

describe('caller authorization', () => {
  it('refuses a call without the function key, and never asks Partner Center', async () => {
    sims.partnerCenter.reset();
    const res = await get(lookupPath);
    expect(res.status).toBe(401);
    expect(sims.partnerCenter.counters.total).toBe(0);
  });

  it('keeps health open without key or token', async () => {
    expect((await get('/api/health')).status).toBe(200);
  });

  it('asks for a bearer token once the key is right', async () => {
    const res = await get(lookupPath, { 'x-functions-key': FUNCTION_KEY });
    expect(res.status).toBe(401);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(res.headers.get('WWW-Authenticate')).toContain('Bearer');
    expect(await res.json()).toMatchObject({ type: '/problems/unauthorized', status: 401 });
  });

  it.each([
    ['expired', () => token([ROLE], AUDIENCE, -600)],
    ['for another audience', () => token([ROLE], 'https://api.partnercenter.microsoft.com')],
  ])('refuses a token that is %s with 401', async (_, make) => {
    const res = await get(lookupPath, {
      'x-functions-key': FUNCTION_KEY,
      Authorization: `Bearer ${await make()}`,
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('WWW-Authenticate')).toContain('invalid_token');
  });

  it('refuses a valid token without the app role with 403', async () => {
    const res = await get(lookupPath, {
      'x-functions-key': FUNCTION_KEY,
      Authorization: `Bearer ${await token([])}`,
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ type: '/problems/forbidden', status: 403 });
  });

  it('lets a tool with the key and a token carrying the role through', async () => {
    const res = await get(lookupPath, {
      'x-functions-key': FUNCTION_KEY,
      Authorization: `Bearer ${await token([ROLE])}`,
    });
    expect(res.status).toBe(200);
    const viaQuery = await get(`/api/trackings?code=${FUNCTION_KEY}`, {
      Authorization: `Bearer ${await token([ROLE])}`,
    });
    expect(viaQuery.status).toBe(200);
  });
});
