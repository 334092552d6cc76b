import { randomBytes } from 'node:crypto';
import { QueueServiceClient } from '@azure/storage-queue';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { RunningSimulators } from '../../../dev/simulators/index.js';
import { type RunningWebhookReceiver, startWebhookReceiver } from '../../../dev/webhook-receiver.js';
import type { SweepSettings } from '../../../shared/config/settings.js';
import { QueueingNotifier } from '../../../shared/notifications/completion-notifier.js';
import { NotificationDelivery } from '../../../shared/notifications/delivery.js';
import { type DeliveryMessage, DeliveryQueue } from '../../../shared/notifications/delivery-queue.js';
import { StaticSigningSecret } from '../../../shared/notifications/signing.js';
import { WebhookSender } from '../../../shared/notifications/webhook-sender.js';
import { type HostPattern, parseAllowedHosts } from '../../../shared/notifications/webhook-url.js';
import { PartnerCenterClient } from '../../../shared/partner-center/client.js';
import { ValidationError } from '../../../shared/trackings/errors.js';
import type { TrackingRecord } from '../../../shared/trackings/model.js';
import { Sweeper } from '../../../shared/trackings/sweep.js';
import { TrackingService } from '../../../shared/trackings/tracking-service.js';
import { simulatorCredential, startTestSimulators, testTls } from '../../support/simulators.js';
import { guid, type TestStorage, testStorage } from '../trackings/storage-fixture.js';

// Near the real time: receivers check the signature's timestamp against their own clock.
const T0 = Math.floor(Date.now() / 1000) * 1000;
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const SWEEP: SweepSettings = {
  schedule: '0 */5 * * * *',
  concurrency: 4,
  timeBudgetMs: 60_000,
  maxClaimsPerRun: 1000,
  leaseMs: 600_000,
  initialBackoffMs: 60_000,
  maxBackoffMs: 600_000,
  maxTrackingAgeMs: 72 * 3_600_000,
  notFoundGraceMs: 1_800_000,
};
const ALLOWED = parseAllowedHosts('localhost, *.hooks.example.com, 10.1.2.3') as HostPattern[];

const queues = QueueServiceClient.fromConnectionString(inject('azuriteConnectionString'));
let sims: RunningSimulators;
let client: PartnerCenterClient;

beforeAll(async () => {
  sims = await startTestSimulators();
  client = new PartnerCenterClient(sims.partnerCenter.url, simulatorCredential(sims.entra.url, sims.app), {
    retryOptions: { maxRetries: 0 },
  });
});
afterAll(() => sims?.stop());
beforeEach(() => sims.partnerCenter.reset());

/** A queue whose sends fail: the process dying between the terminal write and the enqueue. */
class DeadQueue extends DeliveryQueue {
  override async send(): Promise<void> {
    throw new Error('simulated crash before the delivery was queued');
  }
}

interface World {
  storage: TestStorage;
  queue: DeliveryQueue;
  queueName: string;
  receiver: RunningWebhookReceiver;
  service: TrackingService;
  delivery: NotificationDelivery;
  sweeper(storage?: TestStorage): Sweeper;
  /** Runs every visible delivery message through `deliverNotification`'s domain, until none is left. */
  drain(): Promise<{ outcome: string; delayMs?: number }[]>;
  poisoned(): Promise<DeliveryMessage[]>;
  stop(): Promise<void>;
}

