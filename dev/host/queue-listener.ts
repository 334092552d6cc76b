import { DefaultAzureCredential } from '@azure/identity';
import { type DequeuedMessageItem, type QueueClient, QueueServiceClient } from '@azure/storage-queue';
import type { ClockTimer, HostClock } from './clock.js';
import type { QueuesHostOptions } from './project-config.js';

/** What a queue-triggered function receives, as the Node.js worker hands it over. */
export interface QueueDelivery {
  /** The message: parsed when it is JSON, else the text. */
  value: unknown;
  /** `context.triggerMetadata`, camel-cased as the worker does. */
  triggerMetadata: Record<string, unknown>;
}

export interface QueueListenerOptions {
  queue: QueueClient;
  poison: QueueClient;
  options: QueuesHostOptions;
  clock: HostClock;
  /** Runs the function; resolves true when it succeeded. Never rejects. */
  run: (delivery: QueueDelivery) => Promise<boolean>;
  log: (level: 'information' | 'warning' | 'error', message: string) => void;
}

/** First wait after an empty poll; doubles up to maxPollingInterval, as the Functions host does. */
const MIN_POLLING_INTERVAL_MS = 100;
/** While a function runs its message stays invisible (the host's default lease is 10 minutes). */
const RUNNING_VISIBILITY_SECONDS = 600;

/**
 * Runs a queue-triggered function from a Storage queue the way the Functions host does: polls,
 * backing off to `maxPollingInterval` while the queue is empty; keeps a message invisible while
 * its function runs; deletes it when the function succeeds; after a throw makes it visible again
 * after `visibilityTimeout`, and once it has been dequeued `maxDequeueCount` times moves it to
 * `<queue>-poison`.
 */
export class QueueListener {
  readonly #queue: QueueClient;
  readonly #poison: QueueClient;
  readonly #options: QueuesHostOptions;
  readonly #clock: HostClock;
  readonly #run: QueueListenerOptions['run'];
  readonly #log: QueueListenerOptions['log'];
  #timer: ClockTimer | undefined;
  #intervalMs = 0;
  #running = false;
  #polling: Promise<void> | undefined;
  #poisonReady: Promise<unknown> | undefined;

  constructor(options: QueueListenerOptions) {
    this.#queue = options.queue;
    this.#poison = options.poison;
    this.#options = options.options;
    this.#clock = options.clock;
    this.#run = options.run;
    this.#log = options.log;
  }

