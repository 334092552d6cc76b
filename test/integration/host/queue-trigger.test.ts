import { randomBytes } from 'node:crypto';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { HostClock } from '../../../dev/host/clock.js';
import { type FunctionRegistry, installFunctionsCore } from '../../../dev/host/functions-core.js';
import type { HostLogEntry } from '../../../dev/host/host-log.js';
import { LocalFunctionsHost } from '../../../dev/host/local-host.js';
import { parseQueuesOptions } from '../../../dev/host/project-config.js';
import { ManualClock } from '../../fixtures/host-app/manual-clock.js';
import { createGate, Recorder } from '../../fixtures/host-app/probe.js';
import { type QueueRun, queueProbe } from '../../fixtures/queue-app/probe.js';
import { waitFor } from '../../support/wait.js';

const connectionString = inject('azuriteConnectionString');
const service = QueueServiceClient.fromConnectionString(connectionString);
const queueName = `fixture-${randomBytes(4).toString('hex')}`;
const queue = service.getQueueClient(queueName);
const poison = service.getQueueClient(`${queueName}-poison`);
const env = { FIXTURE_STORAGE: connectionString, FIXTURE_QUEUE_NAME: queueName };

let registry: FunctionRegistry;
let host: LocalFunctionsHost;
const logs = new Recorder<HostLogEntry>();

beforeAll(async () => {
  registry = installFunctionsCore();
  await import('../../fixtures/queue-app/functions.js');
  await queue.create();
  host = new LocalFunctionsHost({
    registry,
    port: 0,
    env,
    logger: (entry) => logs.record(entry),
    // host.json as a project would write it; a short polling interval keeps the test quick.
    queues: parseQueuesOptions({
      maxPollingInterval: '00:00:00.200',
      visibilityTimeout: '00:00:00',
      maxDequeueCount: 3,
    }),
  });
  await host.start();
});

afterAll(async () => {
  await host?.stop();
  await queue.deleteIfExists();
  await poison.deleteIfExists();
});

/** The Functions host reads base64 messages by default (host.json messageEncoding). */
function send(body: unknown): Promise<unknown> {
  return queue.sendMessage(Buffer.from(JSON.stringify(body)).toString('base64'));
}

function runsOf(id: string): QueueRun[] {
  return queueProbe.runs.values.filter((run) => (run.item as { id?: string }).id === id);
}

async function visibleCount(client = queue): Promise<number> {
  return (await client.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.length;
}

/** The poison queue's messages, decoded (none when it was never created). */
async function poisoned(): Promise<string[]> {
  if (!(await poison.exists())) return [];
  const { peekedMessageItems } = await poison.peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((m) => Buffer.from(m.messageText, 'base64').toString());
}

describe('queue trigger registrations', () => {
  it('keep what @azure/functions registered: the %setting% queue name and the connection setting name', () => {
    expect(registry.get('fixtureQueueTrigger')).toMatchObject({
      kind: 'queue',
      triggerType: 'queueTrigger',
      queueName: '%FIXTURE_QUEUE_NAME%',
      connection: 'FIXTURE_STORAGE',
    });
    expect(host.describeFunctions()).toContain(`fixtureQueueTrigger: queueTrigger (${queueName})`);
  });
});

describe('messages from Azurite run the function as the Functions host runs them', () => {
  it('hands over the parsed JSON with its trigger metadata, keeps it invisible while running, deletes it after success', async () => {
    queueProbe.gate = createGate();
    const run = queueProbe.runs.next((r) => (r.item as { id?: string }).id === 'ok');
    await send({ id: 'ok', sku: 12 });
    const started = await run;
    expect(started.item).toEqual({ id: 'ok', sku: 12 });
    expect(started.triggerMetadata).toMatchObject({ dequeueCount: 1, queueTrigger: '{"id":"ok","sku":12}' });
    expect(started.triggerMetadata?.id).toEqual(expect.any(String));
    // Running: nobody else can see it.
    expect(await visibleCount()).toBe(0);
    queueProbe.gate.open();
    queueProbe.gate = undefined;
    await waitFor(async () => (await queue.getProperties()).approximateMessagesCount === 0, {
      description: 'the message to be deleted',
    });
    expect(runsOf('ok')).toHaveLength(1);
  });

  it('makes a failed message visible again after visibilityTimeout and runs it again until it succeeds', async () => {
    await send({ id: 'flaky', failTimes: 2 });
    await waitFor(() => runsOf('flaky').length === 3, { description: 'three runs' });
    await waitFor(async () => (await queue.getProperties()).approximateMessagesCount === 0, {
      description: 'the message to be deleted after its third run',
    });
    expect(runsOf('flaky').map((r) => r.triggerMetadata?.dequeueCount)).toEqual([1, 2, 3]);
    expect(await poisoned()).not.toContainEqual(expect.stringContaining('flaky'));
  });

  it('moves a message that failed maxDequeueCount times to <queue>-poison, unchanged', async () => {
    const moved = logs.next((entry) => entry.message.includes(`moved to '${queueName}-poison'`));
    await send({ id: 'bad', failTimes: 'always' });
    await moved;
    expect(runsOf('bad').map((r) => r.triggerMetadata?.dequeueCount)).toEqual([1, 2, 3]);
    expect(await poisoned()).toContain('{"id":"bad","failTimes":"always"}');
    expect((await queue.getProperties()).approximateMessagesCount).toBe(0);
  });
});

describe('polling an empty queue', () => {
  it('backs off, doubling from 100 ms up to maxPollingInterval', async () => {
    const clock = new ManualClock(new Date('2025-01-01T00:00:00Z'));
    const quietName = `quiet-${randomBytes(4).toString('hex')}`;
    await service.getQueueClient(quietName).create();
    const quiet = new LocalFunctionsHost({
      registry,
      port: 0,
      env: { ...env, FIXTURE_QUEUE_NAME: quietName },
      logger: () => {},
      clock: clock as HostClock,
      queues: parseQueuesOptions({ maxPollingInterval: '00:00:01' }),
    });
    await quiet.start();
    try {
      const waits: number[] = [];
      let previous = clock.now().getTime();
      for (let poll = 0; poll < 6; poll++) {
        // The next poll is armed once the previous one has had its (empty) answer.
        const due = await waitFor(() => clock.nextDue, { description: 'the next poll to be armed' });
        waits.push(due.getTime() - previous);
        previous = due.getTime();
        clock.advanceTo(due);
      }
      expect(waits).toEqual([0, 100, 200, 400, 800, 1000]);
    } finally {
      await quiet.stop();
      await service.getQueueClient(quietName).deleteIfExists();
    }
  });
});
