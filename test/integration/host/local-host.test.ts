import { request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import azureFunctions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FunctionRegistry, installFunctionsCore } from '../../../dev/host/functions-core.js';
import { formatLogLine, type HostLogEntry } from '../../../dev/host/host-log.js';
import { LocalFunctionsHost } from '../../../dev/host/local-host.js';
import { ManualClock } from '../../fixtures/host-app/manual-clock.js';
import { createGate, probe, Recorder } from '../../fixtures/host-app/probe.js';

const KEY = 'test-function-key';
const env = { FIXTURE_SWEEP_SCHEDULE: '0 */5 * * * *' };

let registry: FunctionRegistry;
let host: LocalFunctionsHost;
let baseUrl: string;
const logs = new Recorder<HostLogEntry>();

beforeAll(async () => {
  // The shim goes in before anything calls into @azure/functions' core API.
  registry = installFunctionsCore();
  await import('../../fixtures/host-app/functions/items.js');
  await import('../../fixtures/host-app/functions/health.js');
  await import('../../fixtures/host-app/functions/responses.js');
  await import('../../fixtures/host-app/functions/sweep.js');
  await import('../../fixtures/host-app/functions/queue.js');
  await import('../../fixtures/host-app/functions/hooks.js');
  host = new LocalFunctionsHost({
    registry,
    port: 0,
    functionKey: KEY,
    env,
    logger: (entry) => logs.record(entry),
    functionAppDirectory: '/fixture',
  });
  baseUrl = (await host.start()).url;
});

afterAll(async () => {
  await host?.stop();
});

const withKey = { 'x-functions-key': KEY };

