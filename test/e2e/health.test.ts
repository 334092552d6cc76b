import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningAzurite, startAzurite } from '../../dev/azurite.js';
import type { LocalApp } from '../../dev/serve.js';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import { deepHealthReportSchema, unhealthyProblemSchema } from '../../shared/health/deep-health-schema.js';
import { freePorts } from '../support/free-port.js';
import { startTestApp, type TestApp } from '../support/local-app.js';

// Liveness and deep health over HTTP on the local host, loading the built function modules, with
// function keys required. Tracking storage is an Azurite of this file's own, persistent and on fixed
// ports, so it can be stopped and started again with its data. A vault failing on a cold app is
// health-key-vault.test.ts.
const FUNCTION_KEY = 'health-test-function-key-0001';

let app: TestApp;
let sims: RunningSimulators;
let storage: RunningAzurite;
let local: LocalApp;
let storageOptions: Parameters<typeof startAzurite>[0];

beforeAll(async () => {
  const [blobPort, tablePort, queuePort] = await freePorts(3);
  // Our own folder: startAzurite deletes a folder it created itself when it stops.
  const location = mkdtempSync(join(tmpdir(), 'azurite-health-'));
  storageOptions = { persistent: true, location, blobPort, tablePort, queuePort };
  app = await startTestApp({
    tag: 'health',
    functionKey: FUNCTION_KEY,
    beforeStart: async () => {
      storage = await startAzurite(storageOptions);
    },
    env: () => ({ TRACKING_STORAGE: storage.connectionString }),
  });
  ({ sims, local } = app);
});

afterAll(async () => {
  await app?.stop();
  await storage?.stop();
  if (storageOptions?.location) rmSync(storageOptions.location, { recursive: true, force: true });
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
    // That the probe reads the vault (not only its copy) is shown cold, by health-key-vault.test.ts.
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
    try {
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
    } finally {
      // Storage comes back at the same address with its data, so the other tests find it whatever their order.
      storage = await startAzurite(storageOptions);
    }
  });
});
