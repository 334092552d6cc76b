import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalApp } from '../../dev/serve.js';
import type { RunningSimulators } from '../../dev/simulators/index.js';
import { startTestApp, type TestApp } from '../support/local-app.js';
import { waitFor } from '../support/wait.js';
import { callApi, lookupScenarios } from './lookup-scenarios.js';

// The whole app over HTTP, on the local host, loading the built function modules (npm test builds
// first) exactly as `npm run serve` does, against Azurite and the simulators.
let app: TestApp;
let sims: RunningSimulators;
let local: LocalApp;
let api: string;

beforeAll(async () => {
  app = await startTestApp({ tag: 'e2e' });
  ({ sims, local, api } = app);
});

afterAll(async () => {
  await app?.stop();
});

const call = (method: string, path: string, body?: unknown) => callApi(api, method, path, body);

describe('the function app on the local host', () => {
  it('serves exactly the registrations the Functions host would receive', () => {
    const described = local.registry.functions.map((f) => ({
      name: f.name,
      kind: f.kind,
      route: 'route' in f ? f.route : undefined,
      methods: 'methods' in f ? f.methods : undefined,
      authLevel: 'authLevel' in f ? f.authLevel : undefined,
      schedule: 'schedule' in f ? f.schedule : undefined,
    }));
    expect(described).toEqual(
      expect.arrayContaining([
        {
          name: 'getBatchStatus',
          kind: 'http',
          route: 'customers/{customerId}/batchJobStatus/{trackingId}',
          methods: ['GET'],
          authLevel: 'function',
          schedule: undefined,
        },
        {
          name: 'health',
          kind: 'http',
          route: 'health',
          methods: ['GET'],
          authLevel: 'anonymous',
          schedule: undefined,
        },
        {
          name: 'registerTracking',
          kind: 'http',
          route: 'trackings',
          methods: ['POST'],
          authLevel: 'function',
          schedule: undefined,
        },
        {
          name: 'listTrackings',
          kind: 'http',
          route: 'trackings',
          methods: ['GET'],
          authLevel: 'function',
          schedule: undefined,
        },
        {
          name: 'getTracking',
          kind: 'http',
          route: 'trackings/{customerId}/{trackingId}',
          methods: ['GET'],
          authLevel: 'function',
          schedule: undefined,
        },
        {
          name: 'cancelTracking',
          kind: 'http',
          route: 'trackings/{customerId}/{trackingId}',
          methods: ['DELETE'],
          authLevel: 'function',
          schedule: undefined,
        },
        {
          name: 'trackingsFallback',
          kind: 'http',
          route: 'trackings/{*rest}',
          methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'],
          authLevel: 'anonymous',
          schedule: undefined,
        },
        {
          name: 'sweepPendingTrackings',
          kind: 'timer',
          route: undefined,
          methods: undefined,
          authLevel: undefined,
          schedule: '%SWEEP_SCHEDULE%',
        },
      ]),
    );
  });

  lookupScenarios(() => ({ app, mode: 'app' }));

  it('lists, cancels and refuses bad input with problem+json', async () => {
    const customerId = crypto.randomUUID();
    const trackingId = crypto.randomUUID();
    expect((await call('POST', '/trackings', { customerId, trackingId })).status).toBe(201);
    const list = await call('GET', `/trackings?customerId=${customerId}`);
    expect(list.json).toMatchObject({ items: [{ customerId, trackingId, state: 'pending' }] });

    expect((await call('DELETE', `/trackings/${customerId}/${trackingId}`)).status).toBe(204);
    expect((await call('GET', `/trackings/${customerId}/${trackingId}`)).json).toMatchObject({
      state: 'cancelled',
    });

    const bad = await call('POST', '/trackings', { location: '/customers/nope/batchJobStatus/also-nope' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('Content-Type')).toBe('application/problem+json');
    expect(bad.json).toMatchObject({ type: '/problems/invalid-request', status: 400 });

    const unknown = await call('GET', `/trackings/${crypto.randomUUID()}/${crypto.randomUUID()}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ type: '/problems/not-found' });
  });

  it('answers another method on a tracking route with 405 and Allow, and other paths with 404', async () => {
    const key = `${crypto.randomUUID()}/${crypto.randomUUID()}`;
    const cases = [
      { method: 'PUT', path: '/trackings', status: 405, allow: 'GET, POST' },
      { method: 'DELETE', path: '/trackings', status: 405, allow: 'GET, POST' },
      { method: 'POST', path: `/trackings/${key}`, status: 405, allow: 'GET, DELETE' },
      { method: 'PATCH', path: `/trackings/${key}`, status: 405, allow: 'GET, DELETE' },
      { method: 'GET', path: `/trackings/${crypto.randomUUID()}`, status: 404, allow: null },
      { method: 'GET', path: `/trackings/${key}/devices`, status: 404, allow: null },
    ];
    for (const { method, path, status, allow } of cases) {
      const res = await call(method, path, method === 'GET' ? undefined : {});
      expect({ method, path, status: res.status, allow: res.headers.get('allow') }).toEqual({
        method,
        path,
        status,
        allow,
      });
      expect(res.headers.get('Content-Type')).toBe('application/problem+json');
      expect(res.json).toMatchObject({
        type: status === 405 ? '/problems/method-not-allowed' : '/problems/not-found',
      });
    }
  });

  it('starts the sweep on demand through the admin endpoint, as the Functions host does', async () => {
    const batch = sims.partnerCenter.createBatch({
      customerId: crypto.randomUUID(),
      devices: 2,
      statuses: ['finished'],
    });
    const key = `${batch.customerId}/${batch.trackingId}`;
    expect((await call('POST', '/trackings', { location: batch.location })).status).toBe(201);
    expect((await call('GET', `/trackings/${key}`)).json).toMatchObject({ state: 'pending' });

    const res = await fetch(`${local.url}/admin/functions/sweepPendingTrackings`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"input":""}',
    });
    expect(res.status).toBe(202);
    // The sweep really ran: it checked the tracking and recorded the terminal answer.
    const record = await waitFor(
      async () => {
        const now = await call('GET', `/trackings/${key}`);
        return now.json?.state === 'pending' ? undefined : now.json;
      },
      { description: 'the sweep to record the finished batch' },
    );
    expect(record).toMatchObject({ state: 'finished', upstreamStatus: 'finished', checks: 1 });
    expect(sims.partnerCenter.counters.byTrackingId[batch.trackingId.toLowerCase()]).toBe(1);
  });

  it('answers health anonymously with the version and nothing secret', async () => {
    const res = await call('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'ok', version: '0.1.0' });
    expect(JSON.stringify(res.json)).not.toContain(sims.app.clientSecret);
  });
});