async function getJson(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}${path}`, { ...init, headers: { ...withKey, ...init.headers } });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('registrations through the @azure/functions-core shim', () => {
  it('answers require("@azure/functions-core") with the registry the library uses', () => {
    const require = createRequire(import.meta.url);
    expect(require('@azure/functions-core')).toBe(registry.coreApi);
    expect(registry.programmingModel).toMatchObject({ name: '@azure/functions' });
  });

  it('holds exactly the metadata the Functions host would receive', () => {
    expect(registry.functions.map((fn) => fn.name)).toEqual([
      'getItemByName',
      'getItem',
      'getSpecialItem',
      'listItems',
      'createItem',
      'adminOnly',
      'health',
      'echo',
      'streamed',
      'noContent',
      'boom',
      'fixtureSweep',
      'startupTimer',
      'fixtureQueue',
    ]);

    const getItem = registry.get('getitem');
    expect(getItem).toMatchObject({
      kind: 'http',
      name: 'getItem',
      triggerType: 'httpTrigger',
      route: 'items/{id:int}',
      methods: ['GET'],
      authLevel: 'function',
    });
    expect(getItem?.metadata).toEqual({
      name: 'getItem',
      bindings: {
        [getItem!.triggerBindingName]: {
          name: getItem!.triggerBindingName,
          type: 'httpTrigger',
          direction: 'in',
          authLevel: 'function',
          methods: ['GET'],
          route: 'items/{id:int}',
          properties: { supportsDeferredBinding: 'false' },
        },
        // The return binding keeps the library's hashed output name under the `$return` key.
        $return: { name: expect.stringMatching(/^httpOutput/), type: 'http', direction: 'out' },
      },
      retryOptions: undefined,
    });

    expect(registry.get('echo')).toMatchObject({
      kind: 'http',
      route: undefined,
      effectiveRoute: 'echo',
      methods: ['GET', 'POST'],
      authLevel: 'anonymous',
    });
    expect(registry.get('fixtureSweep')).toMatchObject({
      kind: 'timer',
      triggerType: 'timerTrigger',
      schedule: '%FIXTURE_SWEEP_SCHEDULE%',
      runOnStartup: false,
    });
    expect(registry.get('startupTimer')).toMatchObject({
      kind: 'timer',
      schedule: '0 0 0 1 1 *',
      runOnStartup: true,
    });
    expect(registry.get('fixtureQueue')).toMatchObject({
      kind: 'queue',
      triggerType: 'queueTrigger',
      queueName: 'fixture-items',
      connection: 'AzureWebJobsStorage',
    });
    expect(registry.hooks('appStart')).toHaveLength(1);
    expect(registry.hooks('preInvocation')).toHaveLength(1);
  });

  it('lists the functions like func start', () => {
    const lines = host.describeFunctions();
    expect(lines).toContain(`getItem: [GET] ${baseUrl}/api/items/{id:int}`);
    expect(lines).toContain(`echo: [GET,POST] ${baseUrl}/api/echo`);
    expect(
      lines.find((line) => line.startsWith('fixtureSweep: timerTrigger (0 */5 * * * * UTC')),
    ).toBeDefined();
    // This host has no AzureWebJobsStorage: like the Functions host, it says so and runs the rest.
    expect(lines.find((line) => line.startsWith('fixtureQueue: queueTrigger (not listening:'))).toMatch(
      /'AzureWebJobsStorage' is not set/,
    );
  });
});

describe('HTTP functions over real HTTP', () => {
  it('passes route params, repeated query keys, headers and the URL to the handler', async () => {
    const { status, body } = await getJson('/api/items/42?x=1&x=2', { headers: { 'x-test': 'hello' } });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      functionName: 'getItem',
      method: 'GET',
      url: `${baseUrl}/api/items/42?x=1&x=2`,
      params: { id: '42' },
      query: [
        ['x', '1'],
        ['x', '2'],
      ],
      testHeader: 'hello',
    });
  });

  it('prefers literal and constrained segments over plain parameters, whatever the registration order', async () => {
    expect((await getJson('/api/items/special')).body.functionName).toBe('getSpecialItem');
    expect((await getJson('/api/items/7')).body.functionName).toBe('getItem');
    const byName = await getJson('/api/ITEMS/hello%20world%2Fx');
    expect(byName.body).toMatchObject({ functionName: 'getItemByName', params: { name: 'hello world/x' } });
  });

  it('routes the same template to different functions by method and passes the body', async () => {
    const created = await getJson('/api/items', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'widget' }),
    });
    expect(created).toMatchObject({
      status: 200,
      body: { functionName: 'createItem', body: '{"name":"widget"}' },
    });
    expect((await getJson('/api/items')).body.functionName).toBe('listItems');
  });

  it('answers 404 for an unknown path and 405 (with Allow) for a known route with another method', async () => {
    const notFound = await fetch(`${baseUrl}/api/nothing-here`, { headers: withKey });
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('content-type')).toBe('application/problem+json');
    expect((await fetch(`${baseUrl}/items/7`, { headers: withKey })).status).toBe(404);

    const wrongMethod = await fetch(`${baseUrl}/api/items`, { method: 'DELETE', headers: withKey });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'POST']);
  });

  it('writes status, headers, cookies and text bodies from an HttpResponseInit', async () => {
    const response = await fetch(`${baseUrl}/api/echo`, { method: 'POST', body: 'ping' });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-echo')).toBe('yes');
    expect(response.headers.getSetCookie()).toEqual(['session=abc; Path=/; HttpOnly; SameSite=Lax']);
    expect(await response.text()).toBe('echo:ping');
  });

  it('streams a body from an HttpResponse and answers 204 when the handler returns nothing', async () => {
    const streamed = await fetch(`${baseUrl}/api/streamed`);
    expect(await streamed.text()).toBe('chunk-1,chunk-2');
    const empty = await fetch(`${baseUrl}/api/noContent`);
    expect(empty.status).toBe(204);
  });

  it('answers 500 without the error details when the handler throws, and logs the failure', async () => {
    const failure = logs.next((entry) => entry.functionName === 'boom' && entry.level === 'error');
    const response = await fetch(`${baseUrl}/api/boom`);
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain('kaboom');
    expect(text).not.toContain('at ');
    expect((await failure).message).toContain('kaboom: secret internals');
  });

  it('logs one line per entry with the function name and invocation id, never header values', async () => {
    const { body } = await getJson('/api/items/5', { headers: { 'x-test': 'header-value-not-for-logs' } });
    const userLine = await logs.waitFor(
      (entry) => entry.category === 'user' && entry.invocationId === body.invocationId,
    );
    const line = formatLogLine(userLine);
    expect(line).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z info \\[getItem ${body.invocationId}\\] handling GET for getItem$`,
      ),
    );
    const allText = logs.values.map(formatLogLine).join('\n');
    expect(allText).not.toContain(KEY);
    expect(allText).not.toContain('header-value-not-for-logs');
  });
});

describe('in-process invoke', () => {
  it('runs an HTTP function with a real HttpRequest and reports failures without throwing', async () => {
    const request = new azureFunctions.HttpRequest({
      method: 'GET',
      url: 'http://in-process/api/items/3',
      params: { id: '3' },
    });
    const outcome = await host.invoke('getItem', request);
    expect(outcome).toMatchObject({
      status: 'succeeded',
      result: { jsonBody: { functionName: 'getItem', params: { id: '3' } } },
    });

    const failed = await host.invoke(
      'boom',
      new azureFunctions.HttpRequest({ method: 'GET', url: 'http://in-process/api/boom' }),
    );
    expect(failed.status).toBe('failed');
    expect(failed.status === 'failed' && (failed.error as Error).message).toBe('kaboom: secret internals');

    await expect(host.invoke('getItem')).rejects.toThrow(/pass an HttpRequest/);
    await expect(host.invoke('missing')).rejects.toThrow(/No function named 'missing'/);
  });
});