  get queueName(): string {
    return this.#queue.name;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  /** Stops polling and waits for the poll in progress (and the functions it runs). */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#polling;
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#polling = this.#poll().finally(() => {
        this.#polling = undefined;
      });
    }, delayMs);
  }

  async #poll(): Promise<void> {
    let received = 0;
    try {
      const response = await this.#queue.receiveMessages({
        numberOfMessages: this.#options.batchSize,
        visibilityTimeout: RUNNING_VISIBILITY_SECONDS,
      });
      received = response.receivedMessageItems.length;
      await Promise.all(response.receivedMessageItems.map((message) => this.#process(message)));
    } catch (error) {
      // A missing queue is an empty queue (the sender creates it); anything else is worth a line.
      if ((error as { statusCode?: number }).statusCode !== 404) {
        this.#log('warning', `Polling queue '${this.queueName}' failed: ${messageOf(error)}`);
      }
    }
    // Messages found: look again at once. None: back off, doubling up to maxPollingInterval.
    this.#intervalMs =
      received > 0
        ? 0
        : Math.min(
            this.#options.maxPollingIntervalMs,
            Math.max(MIN_POLLING_INTERVAL_MS, this.#intervalMs * 2),
          );
    this.#schedule(this.#intervalMs);
  }

  async #process(message: DequeuedMessageItem): Promise<void> {
    // Dequeued more often than allowed without a verdict (the host died while it ran): poison now.
    if (message.dequeueCount > this.#options.maxDequeueCount) {
      await this.#moveToPoison(message);
      return;
    }
    const text = this.#decode(message.messageText);
    const succeeded =
      text === undefined
        ? false
        : await this.#run({ value: parseValue(text), triggerMetadata: triggerMetadata(message, text) });
    try {
      if (succeeded) {
        await this.#queue.deleteMessage(message.messageId, message.popReceipt);
      } else if (message.dequeueCount >= this.#options.maxDequeueCount) {
        await this.#moveToPoison(message);
      } else {
        await this.#queue.updateMessage(
          message.messageId,
          message.popReceipt,
          undefined,
          Math.round(this.#options.visibilityTimeoutMs / 1000),
        );
      }
    } catch (error) {
      // The message reappears when its running visibility ends; nothing is lost.
      this.#log('warning', `Could not settle a message of '${this.queueName}': ${messageOf(error)}`);
    }
  }

  async #moveToPoison(message: DequeuedMessageItem): Promise<void> {
    this.#poisonReady ??= this.#poison.createIfNotExists().catch((error: unknown) => {
      this.#poisonReady = undefined;
      throw error;
    });
    await this.#poisonReady;
    // Copied first, then deleted: a crash in between leaves a copy, never a loss.
    await this.#poison.sendMessage(message.messageText);
    await this.#queue.deleteMessage(message.messageId, message.popReceipt);
    this.#log(
      'warning',
      `Message ${message.messageId} of '${this.queueName}' was dequeued ${message.dequeueCount} time(s) and moved to '${this.#poison.name}'.`,
    );
  }

  #decode(messageText: string): string | undefined {
    if (this.#options.messageEncoding === 'none') return messageText;
    const bytes = Buffer.from(messageText, 'base64');
    if (bytes.toString('base64').replace(/=+$/, '') !== messageText.trim().replace(/=+$/, '')) {
      this.#log('error', `A message of '${this.queueName}' is not base64 (host.json messageEncoding).`);
      return undefined;
    }
    return bytes.toString('utf8');
  }
}

/** The host passes JSON messages to the Node.js worker as JSON, which it parses; other text stays text. */
function parseValue(text: string): unknown {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return text;
  try {
    return JSON.parse(trimmed);
  } catch {
    return text;
  }
}

function triggerMetadata(message: DequeuedMessageItem, text: string): Record<string, unknown> {
  return {
    id: message.messageId,
    queueTrigger: text,
    dequeueCount: message.dequeueCount,
    insertionTime: message.insertedOn.toISOString(),
    expirationTime: message.expiresOn.toISOString(),
    nextVisibleTime: message.nextVisibleOn.toISOString(),
    popReceipt: message.popReceipt,
  };
}

/**
 * The queue service of a binding's `connection`, resolved as the Functions host does: the setting
 * itself as a connection string, or identity-based `<name>__queueServiceUri` / `<name>__accountName`.
 * An empty `connection` means `AzureWebJobsStorage`.
 */
export function queueServiceFor(connection: string, env: NodeJS.ProcessEnv): QueueServiceClient {
  const name = connection.trim() === '' ? 'AzureWebJobsStorage' : connection.trim();
  const connectionString = env[name]?.trim();
  if (connectionString) {
    try {
      return QueueServiceClient.fromConnectionString(connectionString);
    } catch {
      throw new Error(`The app setting '${name}' is not a usable storage connection string.`);
    }
  }
  const serviceUri =
    env[`${name}__queueServiceUri`]?.trim() ||
    (env[`${name}__accountName`]?.trim()
      ? `https://${env[`${name}__accountName`]?.trim()}.queue.core.windows.net`
      : undefined);
  if (!serviceUri) {
    throw new Error(
      `The storage connection '${name}' is not set (neither '${name}' nor '${name}__queueServiceUri' / '${name}__accountName').`,
    );
  }
  const clientId = env[`${name}__clientId`]?.trim();
  return new QueueServiceClient(
    serviceUri,
    new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {}),
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
