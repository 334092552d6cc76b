import { randomBytes } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { QueueServiceClient } from '@azure/storage-queue';
import { systemClock } from '../../dev/host/clock.js';
import { DEFAULT_QUEUES_OPTIONS } from '../../dev/host/project-config.js';
import { QueueListener } from '../../dev/host/queue-listener.js';
import type { TlsMaterial } from '../../dev/simulators/tls.js';
import { startWebhookReceiver } from '../../dev/webhook-receiver.js';
import type { SweepSettings } from '../../shared/config/settings.js';
import { QueueingNotifier } from '../../shared/notifications/completion-notifier.js';
import { NotificationDelivery } from '../../shared/notifications/delivery.js';
import { DeliveryQueue } from '../../shared/notifications/delivery-queue.js';
import { StaticSigningSecret } from '../../shared/notifications/signing.js';
import { WebhookSender } from '../../shared/notifications/webhook-sender.js';
import { type HostPattern, parseAllowedHosts } from '../../shared/notifications/webhook-url.js';
import { PartnerCenterClient } from '../../shared/partner-center/client.js';
import type { TrackingRecord } from '../../shared/trackings/model.js';
import { Sweeper } from '../../shared/trackings/sweep.js';
import { SweepScheduler } from '../../shared/trackings/sweep-scheduler.js';
import { TrackingRecords } from '../../shared/trackings/tracking-records.js';
import { TrackingRepository } from '../../shared/trackings/tracking-repository.js';
import { batchKeys, dueRecords, type Lab, storageNames } from '../lab.js';
import { median, percentile, round } from '../load.js';
import { formatMs, type Row } from '../report.js';
import { importRecords } from '../support/import-records.js';

export interface NotificationSizes {
  completions: number;
  repetitions: number;
}

type Log = (message: string) => void;

const SWEEP: SweepSettings = {
  schedule: '0 */5 * * * *',
  concurrency: 48,
  timeBudgetMs: 480_000,
  maxClaimsPerRun: 1_000_000,
  leaseMs: 600_000,
  initialBackoffMs: 3_600_000,
  maxBackoffMs: 3_600_000,
  maxTrackingAgeMs: 72 * 3_600_000,
  notFoundGraceMs: 1_800_000,
};

/**
 * P9, completion webhooks. (a) What notifications add to a sweep that completes `completions`
 * trackings: the same sweep with them off and on, alternated in one run, median wall time each.
 * (b) From the terminal write (the event's `time`) to the receiver's arrival, for the same number
 * of completions, delivered by the local host's own queue listener through Azurite to a local
 * HTTPS receiver that verifies every signature.
 */