describe('function keys', () => {
  it('refuses function- and admin-level routes without the key, or with a wrong one', async () => {
    expect((await fetch(`${baseUrl}/api/items/1`)).status).toBe(401);
    expect((await fetch(`${baseUrl}/api/items/1`, { headers: { 'x-functions-key': 'wrong' } })).status).toBe(
      401,
    );
    expect((await fetch(`${baseUrl}/api/admin-only`)).status).toBe(401);
    expect(
      (await fetch(`${baseUrl}/admin/functions/fixtureQueue`, { method: 'POST', body: '{}' })).status,
    ).toBe(401);
  });

  it('accepts the key as header or code query parameter; anonymous routes need none', async () => {
    expect((await fetch(`${baseUrl}/api/items/1?code=${KEY}`)).status).toBe(200);
    expect((await fetch(`${baseUrl}/api/admin-only`, { headers: withKey })).status).toBe(200);
    expect((await fetch(`${baseUrl}/api/health`)).status).toBe(200);
  });

  it('requires no key at all when none is configured, like func start', async () => {
    const open = new LocalFunctionsHost({ registry, port: 0, env, logger: () => {} });
    const { url } = await open.start();
    try {
      expect((await fetch(`${url}/api/items/1`)).status).toBe(200);
      expect(
        (await fetch(`${url}/admin/functions/fixtureQueue`, { method: 'POST', body: '{"input":"x"}' }))
          .status,
      ).toBe(202);
    } finally {
      await open.stop();
    }
  });
});

describe('admin API and timers', () => {
  const admin = (name: string, init: RequestInit = {}) =>
    fetch(`${baseUrl}/admin/functions/${name}`, {
      method: 'POST',
      body: '{"input": ""}',
      ...init,
      headers: withKey,
    });

  it('ran runOnStartup timers and appStart hooks when the host started', async () => {
    await probe.appStarts.waitFor();
    const run = await probe.timerRuns.waitFor((r) => r.functionName === 'startupTimer');
    expect(run.timer.isPastDue).toBe(false);
  });

  it('runs a timer on demand: 202 once started, with a Timer object like the worker gives', async () => {
    const run = probe.timerRuns.next((r) => r.functionName === 'fixtureSweep');
    const response = await admin('fixtureSweep');
    expect(response.status).toBe(202);
    const { timer } = await run;
    expect(timer.isPastDue).toBe(false);
    expect(timer.schedule).toEqual({ adjustForDST: true });
    // The next occurrence of */5 minutes, on a 5-minute boundary.
    expect(new Date(timer.scheduleStatus.next).getUTCMinutes() % 5).toBe(0);
    expect(new Date(timer.scheduleStatus.next).getTime()).toBeGreaterThan(Date.now() - 1000);
  });

  it('never overlaps a function with itself: a trigger during a run is skipped and logged', async () => {
    const gate = createGate();
    probe.timerGate = gate;
    try {
      const started = probe.timerRuns.next((r) => r.functionName === 'fixtureSweep');
      const first = host.invoke('fixtureSweep');
      const { invocationId } = await started;

      const skippedLog = logs.next(
        (entry) => entry.functionName === 'fixtureSweep' && entry.message.startsWith('Skipped'),
      );
      expect((await admin('fixtureSweep')).status).toBe(202);
      expect((await skippedLog).message).toContain(
        `the previous run (Id=${invocationId}) is still in progress`,
      );
      expect(await host.invoke('fixtureSweep')).toEqual({
        status: 'skipped',
        reason: `the previous run (Id=${invocationId}) is still in progress`,
        runningInvocationId: invocationId,
      });

      gate.open();
      expect(await first).toMatchObject({ status: 'succeeded', invocationId });
    } finally {
      probe.timerGate = undefined;
      gate.open();
    }
    const again = probe.timerRuns.next((r) => r.functionName === 'fixtureSweep');
    expect((await admin('fixtureSweep')).status).toBe(202);
    await again;
  });

  it('passes the admin input to other triggers, JSON parsed', async () => {
    const item = probe.queueItems.next();
    expect((await admin('fixtureQueue', { body: '{"input": "{\\"sku\\": 12}"}' })).status).toBe(202);
    expect(await item).toEqual({ sku: 12 });
    expect(probe.preInvocations.values).toContain('fixtureQueue');
  });

  it('refuses unknown functions, HTTP functions, other methods and malformed bodies', async () => {
    expect((await admin('noSuchFunction')).status).toBe(404);
    expect((await admin('getItem')).status).toBe(400);
    expect((await admin('fixtureSweep', { body: 'not json' })).status).toBe(400);
    expect((await admin('fixtureSweep', { body: '{"input": 5}' })).status).toBe(400);
    const get = await fetch(`${baseUrl}/admin/functions/fixtureSweep`, { headers: withKey });
    expect(get.status).toBe(405);
    expect((await fetch(`${baseUrl}/admin/host/unknown`, { headers: withKey })).status).toBe(404);
  });
});

