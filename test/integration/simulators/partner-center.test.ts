import { randomUUID } from 'node:crypto';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
} from '@azure/core-rest-pipeline';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EntraSimulator } from '../../../dev/simulators/entra.js';
import {
  type BatchUploadDetails,
  DEVICE_ERRORS,
  PartnerCenterSimulator,
} from '../../../dev/simulators/partner-center.js';
import { parseThrottlingFlag } from '../../../dev/simulators/partner-throttle.js';
import { DOCS_EXAMPLE_TEXT } from '../../support/docs-example.js';
import { testTls } from '../../support/simulators.js';

const TENANT = '4a6c8e0f-2b3d-4f5a-9c7e-1b3d5f7a9c02';
const OTHER_TENANT = '5b7d9f1a-3c4e-4a6b-8d8f-2c4e6a8b0d13';
const APP = { clientId: 'dddddddd-1111-4222-8333-444444444444', secret: 'pc~secret' };
const SCOPE = 'https://api.partnercenter.microsoft.com/.default';
const AUDIENCE = 'https://api.partnercenter.microsoft.com';
const CUSTOMER = '8f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0';
const WIRE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

describe('PartnerCenterSimulator', () => {
  const tls = testTls();
  let clock = Date.parse('2024-05-01T08:00:00Z');
  const entra = new EntraSimulator({ tls });
  const partnerCenter = new PartnerCenterSimulator({ tls, entra, tenantId: TENANT, now: () => clock });
  let token: string;

  const statusUrl = (customerId: string, trackingId: string, segment = 'batchJobStatus') =>
    `${partnerCenter.url}/v1/customers/${customerId}/${segment}/${trackingId}`;
  const get = (url: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(url, {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...headers },
      signal,
    });
  const poll = async (trackingId: string): Promise<BatchUploadDetails> => {
    const response = await get(statusUrl(CUSTOMER, trackingId));
    expect(response.status).toBe(200);
    return (await response.json()) as BatchUploadDetails;
  };

  beforeAll(async () => {
    await entra.start();
    await partnerCenter.start();
    entra.registerApplication({ tenantId: TENANT, clientId: APP.clientId, secrets: [APP.secret] });
    entra.addTenant(OTHER_TENANT);
    token = await entra.issueToken({ audience: AUDIENCE, clientId: APP.clientId });
  });
  afterAll(async () => {
    await partnerCenter.stop();
    await entra.stop();
  });
  beforeEach(() => {
    partnerCenter.reset({ batches: true });
    partnerCenter.throttle(undefined);
    clock = Date.parse('2024-05-01T08:00:00Z');
  });

  it("serves the docs' example to a core-rest-pipeline with the bearer-token policy", async () => {
    const credential = new ClientSecretCredential(TENANT, APP.clientId, APP.secret, {
      authorityHost: entra.url,
      disableInstanceDiscovery: true,
    });
    const pipeline = createEmptyPipeline();
    pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: SCOPE }));
    const request = createPipelineRequest({
      url: `${partnerCenter.url}/v1/customers/47021739-3426-40bf-9601-61b4b6d7c793/batchjobstatus/0127ed8e-ff72-4983-a3d8-e8d8bd378932`,
      headers: createHttpHeaders({
        Accept: 'application/json',
        'MS-RequestId': 'e88d014d-ab70-41de-90a0-f7fd1797267d',
        'MS-CorrelationId': 'de894e18-f027-4ac0-8b5a-34f0c222af0c',
        'X-Locale': 'en-US',
        'MS-PartnerCenter-Application': 'device-batch-status-tests',
      }),
    });

    const response = await pipeline.sendRequest(createDefaultHttpClient(), request);

    expect(response.status).toBe(200);
    expect(response.bodyAsText).toBe(DOCS_EXAMPLE_TEXT);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('ms-requestid')).toBe('e88d014d-ab70-41de-90a0-f7fd1797267d');
    expect(response.headers.get('ms-correlationid')).toBe('de894e18-f027-4ac0-8b5a-34f0c222af0c');
    expect(response.headers.get('ms-cv')).toBeTruthy();
    expect(response.headers.get('ms-serverid')).toBeTruthy();
    const [logged] = partnerCenter.requests;
    expect(logged).toMatchObject({
      status: 200,
      customerId: '47021739-3426-40bf-9601-61b4b6d7c793',
      trackingId: '0127ed8e-ff72-4983-a3d8-e8d8bd378932',
      headers: {
        authorization: 'Bearer <redacted>',
        'ms-requestid': 'e88d014d-ab70-41de-90a0-f7fd1797267d',
        'x-locale': 'en-US',
        'ms-partnercenter-application': 'device-batch-status-tests',
      },
    });
    expect(JSON.stringify(partnerCenter.requests)).not.toContain(token.slice(0, 40));
  });

  it('generates request and correlation ids when the caller sends none', async () => {
    const response = await get(
      statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932'),
    );

    expect(response.headers.get('ms-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('ms-correlationid')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers 401 with the OAuth realm challenge without a valid token for this tenant and audience', async () => {
    const url = statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932');
    const vaultToken = await entra.issueToken({
      audience: 'https://vault.azure.net',
      clientId: APP.clientId,
    });
    const foreignToken = await entra.issueToken({ audience: AUDIENCE, tenantId: OTHER_TENANT });
    const expiredToken = await entra.issueToken({
      audience: AUDIENCE,
      clientId: APP.clientId,
      expiresInSeconds: -1,
    });

    const responses = [
      await fetch(url),
      await fetch(url, { headers: { Authorization: `Bearer ${vaultToken}` } }),
      await fetch(url, { headers: { Authorization: `Bearer ${foreignToken}` } }),
      await fetch(url, { headers: { Authorization: `Bearer ${expiredToken}` } }),
    ];

    for (const response of responses) {
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^OAuth realm=urn:cpsvc:cpid:[0-9a-f-]+$/);
      expect(await response.json()).toMatchObject({
        code: expect.any(String),
        data: [],
        source: 'PartnerFD',
      });
    }
    expect(partnerCenter.counters).toMatchObject({ total: 4, unauthorized: 4, byStatus: { '401': 4 } });
  });

  it('answers 404 with the ordinary error body for an unknown batch, 400 for a malformed id', async () => {
    const unknown = await get(statusUrl(CUSTOMER, randomUUID()));
    const malformed = await get(statusUrl(CUSTOMER, 'not-a-guid'));

    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      code: expect.any(String),
      description: expect.stringContaining('not found'),
      data: [],
      source: 'PartnerFD',
    });
    expect(malformed.status).toBe(400);
  });

  it('matches the path and the ids case-insensitively', async () => {
    const { trackingId } = partnerCenter.createBatch({ customerId: CUSTOMER, advanceEveryCalls: 0 });

    const response = await get(
      `${partnerCenter.url}/V1/Customers/${CUSTOMER.toUpperCase()}/BATCHJOBSTATUS/${trackingId.toUpperCase()}`,
    );

    expect(response.status).toBe(200);
    expect(((await response.json()) as BatchUploadDetails).batchTrackingId).toBe(trackingId);
  });

  it('moves a batch queued -> processing -> final every N answered calls', async () => {
    const created = partnerCenter.createBatch({
      customerId: CUSTOMER,
      devices: [
        { serialNumber: 'SN-OK', productKey: 'BCDFG-HJKMN-PQRTV-WXY23-46789' },
        { serialNumber: 'SN-BAD', errorCode: '808' },
      ],
      finalStatus: 'finished_with_errors',
      advanceEveryCalls: 2,
    });
    expect(created.location).toBe(`/customers/${CUSTOMER}/batchJobStatus/${created.trackingId}`);

    const seen = [];
    for (let call = 0; call < 6; call++) seen.push(await poll(created.trackingId));

    expect(seen.map((body) => body.status)).toEqual([
      'queued',
      'queued',
      'processing',
      'processing',
      'finished_with_errors',
      'finished_with_errors',
    ]);
    expect(seen[3]?.completedTime).toBeUndefined();
    expect(seen[3]?.devicesStatus.map((d) => d.status)).toEqual(['in-progress', 'in-progress']);
    expect(seen[0]?.startedTime).toBe('2024-05-01T08:00:00');
    const final = seen[5] as BatchUploadDetails;
    expect(final.completedTime).toMatch(WIRE_TIME);
    expect(final.devicesStatus).toEqual([
      {
        serialNumber: 'SN-OK',
        productKey: 'BCDFG-HJKMN-PQRTV-WXY23-46789',
        status: 'finished',
        attributes: { objectType: 'DeviceUploadDetails' },
      },
      expect.objectContaining({
        serialNumber: 'SN-BAD',
        status: 'finished_with_errors',
        errorCode: '808',
        errorDescription: 'ZtdDeviceAssignedToOtherTenant',
      }),
    ]);
    expect(partnerCenter.counters.byTrackingId[created.trackingId]).toBe(6);
  });

  it('moves a batch by the injected clock when stepMs is set', async () => {
    const { trackingId } = partnerCenter.createBatch({ customerId: CUSTOMER, stepMs: 60_000 });

    const queued = await poll(trackingId);
    clock += 60_000;
    const processing = await poll(trackingId);
    clock += 59_999;
    const stillProcessing = await poll(trackingId);
    clock += 1;
    const finished = await poll(trackingId);

    expect([queued, processing, stillProcessing, finished].map((b) => b.status)).toEqual([
      'queued',
      'processing',
      'processing',
      'finished',
    ]);
    expect(finished).toMatchObject({
      startedTime: '2024-05-01T08:00:00',
      completedTime: '2024-05-01T08:02:00',
    });
    expect(processing.completedTime).toBeUndefined();
  });

  it('generates realistic devices with a mix of device errors', async () => {
    const { trackingId } = partnerCenter.createBatch({
      customerId: CUSTOMER,
      devices: 40,
      advanceEveryCalls: 0,
    });

    const batch = await poll(trackingId);

    expect(batch.status).toBe('finished');
    expect(batch.devicesStatus).toHaveLength(40);
    for (const device of batch.devicesStatus) {
      expect(device.serialNumber).toMatch(/^[A-Z0-9]{7,12}$/);
      expect(device.productKey).toMatch(/^([A-Z0-9]{5}-){4}[A-Z0-9]{5}$/);
      expect(device.attributes).toEqual({ objectType: 'DeviceUploadDetails' });
    }
    const failed = batch.devicesStatus.filter((d) => d.status === 'finished_with_errors');
    expect(failed).toHaveLength(10);
    const known = new Map(DEVICE_ERRORS.map(([code, name]) => [code, name]));
    for (const device of failed) expect(known.get(device.errorCode as string)).toBe(device.errorDescription);
    expect(new Set(failed.map((d) => d.errorCode)).size).toBe(10);
    expect(
      batch.devicesStatus.filter((d) => d.status === 'finished').every((d) => d.errorCode === undefined),
    ).toBe(true);
  });

  it('throttles with Retry-After and the throttling body, then answers normally', async () => {
    const { trackingId } = partnerCenter.createBatch({ customerId: CUSTOMER, advanceEveryCalls: 0 });
    partnerCenter.inject({ kind: 'throttle', retryAfterSeconds: 57 }, { times: 2, trackingId });

    const first = await get(statusUrl(CUSTOMER, trackingId));
    const other = await get(
      statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932'),
    );
    const second = await get(statusUrl(CUSTOMER, trackingId));
    const third = await get(statusUrl(CUSTOMER, trackingId));

    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('57');
    expect(await first.text()).toBe(
      '{"statusCode":429,"message":"Rate limit is exceeded. Try again in 57 seconds."}',
    );
    expect(other.status).toBe(200);
    expect(second.status).toBe(429);
    expect(third.status).toBe(200);
    expect(partnerCenter.counters).toMatchObject({ faultsInjected: 2, byStatus: { '429': 2, '200': 2 } });
    expect(partnerCenter.counters.byTrackingId[trackingId]).toBe(3);
  });

  it('keeps a fault without times until clearFaults, and reset() clears counters and the log', async () => {
    partnerCenter.inject({ kind: 'status', status: 503, retryAfterSeconds: 2 });
    const url = statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932');

    for (let call = 0; call < 3; call++) {
      const response = await get(url);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('2');
      expect(await response.json()).toEqual({
        code: '503',
        description: expect.any(String),
        data: [],
        source: 'PartnerFD',
      });
    }
    partnerCenter.clearFaults();
    expect((await get(url)).status).toBe(200);
    expect(partnerCenter.requests.map((r) => r.status)).toEqual([503, 503, 503, 200]);

    partnerCenter.reset();

    expect(partnerCenter.counters).toEqual({
      total: 0,
      byTrackingId: {},
      byStatus: {},
      unauthorized: 0,
      faultsInjected: 0,
    });
    expect(partnerCenter.requests).toEqual([]);
  });

  it('injects a 401 with the challenge header, and a 403, with the ordinary body', async () => {
    const url = statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932');
    partnerCenter.inject({ kind: 'status', status: 401 }, { times: 1 });
    partnerCenter.inject(
      { kind: 'status', status: 403, code: '2000', description: 'No Admin agent role.' },
      { times: 1 },
    );

    const unauthorized = await get(url);
    const forbidden = await get(url);

    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('www-authenticate')).toMatch(/^OAuth realm=urn:cpsvc:cpid:/);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toEqual({
      code: '2000',
      description: 'No Admin agent role.',
      data: [],
      source: 'PartnerFD',
    });
  });

  it('keeps MS-RequestId visible in the log across a pipeline retry', async () => {
    partnerCenter.inject({ kind: 'status', status: 503, retryAfterSeconds: 0 }, { times: 1 });
    const credential = new ClientSecretCredential(TENANT, APP.clientId, APP.secret, {
      authorityHost: entra.url,
      disableInstanceDiscovery: true,
    });
    const pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 2 } });
    pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: SCOPE }));
    const requestId = randomUUID();

    const response = await pipeline.sendRequest(
      createDefaultHttpClient(),
      createPipelineRequest({
        url: statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932'),
        headers: createHttpHeaders({ 'MS-RequestId': requestId }),
      }),
    );

    expect(response.status).toBe(200);
    expect(partnerCenter.requests.map((r) => [r.status, r.headers['ms-requestid']])).toEqual([
      [503, requestId],
      [200, requestId],
    ]);
  });

  it('resets the connection, truncates JSON and changes the shape on demand', async () => {
    const url = statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932');
    partnerCenter.inject({ kind: 'reset' }, { times: 1 });
    partnerCenter.inject({ kind: 'malformed' }, { times: 1 });
    partnerCenter.inject({ kind: 'unexpected-shape' }, { times: 1 });

    await expect(get(url)).rejects.toThrow();
    const malformed = await get(url);
    const reshaped = await get(url);

    expect(malformed.status).toBe(200);
    const text = await malformed.text();
    expect(DOCS_EXAMPLE_TEXT.startsWith(text)).toBe(true);
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(reshaped.status).toBe(200);
    const body = (await reshaped.json()) as Record<string, unknown>;
    expect(body).not.toHaveProperty('status');
    expect(body).not.toHaveProperty('devicesStatus');
    expect(partnerCenter.counters.byStatus).toMatchObject({ reset: 1, '200': 2 });
  });

  it('sends a huge but valid body of at least N bytes, with or without Content-Length', async () => {
    const url = statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932');
    partnerCenter.inject({ kind: 'huge', bytes: 3_000_000 }, { times: 1 });
    partnerCenter.inject({ kind: 'huge', bytes: 200_000, chunked: true }, { times: 1 });

    const sized = await get(url);
    const sizedText = await sized.text();
    const chunked = await get(url);
    const chunkedText = await chunked.text();

    expect(Number(sized.headers.get('content-length'))).toBe(Buffer.byteLength(sizedText));
    expect(sizedText.length).toBeGreaterThanOrEqual(3_000_000);
    expect((JSON.parse(sizedText) as BatchUploadDetails).devicesStatus.length).toBeGreaterThan(1000);
    expect(chunked.headers.get('content-length')).toBeNull();
    expect(chunkedText.length).toBeGreaterThanOrEqual(200_000);
    expect(() => JSON.parse(chunkedText)).not.toThrow();
  });

  it('streams an endless body until the client gives up', async () => {
    partnerCenter.inject({ kind: 'endless', intervalMs: 0 }, { times: 1 });
    const controller = new AbortController();
    const response = await get(
      statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932'),
      {},
      controller.signal,
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();

    let received = 0;
    while (received < 2_000_000) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      received += value?.byteLength ?? 0;
    }
    controller.abort();

    expect(response.status).toBe(200);
    expect(received).toBeGreaterThanOrEqual(2_000_000);
    // The server is still healthy for the next caller.
    expect(
      (await get(statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932')))
        .status,
    ).toBe(200);
  });

  it('delays a response when a latency fault is injected', async () => {
    const url = statusUrl('47021739-3426-40bf-9601-61b4b6d7c793', '0127ed8e-ff72-4983-a3d8-e8d8bd378932');
    partnerCenter.inject({ kind: 'latency', ms: 10_000 }, { times: 1 });

    await expect(get(url, {}, AbortSignal.timeout(200))).rejects.toThrow(/aborted|timeout/i);
    expect((await get(url, {}, AbortSignal.timeout(5_000))).status).toBe(200);
  });

  it('exposes an admin API under /_sim/ for other processes', async () => {
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${partnerCenter.url}/_sim/${path}`, {
        method,
        ...(body !== undefined
          ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }
          : {}),
      });

    const created = await admin('POST', 'batches', {
      customerId: CUSTOMER,
      devices: 3,
      advanceEveryCalls: 0,
    });
    expect(created.status).toBe(201);
    const batch = (await created.json()) as { trackingId: string; location: string; devices: number };
    expect(batch).toMatchObject({
      devices: 3,
      location: `/customers/${CUSTOMER}/batchJobStatus/${batch.trackingId}`,
    });
    expect(
      (await admin('POST', 'faults', { fault: { kind: 'throttle', retryAfterSeconds: 5 }, times: 1 })).status,
    ).toBe(201);

    const throttled = await get(statusUrl(CUSTOMER, batch.trackingId));
    const served = await get(statusUrl(CUSTOMER, batch.trackingId));

    expect(throttled.status).toBe(429);
    expect(((await served.json()) as BatchUploadDetails).status).toBe('finished');
    expect(await (await admin('GET', 'counters')).json()).toMatchObject({
      total: 2,
      byStatus: { '429': 1, '200': 1 },
      faultsInjected: 1,
    });
    expect(((await (await admin('GET', 'requests')).json()) as unknown[]).length).toBe(2);
    expect((await admin('POST', 'faults', { fault: { kind: 'nonsense' } })).status).toBe(400);
    expect((await admin('POST', 'batches', { customerId: 'not-a-guid' })).status).toBe(400);
    expect((await admin('POST', 'faults', { fault: { kind: 'status', status: 500 } })).status).toBe(201);
    expect((await admin('DELETE', 'faults')).status).toBe(204);
    expect((await get(statusUrl(CUSTOMER, batch.trackingId))).status).toBe(200);

    expect((await admin('POST', 'reset', { batches: true })).status).toBe(204);

    expect(partnerCenter.counters.total).toBe(0);
    expect((await get(statusUrl(CUSTOMER, batch.trackingId))).status).toBe(404);
  });

  describe('partner-wide throttling', () => {
    const statuses = async (trackingIds: string[]) => {
      const answers: { status: number; retryAfter: string | null; body: unknown }[] = [];
      for (const trackingId of trackingIds) {
        const response = await get(statusUrl(CUSTOMER, trackingId));
        answers.push({
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          body: await response.json(),
        });
      }
      return answers;
    };

    it('allows N requests per fixed window across every batch, then 429 with the seconds left', async () => {
      const a = partnerCenter.createBatch({ customerId: CUSTOMER, advanceEveryCalls: 0 }).trackingId;
      const b = partnerCenter.createBatch({ customerId: CUSTOMER, advanceEveryCalls: 0 }).trackingId;
      clock = Date.parse('2024-05-01T08:00:00Z') + 10_500; // 10.5 s into a 20 s window
      partnerCenter.throttle({ kind: 'window', limit: 3, windowSeconds: 20 });

      const inWindow = await statuses([a, b, a, b]);

      expect(inWindow.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(inWindow[3]).toEqual({
        status: 429,
        retryAfter: '10',
        body: { statusCode: 429, message: 'Rate limit is exceeded. Try again in 10 seconds.' },
      });
      clock += 9_000;
      expect((await statuses([a]))[0]?.retryAfter).toBe('1');
      clock += 500; // the next window
      expect((await statuses([a, b, a, b])).map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(partnerCenter.counters.byStatus).toEqual({ '200': 6, '429': 3 });
    });

    it('refills a token bucket at its rate and answers 429 with the wait for the next token', async () => {
      const a = partnerCenter.createBatch({ customerId: CUSTOMER, advanceEveryCalls: 0 }).trackingId;
      partnerCenter.throttle({ kind: 'bucket', ratePerSecond: 0.5, burst: 2 });

      expect((await statuses([a, a, a])).map((r) => [r.status, r.retryAfter])).toEqual([
        [200, null],
        [200, null],
        [429, '2'],
      ]);
      clock += 1_000; // half a token
      expect((await statuses([a]))[0]).toMatchObject({ status: 429, retryAfter: '1' });
      clock += 1_000;
      expect((await statuses([a, a])).map((r) => r.status)).toEqual([200, 429]);
      clock += 60_000; // never more than the burst
      expect((await statuses([a, a, a])).map((r) => r.status)).toEqual([200, 200, 429]);
    });

    it('is switched on and off through the admin API, and refuses a bad policy', async () => {
      const a = partnerCenter.createBatch({ customerId: CUSTOMER, advanceEveryCalls: 0 }).trackingId;
      const admin = (method: string, body?: unknown) =>
        fetch(`${partnerCenter.url}/_sim/throttling`, {
          method,
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });

      expect((await admin('PUT', { kind: 'window', limit: 1, windowSeconds: 60 })).status).toBe(204);
      expect(partnerCenter.throttling).toEqual({ kind: 'window', limit: 1, windowSeconds: 60 });
      expect((await statuses([a, a])).map((r) => r.status)).toEqual([200, 429]);
      expect((await admin('PUT', { kind: 'window', limit: -1, windowSeconds: 60 })).status).toBe(400);
      expect((await admin('DELETE')).status).toBe(204);
      expect((await statuses([a, a])).map((r) => r.status)).toEqual([200, 200]);
    });

    it('reads the npm run dev flag', () => {
      expect(parseThrottlingFlag('window:200/20')).toEqual({ kind: 'window', limit: 200, windowSeconds: 20 });
      expect(parseThrottlingFlag('bucket:10/50')).toEqual({ kind: 'bucket', ratePerSecond: 10, burst: 50 });
      expect(() => parseThrottlingFlag('window:200')).toThrow(/--throttle must be/);
    });
  });
});
