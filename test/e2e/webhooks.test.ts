import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostLogEntry } from '../../dev/host/host-log.js';
import { type RunningWebhookReceiver, startWebhookReceiver } from '../../dev/webhook-receiver.js';
import { Recorder } from '../fixtures/host-app/probe.js';
import { startTestApp, type TestApp } from '../support/local-app.js';
import { testTls } from '../support/simulators.js';
import { waitFor } from '../support/wait.js';

// Completion webhooks through the whole app on the local host: the sweep's terminal write queues
// the delivery on Azurite, and the host's queue trigger runs `deliverNotification` (no admin call).
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const QUEUE = `hooks-${randomBytes(4).toString('hex')}`;
let app: TestApp;
let receiver: RunningWebhookReceiver;
const logs = new Recorder<HostLogEntry>();

beforeAll(async () => {
  receiver = await startWebhookReceiver({ tls: testTls(), secret: SECRET });
  app = await startTestApp({
    tag: 'hooks',
    env: {
      NOTIFY_ALLOWED_HOSTS: 'localhost',
      NOTIFY_SIGNING_SECRET: SECRET,
      NOTIFY_QUEUE_NAME: QUEUE,
    },
    logger: (entry) => logs.record(entry),
  });
});

afterAll(async () => {
  await app?.stop();
  await receiver?.stop();
});

async function post(path: string, body: unknown) {
  const response = await fetch(`${app.api}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('completion webhooks on the local host', () => {
  it('registers deliverNotification as the Functions host would: %NOTIFY_QUEUE_NAME% on the tracking connection', () => {
    expect(app.local.registry.get('deliverNotification')).toMatchObject({
      kind: 'queue',
      triggerType: 'queueTrigger',
      queueName: '%NOTIFY_QUEUE_NAME%',
      connection: 'AzureWebJobsStorage',
    });
    expect(app.local.host.describeFunctions()).toContain(`deliverNotification: queueTrigger (${QUEUE})`);
  });

  it('refuses a webhook URL the allow-list does not allow, with the reason', async () => {
    const { status, json } = await post('/trackings', {
      customerId: '5b0c0a11-0000-4000-a000-0000000000aa',
      trackingId: '5b0c0a11-0000-4000-a000-0000000000bb',
      notify: { url: 'https://127.0.0.1/hook' },
    });
    expect(status).toBe(400);
    expect(json).toMatchObject({ type: '/problems/invalid-request' });
    expect(JSON.stringify(json)).toContain("host '127.0.0.1' is not allowed");
  });

  it('register with a webhook, sweep: the receiver gets one signed event through the queue trigger', async () => {
    const batch = app.sims.partnerCenter.createBatch({
      customerId: '5b0c0a11-0000-4000-a000-0000000000cc',
      devices: 2,
      finalStatus: 'finished',
      advanceEveryCalls: 0,
    });
    const key = { customerId: batch.customerId, trackingId: batch.trackingId };
    const registered = await post('/trackings', { ...key, notify: { url: receiver.url } });
    expect(registered.status).toBe(201);
    expect(registered.json.notification).toMatchObject({ state: 'pending', attempts: 0 });

    const triggered = logs.next((e) =>
      e.message.startsWith(
        `Executing 'Functions.deliverNotification' (Reason='New queue message detected on '${QUEUE}'.'`,
      ),
    );
    const sweep = await fetch(`${app.local.url}/admin/functions/sweepPendingTrackings`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"input":""}',
    });
    expect(sweep.status).toBe(202);

    const [delivery] = await receiver.waitFor(1);
    await triggered;
    const event = new Webhook(SECRET).verify(delivery!.body, delivery!.headers) as Record<string, unknown>;
    expect(event).toMatchObject({
      type: 'devicebatchstatus.tracking.completed',
      subject: `${key.customerId}/${key.trackingId}`,
      data: { ...key, state: 'finished', summary: { devices: 2 } },
    });

    const record = await waitFor(
      async () => {
        const response = await fetch(`${app.api}/trackings/${key.customerId}/${key.trackingId}`);
        const json = (await response.json()) as { notification?: { state: string } };
        return json.notification?.state === 'delivered' ? json : undefined;
      },
      { description: 'the record to say delivered' },
    );
    expect(record.notification).toMatchObject({ state: 'delivered', attempts: 1, eventId: event.id });
    expect(receiver.received).toHaveLength(1);
  });
});