describe('timers on their schedule', () => {
  it('fires at each NCRONTAB occurrence (UTC) and skips a trigger that meets a run in progress', async () => {
    const clock = new ManualClock(new Date('2026-11-26T12:03:10.000Z'));
    const scheduleLogs = new Recorder<HostLogEntry>();
    const scheduled = new LocalFunctionsHost({
      registry,
      port: 0,
      env,
      clock,
      logger: (entry) => scheduleLogs.record(entry),
    });
    await scheduled.start();
    const gate = createGate();
    probe.timerGate = gate;
    try {
      expect(clock.nextDue?.toISOString()).toBe('2026-11-26T12:05:00.000Z');
      const firstRun = probe.timerRuns.next((r) => r.functionName === 'fixtureSweep');
      clock.advanceTo(new Date('2026-11-26T12:05:00.000Z'));
      const first = await firstRun;
      expect(first.timer.scheduleStatus).toEqual({
        last: '2026-11-26T12:00:00.000Z',
        next: '2026-11-26T12:10:00.000Z',
        lastUpdated: '2026-11-26T12:05:00.000Z',
      });

      const skipped = scheduleLogs.next((entry) => entry.message.startsWith('Skipped the schedule trigger'));
      clock.advanceTo(new Date('2026-11-26T12:10:00.000Z'));
      expect((await skipped).functionName).toBe('fixtureSweep');

      const finished = scheduleLogs.next(
        (entry) => entry.invocationId === first.invocationId && entry.message.startsWith('Executed'),
      );
      gate.open();
      await finished;
      probe.timerGate = undefined;

      const secondRun = probe.timerRuns.next((r) => r.functionName === 'fixtureSweep');
      clock.advanceTo(new Date('2026-11-26T12:15:00.000Z'));
      const second = await secondRun;
      expect(second.timer.scheduleStatus.last).toBe('2026-11-26T12:05:00.000Z');
      expect(second.invocationId).not.toBe(first.invocationId);
    } finally {
      probe.timerGate = undefined;
      gate.open();
      await scheduled.stop();
    }
    expect(clock.pendingTimers).toBe(0);
  });

  it('refuses to start when a schedule names a missing app setting, naming it', async () => {
    const broken = new LocalFunctionsHost({ registry, port: 0, env: {}, logger: () => {} });
    await expect(broken.start()).rejects.toThrow(/'FIXTURE_SWEEP_SCHEDULE'.*not set/);
  });
});

describe('request limits and shutdown', () => {
  it('rejects bodies over the limit with 413, by Content-Length or while streaming', async () => {
    const small = new LocalFunctionsHost({
      registry,
      port: 0,
      env,
      logger: () => {},
      maxRequestBodyBytes: 16,
    });
    const { url } = await small.start();
    try {
      const declared = await fetch(`${url}/api/echo`, { method: 'POST', body: 'x'.repeat(17) });
      expect(declared.status).toBe(413);
      expect((await fetch(`${url}/api/echo`, { method: 'POST', body: 'x'.repeat(16) })).status).toBe(201);

      const chunkedStatus = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${url}/api/echo`, { method: 'POST' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        // No Content-Length: chunked, so only counting can catch it.
        req.write('x'.repeat(10));
        req.write('x'.repeat(10));
      });
      expect(chunkedStatus).toBe(413);
    } finally {
      await small.stop();
    }
  });

  it('waits for running invocations on stop, then runs appTerminate hooks', async () => {
    const stopping = new LocalFunctionsHost({ registry, port: 0, env, logger: () => {} });
    await stopping.start();
    const gate = createGate();
    probe.timerGate = gate;
    const run = probe.timerRuns.next((r) => r.functionName === 'fixtureSweep');
    const outcome = stopping.invoke('fixtureSweep');
    await run;
    // The order in which things end: a stop that did not wait would run the appTerminate hooks
    // (and resolve) while the invocation is still held at the gate.
    const order: string[] = [];
    const terminated = probe.appTerminations.next().then(() => order.push('appTerminate'));
    const done = outcome.then(() => order.push('invocation'));
    const stop = stopping.stop().then(() => order.push('stopped'));
    // The host is stopping (it refuses new invocations) while the invocation is held.
    await expect(stopping.invoke('fixtureSweep')).rejects.toThrow(/not running/);
    gate.open();
    probe.timerGate = undefined;
    await Promise.all([stop, terminated, done]);
    expect(order).toEqual(['invocation', 'appTerminate', 'stopped']);
    expect(await outcome).toMatchObject({ status: 'succeeded' });
  });
});
