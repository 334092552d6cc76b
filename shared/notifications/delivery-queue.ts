import type { QueueClient } from '@azure/storage-queue';
import { z } from 'zod';

/** One delivery attempt of one event to one receiver: what travels on NOTIFY_QUEUE_NAME. */
export const deliveryMessageSchema = z.object({
  v: z.literal(1),
  eventId: z.string().min(1).max(64),
  customerId: z.string().min(1).max(64),
  trackingId: z.string().min(1).max(64),
  /** A webhook URL of the tracking, or `operator` for NOTIFY_WEBHOOK_URL. */
  receiver: z.string().min(1).max(4096),
  attempt: z.number().int().positive(),
});
export type DeliveryMessage = z.infer<typeof deliveryMessageSchema>;

/** Longest a message may stay invisible (the Storage Queue limit is 7 days). */
const MAX_VISIBILITY_SECONDS = 7 * 24 * 3600;

/**
 * The Storage Queue that carries deliveries and its `<name>-poison` queue. Messages are base64 JSON,
 * the encoding the Functions queue trigger reads by default (host.json `messageEncoding`).
 */
export class DeliveryQueue {
  private ready?: Promise<unknown>;
  private poisonReady?: Promise<unknown>;

  constructor(
    private readonly queue: QueueClient,
    private readonly poison: QueueClient,
  ) {}

  get name(): string {
    return this.queue.name;
  }

  /** Sends now, or invisible for `delayMs` (a retry's back-off). */
  async send(message: DeliveryMessage, delayMs = 0): Promise<void> {
    this.ready ??= once(this.queue, () => {
      this.ready = undefined;
    });
    await this.ready;
    // Whole seconds (the service's unit); a delay under half a second is no delay.
    const visibilityTimeout = Math.min(MAX_VISIBILITY_SECONDS, Math.round(delayMs / 1000));
    await this.queue.sendMessage(encode(message), visibilityTimeout > 0 ? { visibilityTimeout } : {});
  }

  /** Keeps a given-up delivery where the Functions host keeps failed messages. */
  async sendToPoison(message: DeliveryMessage): Promise<void> {
    this.poisonReady ??= once(this.poison, () => {
      this.poisonReady = undefined;
    });
    await this.poisonReady;
    await this.poison.sendMessage(encode(message));
  }

  /** Approximate number of messages in the poison queue (0 when it does not exist yet). */
  async poisonLength(abortSignal?: AbortSignal): Promise<number> {
    try {
      const properties = await this.poison.getProperties({ abortSignal });
      return properties.approximateMessagesCount ?? 0;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return 0;
      throw error;
    }
  }
}

function once(queue: QueueClient, onFailure: () => void): Promise<unknown> {
  return queue.createIfNotExists().catch((error: unknown) => {
    onFailure();
    throw error;
  });
}

export function encode(message: DeliveryMessage): string {
  return Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
}
