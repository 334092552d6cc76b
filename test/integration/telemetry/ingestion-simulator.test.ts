import { request } from 'node:https';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { type IngestionSimulator, startIngestionSimulator } from '../../../dev/simulators/ingestion.js';
import { startTestSimulators, testTls } from '../../support/simulators.js';

// The ingestion stand-in itself, spoken to as the exporter would (or might, in later versions).
let sims: RunningSimulators;
let open: IngestionSimulator;
let locked: IngestionSimulator;

beforeAll(async () => {
  sims = await startTestSimulators();
  open = await startIngestionSimulator({ tls: testTls() });
  locked = await startIngestionSimulator({ tls: testTls(), entra: sims.entra });
});

afterAll(async () => {
  await open?.stop();
  await locked?.stop();
  await sims?.stop();
});

function post(url: string, body: Buffer | string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; json: unknown }>((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const event = (name: string) => ({
  name: 'Microsoft.ApplicationInsights.Event',
  time: new Date().toISOString(),
  data: { baseType: 'EventData', baseData: { name, properties: { correlationId: 'c' } } },
});

describe('the Application Insights ingestion simulator', () => {
  it('accepts a JSON array on /v2.1/track and gzip NDJSON on /v2/track, and records both', async () => {
    open.reset();
    const plain = await post(`${open.url}/v2.1/track`, JSON.stringify([event('A'), event('B')]));
    expect(plain).toEqual({ status: 200, json: { itemsReceived: 2, itemsAccepted: 2, errors: [] } });
    const ndjson = `${JSON.stringify(event('C'))}\n${JSON.stringify(event('D'))}\n`;
    const zipped = await post(`${open.url}/v2/track`, gzipSync(ndjson), { 'Content-Encoding': 'gzip' });
    expect(zipped.status).toBe(200);

    expect(open.events().map((e) => e.data?.baseData?.name)).toEqual(['A', 'B', 'C', 'D']);
    expect(open.requests.map((r) => [r.path, r.encoding, r.items])).toEqual([
      ['/v2.1/track', 'identity', 2],
      ['/v2/track', 'gzip', 2],
    ]);
    expect(open.rawBodies[1]).toContain('"C"');
    expect(open.connectionString).toBe(
      `InstrumentationKey=${open.instrumentationKey};IngestionEndpoint=${open.url}/;LiveEndpoint=${open.url}/`,
    );
  });

  it('refuses what is not an envelope, counts other endpoints, and fails on demand', async () => {
    open.reset();
    expect((await post(`${open.url}/v2.1/track`, '{"no":"name"}')).status).toBe(400);
    expect((await post(`${open.url}/QuickPulseService.svc/ping`, '{}')).status).toBe(404);
    expect(open.unexpectedRequests).toEqual(['POST /QuickPulseService.svc/ping']);
    open.failNext({ status: 503 });
    expect((await post(`${open.url}/v2.1/track`, JSON.stringify([event('E')]))).status).toBe(503);
    expect((await post(`${open.url}/v2.1/track`, JSON.stringify([event('F')]))).status).toBe(200);
    expect(open.events().map((e) => e.data?.baseData?.name)).toEqual(['F']);
  });

  it('with local authentication disabled, takes only an Entra token for Azure Monitor', async () => {
    const body = JSON.stringify([event('G')]);
    expect((await post(`${locked.url}/v2.1/track`, body)).status).toBe(401);
    const wrongAudience = await sims.entra.issueToken({
      audience: 'https://vault.azure.net',
      clientId: sims.developer.clientId,
    });
    expect(
      (await post(`${locked.url}/v2.1/track`, body, { Authorization: `Bearer ${wrongAudience}` })).status,
    ).toBe(401);
    const token = await sims.entra.issueToken({
      audience: 'https://monitor.azure.com/.default',
      clientId: sims.developer.clientId,
    });
    expect((await post(`${locked.url}/v2.1/track`, body, { Authorization: `Bearer ${token}` })).status).toBe(
      200,
    );
    expect(locked.counters).toMatchObject({ unauthorized: 2, items: 1 });
    expect(locked.requests.at(-1)).toMatchObject({
      authorization: 'Bearer',
      tokenAudience: 'https://monitor.azure.com',
    });
    expect(JSON.stringify(locked.requests)).not.toContain(token);
  });
});
