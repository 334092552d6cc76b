import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningAzurite, startAzurite } from '../../dev/azurite.js';
import type { LocalApp } from '../../dev/serve.js';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import { deepHealthReportSchema, unhealthyProblemSchema } from '../../shared/health/deep-health-schema.js';
import { startTestApp, type TestApp } from '../support/local-app.js';

// Liveness and deep health over HTTP on the local host, loading the built function modules, with
// function keys required. Tracking storage is an Azurite of this file's own, so it can be stopped.
const FUNCTION_KEY = 'health-test-function-key-0001';

let app: TestApp;
let sims: RunningSimulators;
let storage: RunningAzurite;
let local: LocalApp;

beforeAll(async () => {
  app = await startTestApp({
    tag: 'health',
    functionKey: FUNCTION_KEY,
    beforeStart: async () => {
      storage = await startAzurite();
    },
    env: () => ({ TRACKING_STORAGE: storage.connectionString }),
  });
  ({ sims, local } = app);
});

afterAll(async () => {
  await app?.stop();
  await storage?.stop();
});

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  text: string;
}

async function get(
  path: string,
  headers: Record<string, string> = {},
  redirect: 'follow' | 'manual' = 'follow',
): Promise<Answer> {
  const res = await fetch(`${local.url}${path}`, { headers, redirect });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

const withKey = { 'x-functions-key': FUNCTION_KEY };
const components = (answer: Answer) =>
  answer.json.components as Record<string, { status: string; latencyMs: number; detail?: string }>;

describe('health', () => {
  it('liveness stays anonymous, 200, and touches no dependency', async () => {
    sims.keyVault.reset();
    sims.entra.reset();
    sims.partnerCenter.reset();
    const res = await get('/api/health');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'ok' });
    expect(sims.keyVault.counters.requests).toBe(0);
    expect(sims.entra.counters.tokenRequests).toBe(0);
    expect(sims.partnerCenter.counters.total).toBe(0);
  });

  it('reports a failing Key Vault (and so token acquisition) as unhealthy with 503 problem+json', async () => {
    sims.keyVault.failNext({ status: 403, times: 10 });
    const res = await get('/api/health/deep', withKey);
    expect(res.status).toBe(503);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(res.headers.get('MS-CorrelationId')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.json).toMatchObject({
      type: '/problems/unhealthy',
      status: 503,
      correlationId: res.headers.get('MS-CorrelationId'),
    });
    // Exactly the documented shape: parsing drops nothing.
    expect(unhealthyProblemSchema.parse(res.json)).toEqual(res.json);
    expect(components(res)).toMatchObject({
      storage: { status: 'healthy' },
      keyVault: { status: 'unhealthy' },
      partnerCenterToken: { status: 'unhealthy' },
    });
    expect(components(res).keyVault!.detail).toMatch(/Key Vault Secrets User/);
    expect(String(res.json.detail)).toMatch(/keyVault/);
  });

  it('reports every component healthy with 200 and its latency, and nothing secret', async () => {
    sims.keyVault.reset();
    const res = await get('/api/health/deep', withKey);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'healthy', version: '0.1.0' });
    expect(deepHealthReportSchema.parse(res.json)).toEqual(res.json);
    for (const name of ['storage', 'keyVault', 'partnerCenterToken']) {
      expect(components(res)[name]!.status, name).toBe('healthy');
      expect(components(res)[name]!.latencyMs, name).toBeGreaterThanOrEqual(0);
    }
    for (const canary of [sims.app.clientSecret, sims.developer.clientSecret, storage.connectionString]) {
      expect(res.text).not.toContain(canary);
    }
    expect(sims.keyVault.counters.secretReads).toBeGreaterThanOrEqual(1);
  });

  it('deep health needs the function key; ?deep=true on the anonymous route sends callers there', async () => {
    expect((await get('/api/health/deep')).status).toBe(401);

    const redirect = await get('/api/health?deep=true', {}, 'manual');
    expect(redirect.status).toBe(307);
    expect(redirect.headers.get('Location')).toBe('/api/health/deep');
    // Followed without a key, the host refuses it; with a key it is checked and not merely alive.
    expect((await get('/api/health?deep=true')).status).toBe(401);
    expect((await get('/api/health?deep=true', withKey)).json).toHaveProperty('components');
    const viaQuery = await get(`/api/health?deep=true&code=${FUNCTION_KEY}`, {}, 'manual');
    expect(viaQuery.headers.get('Location')).toBe(`/api/health/deep?code=${FUNCTION_KEY}`);
  });

  it('reports stopped storage as unhealthy with 503 (its check bounded); liveness stays 200', async () => {
    await storage.stop();
    const res = await get('/api/health/deep', withKey);
    expect(res.status).toBe(503);
    expect(components(res)).toMatchObject({
      storage: { status: 'unhealthy' },
      keyVault: { status: 'healthy' },
      partnerCenterToken: { status: 'healthy' },
    });
    expect(components(res).storage!.detail).toMatch(/no answer within 3000 ms|unreachable/);
    expect(unhealthyProblemSchema.parse(res.json)).toEqual(res.json);
    expect(res.text).not.toContain(storage.connectionString);

    expect((await get('/api/health')).status).toBe(200);
  });
});
