import { describe, expect, it } from 'vitest';
import { MAX_LOCATION_LENGTH } from '../../../shared/trackings/model.js';
import {
  parseBatchKey,
  parseLocation,
  parseRegistration,
  withoutBlanks,
} from '../../../shared/trackings/tracking-reference.js';

const C = '47021739-3426-40bf-9601-61b4b6d7c793';
const T = '0127ed8e-ff72-4983-a3d8-e8d8bd378932';
const KEY = { customerId: C, trackingId: T };

describe('parseLocation', () => {
  it.each([
    `/customers/${C}/batchJobStatus/${T}`,
    `/customers/${C}/batchjobstatus/${T}`,
    `customers/${C}/batchJobStatus/${T}`,
    `/v1/customers/${C}/batchJobStatus/${T}`,
    `/v1/customers/${C.toUpperCase()}/BatchJobStatus/${T.toUpperCase()}/`,
    `/customers/${C}/batchJobStatus/${T}?x=1#y`,
    `https://api.partnercenter.microsoft.com/v1/customers/${C}/batchjobstatus/${T}`,
    `https://api.partnercenter.microsoft.com/customers/${C}/batchJobStatus/${T}/?a=b`,
    `https://127.0.0.1:8443/v1/customers/${C}/batchJobStatus/${T}`,
    // A URL inside the query does not make a relative value absolute.
    `/customers/${C}/batchJobStatus/${T}?from=https://portal.example/x`,
  ])('reads %s', (location) => {
    expect(parseLocation(location)).toEqual({ ok: true, value: KEY });
  });

  it.each([
    ['', 'location'],
    ['/customers', 'location'],
    [`/customers/${C}/batchJobStatus`, 'location'],
    [`/customers/${C}/batchJobStatus/${T}/devices`, 'location'],
    [`https://api.partnercenter.microsoft.com/v1/customers/${C}/batchJobStatus/${T}/devices`, 'location'],
    [`/customers/${C}/batchJobStatus/${T.slice(1)}`, 'location'],
    [`mailto:/customers/${C}/batchJobStatus/${T}`, 'location'],
    [`https://[bad/customers/${C}/batchJobStatus/${T}`, 'location'],
  ])('refuses %j', (location, field) => {
    const result = parseLocation(location);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems[0]?.field).toBe(field);
  });

  it('does bounded work on long hostile input: refused on its length before any pattern runs', () => {
    // (How long these take is measured in the bench, not limited here.)
    const hostile = `/customers/${'/'.repeat(1_000_000)}`;
    expect(parseLocation(hostile)).toEqual({
      ok: false,
      problems: [{ field: 'location', message: `must be at most ${MAX_LOCATION_LENGTH} characters` }],
    });
    const justUnder = `/customers/${'a/'.repeat(1000)}`;
    expect(justUnder.length).toBeLessThanOrEqual(MAX_LOCATION_LENGTH);
    expect(parseLocation(justUnder).ok).toBe(false);
  });

  it('tells a blank Location that one is required', () => {
    for (const blank of ['', '   ', '\t\n'])
      expect(parseLocation(blank)).toEqual({
        ok: false,
        problems: [
          {
            field: 'location',
            message:
              'is required and must look like /customers/{customerId}/batchJobStatus/{trackingId} (relative or absolute)',
          },
        ],
      });
  });

  it('accepts a Location of exactly the longest length, and refuses one character more', () => {
    const path = `/customers/${C}/batchJobStatus/${T}?`;
    const longest = path.padEnd(MAX_LOCATION_LENGTH, 'x');
    expect(parseLocation(longest)).toEqual({ ok: true, value: { customerId: C, trackingId: T } });
    expect(parseLocation(`${longest}x`)).toEqual({
      ok: false,
      problems: [{ field: 'location', message: `must be at most ${MAX_LOCATION_LENGTH} characters` }],
    });
  });
});

describe('parseBatchKey / parseRegistration', () => {
  it('normalises ids to lower case', () => {
    expect(parseBatchKey(C.toUpperCase(), withoutBlanks(` ${T.toUpperCase()} `))).toEqual({
      ok: true,
      value: KEY,
    });
    expect(parseBatchKey(C, ` ${T}`).ok).toBe(false);
  });

  it('lists every problem at once', () => {
    expect(parseRegistration({ customerId: 'x', trackingId: 'y', label: 5 })).toEqual({
      ok: false,
      problems: [
        { field: 'customerId', message: expect.stringContaining('GUID') },
        { field: 'trackingId', message: expect.stringContaining('GUID') },
        { field: 'label', message: 'must be a string' },
      ],
    });
  });

  it('accepts a body carrying a status link, and ignores unknown fields', () => {
    expect(parseRegistration({ statusLink: `/customers/${C}/batchJobStatus/${T}`, extra: true })).toEqual({
      ok: true,
      value: { key: KEY },
    });
    expect(
      parseRegistration({
        links: { status: { uri: `/customers/${C}/batchJobStatus/${T}`, method: 'GET' } },
        label: 'x',
      }),
    ).toEqual({
      ok: true,
      value: { key: KEY, label: 'x' },
    });
    expect(parseRegistration({ links: { status: `/customers/${C}/batchJobStatus/${T}` } })).toEqual({
      ok: true,
      value: { key: KEY },
    });
  });

  it('names a status link that disagrees with the other way the body names the tracking', () => {
    const other = '9a6e1c2b-5d4f-4e3a-8b7c-1d2e3f4a5b6c';
    expect(
      parseRegistration({
        location: `/customers/${C}/batchJobStatus/${T}`,
        statusLink: `/customers/${C}/batchJobStatus/${other}`,
      }),
    ).toEqual({
      ok: false,
      problems: [{ field: 'statusLink', message: 'names a different tracking than location' }],
    });
    expect(
      parseRegistration({
        statusLink: { uri: `/customers/${C}/batchJobStatus/${T}` },
        links: { status: { uri: `/customers/${C}/batchJobStatus/${other}` } },
      }),
    ).toEqual({
      ok: false,
      problems: [{ field: 'links', message: 'names a different tracking than statusLink' }],
    });
  });

  it('treats an empty or null label as no label', () => {
    expect(parseRegistration({ ...KEY, label: '   ' })).toEqual({ ok: true, value: { key: KEY } });
    expect(parseRegistration({ ...KEY, label: null })).toEqual({ ok: true, value: { key: KEY } });
  });

  it('never throws, whatever the input', () => {
    const inputs: unknown[] = [
      undefined,
      null,
      0,
      'x',
      [],
      () => 1,
      Symbol('s'),
      { location: {} },
      { links: [] },
      { customerId: {} },
    ];
    for (const input of inputs) expect(parseRegistration(input).ok).toBe(false);
  });
});