async function world(
  options: { answers?: number[]; maxAttempts?: number; operatorUrl?: string; storageOf?: 'dead' } = {},
): Promise<World> {
  const queueName = `notify-${randomBytes(5).toString('hex')}`;
  const queueClient = queues.getQueueClient(queueName);
  const poisonClient = queues.getQueueClient(`${queueName}-poison`);
  const queue = new DeliveryQueue(queueClient, poisonClient);
  const receiver = await startWebhookReceiver({
    tls: testTls(),
    secret: SECRET,
    answer: (_seen, index) => options.answers?.[index] ?? options.answers?.at(-1) ?? 200,
  });
  const clock = () => new Date(T0 + 1000);
  const notifier = new QueueingNotifier({
    queue,
    operatorReceiver: options.operatorUrl !== undefined,
    clock,
  });
  const storage = testStorage({ notifier });
  const delivery = new NotificationDelivery({
    records: storage.store,
    queue,
    sender: new WebhookSender({ timeoutMs: 5000 }),
    secrets: new StaticSigningSecret(SECRET),
    settings: {
      allowedHosts: ALLOWED,
      webhookUrl: options.operatorUrl,
      maxAttempts: options.maxAttempts ?? 8,
      retryInitialMs: 100,
    },
    clock,
    random: () => 0.5,
  });
  return {
    storage,
    queue,
    queueName,
    receiver,
    service: new TrackingService({
      store: storage.store,
      results: storage.results,
      allowedWebhookHosts: ALLOWED,
      clock: () => new Date(T0),
    }),
    delivery,
    sweeper: (other = storage) =>
      new Sweeper({
        scheduler: other.scheduler,
        results: other.results,
        reader: client,
        settings: SWEEP,
        clock,
      }),
    async drain() {
      const results: { outcome: string; delayMs?: number }[] = [];
      if (!(await queueClient.exists())) return results;
      for (;;) {
        const { receivedMessageItems } = await queueClient.receiveMessages({ numberOfMessages: 32 });
        if (receivedMessageItems.length === 0) return results;
        for (const message of receivedMessageItems) {
          const body = JSON.parse(Buffer.from(message.messageText, 'base64').toString('utf8'));
          results.push(await delivery.deliver(body));
          await queueClient.deleteMessage(message.messageId, message.popReceipt);
        }
      }
    },
    async poisoned() {
      if (!(await poisonClient.exists())) return [];
      const { peekedMessageItems } = await poisonClient.peekMessages({ numberOfMessages: 32 });
      return peekedMessageItems.map((m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')));
    },
    async stop() {
      await receiver.stop();
      await queueClient.deleteIfExists();
      await poisonClient.deleteIfExists();
    },
  };
}

async function registerFinishedBatch(w: World, notifyUrl = w.receiver.url) {
  const key = { customerId: guid(), trackingId: guid() };
  sims.partnerCenter.createBatch({
    ...key,
    devices: 3,
    finalStatus: 'finished_with_errors',
    advanceEveryCalls: 0,
  });
  const { record } = await w.service.register({ ...key, notify: { url: notifyUrl } });
  return { key, record };
}

async function stored(w: World, key: { customerId: string; trackingId: string }): Promise<TrackingRecord> {
  const record = await w.storage.store.get(key);
  if (!record) throw new Error('tracking vanished');
  return record;
}

describe('completion webhooks, end to end on Azurite and a local HTTPS receiver', () => {
  it('register with notify.url → sweep → exactly one signed CloudEvent that verifies with standardwebhooks', async () => {
    const w = await world();
    try {
      const { key, record } = await registerFinishedBatch(w);
      expect(record.notification).toMatchObject({
        state: 'pending',
        attempts: 0,
        receivers: [{ url: w.receiver.url, state: 'pending', attempts: 0 }],
      });

      const report = await w.sweeper().run();
      expect(report.finished).toBe(1);
      // The sweep only queued: nobody was called on its time.
      expect(w.receiver.received).toHaveLength(0);
      const ended = await stored(w, key);
      const eventId = ended.notification?.eventId;
      expect(eventId).toMatch(/^[0-9a-f-]{36}$/);

      await w.drain();
      expect(w.receiver.received).toHaveLength(1);
      const [delivery] = w.receiver.received;
      const verified = new Webhook(SECRET).verify(delivery!.body, delivery!.headers) as Record<
        string,
        unknown
      >;
      expect(delivery!.headers['webhook-id']).toBe(eventId);
      expect(delivery!.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
      expect(verified).toMatchObject({
        specversion: '1.0',
        type: 'devicebatchstatus.tracking.completed',
        source: `/api/trackings/${key.customerId}/${key.trackingId}`,
        subject: `${key.customerId}/${key.trackingId}`,
        id: eventId,
        time: ended.notification?.createdAt,
        datacontenttype: 'application/json',
        data: { ...key, state: 'finished_with_errors', summary: { devices: 3 } },
      });
      expect((verified.data as Record<string, unknown>).notification).toBeUndefined();
      expect(delivery!.body).not.toContain(SECRET.slice(6));
      // A tampered body does not verify.
      expect(() =>
        new Webhook(SECRET).verify(delivery!.body.replace('finished', 'FINISHED'), delivery!.headers),
      ).toThrow();

      expect((await stored(w, key)).notification).toMatchObject({
        state: 'delivered',
        attempts: 1,
        eventId,
        deliveredAt: new Date(T0 + 1000).toISOString(),
      });
      // Later sweeps send nothing more.
      await w.sweeper().run();
      await w.drain();
      expect(w.receiver.received).toHaveLength(1);
    } finally {
      await w.stop();
    }
  });

  it('a receiver answering 500, 500, 200 gets three deliveries with the same webhook-id; delivered after 3 attempts', async () => {
    const w = await world({ answers: [500, 500, 200] });
    try {
      const { key } = await registerFinishedBatch(w);
      await w.sweeper().run();
      const results = await w.drain();
      expect(results).toEqual([
        { outcome: 'retry', attempt: 1, delayMs: 100 },
        { outcome: 'retry', attempt: 2, delayMs: 200 },
        { outcome: 'delivered', attempt: 3 },
      ]);
      const ids = w.receiver.received.map((r) => r.headers['webhook-id']);
      const eventId = (await stored(w, key)).notification?.eventId;
      expect(ids).toEqual([eventId, eventId, eventId]);
      expect(w.receiver.received.every((r) => r.verified)).toBe(true);
      expect((await stored(w, key)).notification).toMatchObject({ state: 'delivered', attempts: 3 });
      expect(await w.poisoned()).toEqual([]);
    } finally {
      await w.stop();
    }
  });

  it('a receiver that never answers 2xx ends failed with lastError, and the message stays in the poison queue', async () => {
    const w = await world({ answers: [500], maxAttempts: 3 });
    try {
      const { key } = await registerFinishedBatch(w);
      await w.sweeper().run();
      await w.drain();
      expect(w.receiver.received).toHaveLength(3);
      const record = await stored(w, key);
      expect(record.notification).toMatchObject({ state: 'failed', attempts: 3, lastError: 'answered 500' });
      expect(await w.poisoned()).toEqual([
        {
          v: 1,
          eventId: record.notification?.eventId,
          ...key,
          receiver: w.receiver.url,
          attempt: 3,
        },
      ]);
    } finally {
      await w.stop();
    }
  });

  it('a receiver answering 410 Gone is unsubscribed and not called again', async () => {
    const w = await world({ answers: [410] });
    try {
      const { key } = await registerFinishedBatch(w);
      await w.sweeper().run();
      await w.drain();
      expect(w.receiver.received).toHaveLength(1);
      expect((await stored(w, key)).notification?.receivers).toEqual([
        { url: w.receiver.url, state: 'unsubscribed', attempts: 1, lastError: 'answered 410' },
      ]);
    } finally {
      await w.stop();
    }
  });

  it('two overlapping sweeps give one event', async () => {
    const w = await world();
    try {
      const keys = await Promise.all(Array.from({ length: 6 }, () => registerFinishedBatch(w)));
      sims.partnerCenter.inject({ kind: 'latency', ms: 10 });
      // A second process: its own clients and store on the same tables and queue.
      const other = testStorage({
        names: w.storage.names,
        notifier: new QueueingNotifier({ queue: w.queue, operatorReceiver: false }),
      });
      const [a, b] = await Promise.all([w.sweeper().run(), w.sweeper(other).run()]);
      expect(a.finished + b.finished).toBe(6);
      await w.drain();
      expect(w.receiver.received).toHaveLength(6);
      const ids = new Set(w.receiver.received.map((r) => r.headers['webhook-id']));
      expect(ids.size).toBe(6);
      for (const { key } of keys) {
        expect(ids.has((await stored(w, key)).notification?.eventId)).toBe(true);
      }
    } finally {
      await w.stop();
    }
  });

  it('a crash between recording the event and queueing it: the next sweep queues that same event, once', async () => {
    const w = await world();
    try {
      const { key } = await registerFinishedBatch(w);
      const crashing = testStorage({
        names: w.storage.names,
        notifier: new QueueingNotifier({
          queue: new DeadQueue(queues.getQueueClient(w.queueName), queues.getQueueClient(`${w.queueName}-x`)),
          operatorReceiver: false,
        }),
      });
      expect((await w.sweeper(crashing).run()).finished).toBe(1);
      const recorded = await stored(w, key);
      expect(recorded.state).toBe('finished_with_errors');
      expect(recorded.notification?.eventId).toBeDefined();
      expect(recorded.notification?.queuedAt).toBeUndefined();
      expect(await w.drain()).toEqual([]);

      // The next sweep finds the tracking still due (its entry stays until the event is queued).
      await w.sweeper().run();
      expect((await stored(w, key)).notification?.queuedAt).toBeDefined();
      await w.drain();
      await w.sweeper().run();
      await w.drain();
      expect(w.receiver.received.map((r) => r.headers['webhook-id'])).toEqual([
        recorded.notification?.eventId,
      ]);
      expect(sims.partnerCenter.counters.byTrackingId[key.trackingId]).toBe(1);
    } finally {
      await w.stop();
    }
  });

  it('a live lookup that writes a terminal answer through creates the event too', async () => {
    const w = await world();
    try {
      const { key } = await registerFinishedBatch(w);
      const { details } = await client.getBatchStatus(key.customerId, key.trackingId);
      await w.storage.store.recordTerminal(key, details, new Date(T0 + 500));
      await w.drain();
      expect(w.receiver.received).toHaveLength(1);
      expect(w.receiver.received[0]?.headers['webhook-id']).toBe(
        (await stored(w, key)).notification?.eventId,
      );
      // The sweep has nothing left to announce.
      await w.sweeper().run();
      expect(await w.drain()).toEqual([]);
    } finally {
      await w.stop();
    }
  });

  it('NOTIFY_WEBHOOK_URL gets every completion, also of trackings without a webhook; it is never shown', async () => {
    const w = await world();
    const operator = await startWebhookReceiver({ tls: testTls(), secret: SECRET });
    try {
      const ops = await world({ operatorUrl: operator.url });
      try {
        const key = { customerId: guid(), trackingId: guid() };
        sims.partnerCenter.createBatch({ ...key, devices: 1, finalStatus: 'finished', advanceEveryCalls: 0 });
        await ops.service.register(key);
        await ops.sweeper().run();
        await ops.drain();
        expect(operator.received).toHaveLength(1);
        expect(operator.received[0]?.verified).toBe(true);
        const record = await stored(ops, key);
        expect(record.notification).toMatchObject({
          state: 'delivered',
          receivers: [{ state: 'delivered' }],
        });
        expect(JSON.stringify(record)).not.toContain(operator.url);
      } finally {
        await ops.stop();
      }
    } finally {
      await operator.stop();
      await w.stop();
    }
  });
});

describe('subscribing', () => {
  it.each([
    ['http', 'http://localhost/hook', 'must use https'],
    ['credentials', 'https://user:secret@localhost/hook', 'must not carry credentials'],
    ['a host not on the list', 'https://evil.example.net/hook', "host 'evil.example.net' is not allowed"],
    [
      'the bare domain of a wildcard',
      'https://hooks.example.com/hook',
      "host 'hooks.example.com' is not allowed",
    ],
    ['an IP literal not listed', 'https://127.0.0.1/hook', 'IP addresses only when listed'],
    ['an IPv4 in another spelling', 'https://0x7f.1/hook', "host '127.0.0.1' is not allowed"],
    ['an IPv6 literal', 'https://[::1]/hook', "host '::1' is not allowed"],
    [
      'a host hidden in percent-encoding',
      'https://evil%2Eexample.net/hook',
      "host 'evil.example.net' is not allowed",
    ],
    ['not a URL', 'localhost/hook', 'must be an absolute URL'],
  ])('refuses %s with the reason, and registers nothing', async (_name, url, reason) => {
    const w = await world();
    try {
      const key = { customerId: guid(), trackingId: guid() };
      const error = await w.service.register({ ...key, notify: { url } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).problems).toEqual([
        { field: 'notify.url', message: expect.stringContaining(reason) },
      ]);
      expect(await w.storage.store.get(key)).toBeUndefined();
    } finally {
      await w.stop();
    }
  });

  it('accepts listed names, *.suffix subdomains and listed IP literals', async () => {
    const w = await world();
    try {
      for (const url of ['https://LOCALHOST:8443/x', 'https://a.hooks.example.com/x', 'https://10.1.2.3/x']) {
        const { record } = await w.service.register({
          customerId: guid(),
          trackingId: guid(),
          notify: { url },
        });
        expect(record.notification?.receivers).toHaveLength(1);
      }
    } finally {
      await w.stop();
    }
  });

  it('registering again with a new URL adds it, the same URL again changes nothing', async () => {
    const w = await world();
    try {
      const key = { customerId: guid(), trackingId: guid() };
      await w.service.register({ ...key, notify: { url: 'https://a.hooks.example.com/one' } });
      await w.service.register({ ...key, notify: { url: 'https://a.hooks.example.com/two' } });
      const again = await w.service.register({
        ...key,
        notify: { url: 'https://a.hooks.example.com/one#frag' },
      });
      expect(again.created).toBe(false);
      expect(again.record.notification?.receivers.map((r) => r.url)).toEqual([
        'https://a.hooks.example.com/one',
        'https://a.hooks.example.com/two',
      ]);
    } finally {
      await w.stop();
    }
  });
});