export async function measureNotifications(
  lab: Lab,
  tls: TlsMaterial,
  sizes: NotificationSizes,
  log: Log,
): Promise<Row[]> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const arrivals: { at: number; eventTime: number; verified: boolean }[] = [];
  const receiver = await startWebhookReceiver({
    tls,
    secret,
    onReceived: (delivery) =>
      arrivals.push({
        at: Date.now(),
        eventTime: Date.parse(String((delivery.event as { time?: string } | undefined)?.time)),
        verified: delivery.verified,
      }),
  });
  const queues = QueueServiceClient.fromConnectionString(lab.azurite.connectionString);
  const { app } = lab.sims;
  const reader = new PartnerCenterClient(
    lab.sims.partnerCenter.url,
    new ClientSecretCredential(app.tenantId, app.clientId, app.clientSecret, {
      authorityHost: lab.sims.entra.url,
      disableInstanceDiscovery: true,
    }),
    { maxConcurrentCalls: 32 },
  );

  /** A fresh set of due trackings that finish at the first look, then one sweep over them. */
  const sweepOnce = async (
    notify: boolean,
    beforeSweep?: (queue: { name: string; delivery: DeliveryQueue; records: TrackingRecords }) => void,
  ) => {
    const names = storageNames(notify ? 'P9on' : 'P9off');
    const { tables, results } = lab.storage(names);
    const queueName = `bench-${randomBytes(5).toString('hex')}`;
    const queue = new DeliveryQueue(
      queues.getQueueClient(queueName),
      queues.getQueueClient(`${queueName}-poison`),
    );
    const keys = batchKeys(sizes.completions, 50);
    lab.createBatches(keys, 'finishing');
    const now = Date.now();
    const records: TrackingRecord[] = dueRecords(keys, now).map((record) =>
      notify
        ? {
            ...record,
            notification: {
              state: 'pending',
              attempts: 0,
              receivers: [{ url: receiver.url, state: 'pending', attempts: 0 }],
            },
          }
        : record,
    );
    await importRecords(tables, records);
    const trackingRecords = new TrackingRecords({
      tables,
      results,
      ...(notify ? { notifier: new QueueingNotifier({ queue, operatorReceiver: false }) } : {}),
    });
    const sweeper = new Sweeper({
      scheduler: new SweepScheduler(trackingRecords),
      results,
      reader,
      settings: SWEEP,
    });
    beforeSweep?.({ name: queueName, delivery: queue, records: trackingRecords });
    const started = performance.now();
    const report = await sweeper.run();
    const wallMs = performance.now() - started;
    if (report.finished !== sizes.completions) {
      throw new Error(`the sweep finished ${report.finished} of ${sizes.completions} trackings`);
    }
    return { wallMs, queue, queueName, trackingRecords };
  };

  try {
    // (a) off and on, alternated so that drift on a shared machine hits both alike.
    const off: number[] = [];
    const on: number[] = [];
    for (let i = 0; i < sizes.repetitions; i++) {
      off.push((await sweepOnce(false)).wallMs);
      const run = await sweepOnce(true);
      on.push(run.wallMs);
      await queues.getQueueClient(run.queueName).deleteIfExists();
    }
    const offMs = median(off);
    const onMs = median(on);
    log(`P9 sweep of ${sizes.completions} completions: off ${formatMs(offMs)}, on ${formatMs(onMs)}`);

    // (b) one more sweep with notifications on, its deliveries run meanwhile by the local host's
    // queue listener (started before the sweep, as a running function app would be).
    arrivals.length = 0;
    let listener: QueueListener | undefined;
    const run = await sweepOnce(true, (queue) => {
      const delivery = new NotificationDelivery({
        records: new TrackingRepository(queue.records),
        queue: queue.delivery,
        sender: new WebhookSender(),
        secrets: new StaticSigningSecret(secret),
        settings: {
          allowedHosts: parseAllowedHosts('localhost') as HostPattern[],
          maxAttempts: 8,
          retryInitialMs: 30_000,
        },
      });
      listener = new QueueListener({
        queue: queues.getQueueClient(queue.name),
        poison: queues.getQueueClient(`${queue.name}-poison`),
        options: { ...DEFAULT_QUEUES_OPTIONS, maxPollingIntervalMs: 2000, batchSize: 32 },
        clock: systemClock,
        run: async (message) => {
          await delivery.deliver(message.value);
          return true;
        },
        log: () => {},
      });
      listener.start();
    });
    const drained = receiver.waitFor(sizes.completions);
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('deliveries did not all arrive within 5 minutes')), 300_000).unref(),
    );
    await Promise.race([drained, timeout]);
    await listener?.stop();
    await queues.getQueueClient(run.queueName).deleteIfExists();
    const latencies = arrivals.map((a) => a.at - a.eventTime);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const unverified = arrivals.filter((a) => !a.verified).length;
    log(`P9 terminal write → delivery over ${arrivals.length}: p50 ${formatMs(p50)}, p99 ${formatMs(p99)}`);
    return [
      {
        id: 'P9',
        measure: `sweep completing ${sizes.completions} trackings, notifications on vs off (median of ${sizes.repetitions} each)`,
        baseline: `off ${formatMs(offMs)}`,
        result: `on ${formatMs(onMs)}`,
        ratio: round(onMs / offMs, 2),
        ratioMeaning: 'on / off',
        target: 'recorded (one queue message and one marker write per completion)',
        details: { offMs: off.map((v) => round(v)), onMs: on.map((v) => round(v)) },
      },
      {
        id: 'P9',
        measure: `terminal write → webhook arrival, ${arrivals.length} completions via the queue trigger`,
        baseline: '—',
        result: `p50 ${formatMs(p50)}, p99 ${formatMs(p99)}`,
        target: 'recorded',
        details: { p50Ms: round(p50), p99Ms: round(p99), maxMs: round(Math.max(...latencies)), unverified },
      },
    ];
  } finally {
    await receiver.stop();
  }
}
