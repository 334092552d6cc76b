import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { FunctionRegistry, installFunctionsCore } from '../../../dev/host/functions-core.js';
import type { HostLogEntry } from '../../../dev/host/host-log.js';

const handler = () => undefined;

function httpMetadata(name: string, trigger: Record<string, unknown> = {}) {
  return {
    name,
    bindings: {
      httpTrigger1: {
        type: 'httpTrigger',
        direction: 'in' as const,
        authLevel: 'function',
        methods: ['get'],
        ...trigger,
      },
      $return: { type: 'http', direction: 'out' as const },
    },
  };
}

describe('FunctionRegistry (the @azure/functions-core stand-in)', () => {
  it('classifies registrations by trigger', () => {
    const registry = new FunctionRegistry();
    registry.coreApi.registerFunction(httpMetadata('lookup', { route: 'items/{id}' }), handler);
    registry.coreApi.registerFunction(
      {
        name: 'sweep',
        bindings: {
          t: { type: 'timerTrigger', direction: 'in', schedule: '0 * * * * *', runOnStartup: true },
        },
      },
      handler,
    );
    registry.coreApi.registerFunction(
      { name: 'onBlob', bindings: { b: { type: 'blobTrigger', direction: 'in' } } },
      handler,
    );

    expect(registry.get('LOOKUP')).toMatchObject({
      kind: 'http',
      route: 'items/{id}',
      methods: ['GET'],
      authLevel: 'function',
      triggerBindingName: 'httpTrigger1',
    });
    expect(registry.get('sweep')).toMatchObject({
      kind: 'timer',
      schedule: '0 * * * * *',
      runOnStartup: true,
    });
    expect(registry.get('onBlob')).toMatchObject({ kind: 'other', triggerType: 'blobTrigger' });
  });

  it('refuses duplicate names (case-insensitively), missing triggers and unknown auth levels', () => {
    const registry = new FunctionRegistry();
    registry.coreApi.registerFunction(httpMetadata('health'), handler);
    expect(() => registry.coreApi.registerFunction(httpMetadata('Health'), handler)).toThrow(
      /already registered/,
    );
    expect(() => registry.coreApi.registerFunction({ name: 'x', bindings: {} }, handler)).toThrow(
      /no trigger binding/,
    );
    expect(() =>
      registry.coreApi.registerFunction(httpMetadata('y', { authLevel: 'system' }), handler),
    ).toThrow(/unknown authLevel/);
    expect(() =>
      registry.coreApi.registerFunction(
        { name: 'z', bindings: { t: { type: 'timerTrigger', direction: 'in' } } },
        handler,
      ),
    ).toThrow(/no schedule/);
  });

  it('returns Disposables that undo registrations and hooks', () => {
    const registry = new FunctionRegistry();
    const fn = registry.coreApi.registerFunction(httpMetadata('temp'), handler);
    const hook = registry.coreApi.registerHook('preInvocation', () => {});
    expect(registry.functions).toHaveLength(1);
    expect(registry.hooks('preInvocation')).toHaveLength(1);
    fn.dispose();
    hook.dispose();
    expect(registry.functions).toHaveLength(0);
    expect(registry.hooks('preInvocation')).toHaveLength(0);
  });

  it('rejects unknown hooks with a RangeError, as the worker does', () => {
    expect(() => new FunctionRegistry().coreApi.registerHook('beforeEverything', () => {})).toThrow(
      RangeError,
    );
  });

  it('routes the library system log to the host logger', () => {
    const registry = new FunctionRegistry();
    const entries: HostLogEntry[] = [];
    registry.setSystemLogger((entry) => entries.push(entry));
    registry.coreApi.log('warning', 'system', 'careful');
    expect(entries).toMatchObject([{ level: 'warning', category: 'system', message: 'careful' }]);
  });
});

describe('installFunctionsCore', () => {
  it('makes require("@azure/functions-core") return the registry API, once per process', () => {
    const registry = installFunctionsCore();
    expect(installFunctionsCore()).toBe(registry);
    const require = createRequire(import.meta.url);
    expect(require('@azure/functions-core')).toBe(registry.coreApi);
    // Everything else still resolves normally.
    expect(require('node:path')).toBeDefined();
    expect(() => require('@azure/functions-core-not-a-module')).toThrow(/Cannot find module/);
  });
});
