import type { IncomingMessage } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { readBody, SimulatorServer } from './simulators/https-server.js';
import type { TlsMaterial } from './simulators/tls.js';

/** One POST the receiver got, and what it made of it. */
export interface ReceivedWebhook {
  headers: Record<string, string>;
  body: string;
  /** The Standard Webhooks signature checked out with the receiver's secret. */
  verified: boolean;
  /** The verified CloudEvent (undefined when the signature did not verify). */
  event?: { id: string; type: string; source: string; subject: string; data: Record<string, unknown> };
  /** What the receiver answered. */
  status: number;
}

export interface WebhookReceiverOptions {
  tls: TlsMaterial;
  /** The signing secret (`whsec_…`) the app signs with. */
  secret: string;
  /** The status to answer each delivery with (default 200; 401 when the signature is wrong). */
  answer?: (received: Omit<ReceivedWebhook, 'status'>, index: number) => number;
  /** Called for each delivery, e.g. to print it. */
  onReceived?: (received: ReceivedWebhook) => void;
}

export interface RunningWebhookReceiver {
  /** `https://localhost:{port}/webhook` */
  url: string;
  readonly received: ReceivedWebhook[];
  /** Resolves once `count` deliveries have arrived. */
  waitFor(count: number): Promise<ReceivedWebhook[]>;
  stop(): Promise<void>;
}

/**
 * A local HTTPS webhook receiver (the dev certificate) that verifies each delivery's signature with
 * the `standardwebhooks` library, as a receiver of this service would, and records it. `npm run
 * dev` starts one and prints what it receives; the tests use it as the receiver.
 */
export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<RunningWebhookReceiver> {
  const webhook = new Webhook(options.secret);
  const received: ReceivedWebhook[] = [];
  const waiters: { count: number; resolve: (all: ReceivedWebhook[]) => void }[] = [];
  const server = new SimulatorServer('webhook receiver', options.tls, async (req, res) => {
    const body = await readBody(req, 1024 * 1024);
    const headers = flatHeaders(req);
    let event: ReceivedWebhook['event'];
    try {
      event = webhook.verify(body, headers) as ReceivedWebhook['event'];
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
    }
    const seen = { headers, body, verified: event !== undefined, event };
    const status = options.answer?.(seen, received.length) ?? (seen.verified ? 200 : 401);
    const entry = { ...seen, status };
    received.push(entry);
    options.onReceived?.(entry);
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status < 300 ? 'ok' : 'not ok');
    for (const waiter of [...waiters]) {
      if (received.length >= waiter.count) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(received.slice());
      }
    }
  });
  const base = await server.start();
  return {
    // The certificate names localhost; so does the allow-list of the dev settings.
    url: `${base.replace('127.0.0.1', 'localhost')}/webhook`,
    received,
    waitFor: (count) =>
      received.length >= count
        ? Promise.resolve(received.slice())
        : new Promise((resolve) => waiters.push({ count, resolve })),
    stop: () => server.stop(),
  };
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}
