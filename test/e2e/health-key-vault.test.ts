import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalApp } from '../../dev/serve.js';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import { unhealthyProblemSchema } from '../../shared/health/deep-health-schema.js';
import { startTestApp, type TestApp } from '../support/local-app.js';

// Deep health with Key Vault refusing the app from its very first read: a file of its own, so the
// app is cold whatever ran before (deep health re-reads the vault only when its copy is over 30 s
// old, so a warm app would rightly still report the vault it read a moment ago as healthy).
const FUNCTION_KEY = 'health-kv-test-function-key-0001';

let app: TestApp;
let sims: RunningSimulators;
let local: LocalApp;

beforeAll(async () => {
  app = await startTestApp({ tag: 'healthkv', functionKey: FUNCTION_KEY });
  ({ sims, local } = app);
});

afterAll(async () => {
  await app?.stop();
});

describe('deep health, cold app', () => {
  it('reports a failing Key Vault (and so token acquisition) as unhealthy with 503 problem+json', async () => {
    sims.keyVault.failNext({ status: 403, times: 10 });
    const res = await fetch(`${local.url}/api/health/deep`, { headers: { 'x-functions-key': FUNCTION_KEY } });
    const json = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(503);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(res.headers.get('MS-CorrelationId')).toMatch(/^[0-9a-f-]{36}$/);
    expect(json).toMatchObject({
      type: '/problems/unhealthy',
      status: 503,
      correlationId: res.headers.get('MS-CorrelationId'),
    });
    // Exactly the documented shape: parsing drops nothing.
    expect(unhealthyProblemSchema.parse(json)).toEqual(json);
    const components = json.components as Record<string, { status: string; detail?: string }>;
    expect(components).toMatchObject({
      storage: { status: 'healthy' },
      keyVault: { status: 'unhealthy' },
      partnerCenterToken: { status: 'unhealthy' },
    });
    expect(components.keyVault!.detail).toMatch(/Key Vault Secrets User/);
    expect(String(json.detail)).toMatch(/keyVault/);
  });
});
