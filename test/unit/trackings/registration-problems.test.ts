import { describe, expect, it } from 'vitest';
import { MAX_LABEL_LENGTH } from '../../../shared/trackings/model.js';
import { parseGuid, parseLocation, parseRegistration } from '../../../shared/trackings/tracking-reference.js';

// Each refused registration body with the exact problems a caller reads in the 400: field and
// message, all of them at once. The mutation run (2026-12-02) showed the messages were only
// checked by `stringContaining`, or not at all.

const CUSTOMER = '6f1d3a2e-4b5c-4d7e-8f90-a1b2c3d4e5f6';
const TRACKING = 'b7e0c1d2-3f4a-4b5c-9d6e-7f8091a2b3c4';
const OTHER = 'c8f1d2e3-4a5b-4c6d-8e7f-8091a2b3c4d5';
const PATH = `/customers/${CUSTOMER}/batchJobStatus/${TRACKING}`;
const SHAPE = 'must look like /customers/{customerId}/batchJobStatus/{trackingId} (relative or absolute)';

const problemsOf = (body: unknown) => {
  const parsed = parseRegistration(body);
  if (parsed.ok) throw new Error(`expected a refusal of ${JSON.stringify(body)}`);
  return parsed.problems;
};

describe('the problems of a refused registration', () => {
  it('names a body that is not an object, or names no tracking', () => {
    for (const body of [null, [], 'text', 3]) {
      expect(problemsOf(body)).toEqual([{ field: 'body', message: 'must be a JSON object' }]);
    }
    expect(problemsOf({ label: 'x' })).toEqual([
      {
        field: 'body',
        message:
          "must contain customerId and trackingId, or location (the upload call's Location header), or statusLink",
      },
    ]);
  });

  it('checks the ids when only one of them is given', () => {
    expect(problemsOf({ customerId: CUSTOMER })).toEqual([
      { field: 'trackingId', message: 'is required and must be a GUID' },
    ]);
    expect(problemsOf({ trackingId: TRACKING })).toEqual([
      { field: 'customerId', message: 'is required and must be a GUID' },
    ]);
    expect(parseRegistration({ customerId: CUSTOMER, trackingId: TRACKING })).toEqual({
      ok: true,
      value: { key: { customerId: CUSTOMER, trackingId: TRACKING } },
    });
  });

  it('says what a location must look like, and which id in its path is wrong', () => {
    expect(problemsOf({ location: '' })).toEqual([
      { field: 'location', message: `is required and ${SHAPE}` },
    ]);
    expect(problemsOf({ location: 'https://[bad/customers/x' })).toEqual([
      { field: 'location', message: `is not a valid URL; it ${SHAPE}` },
    ]);
    expect(problemsOf({ location: `ftp://files.example${PATH}` })).toEqual([
      { field: 'location', message: 'must be an http(s) URL or a relative path' },
    ]);
    expect(problemsOf({ location: `/customers/${CUSTOMER}/batchJobStatus/nope` })).toEqual([
      {
        field: 'location',
        message: 'trackingId in the path must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)',
      },
    ]);
    expect(parseLocation(`http://127.0.0.1:7071/v1${PATH}`).ok).toBe(true);
    expect(parseLocation(`https://api.partnercenter.microsoft.com/v1${PATH}`).ok).toBe(true);
  });

  it('names statusLink and each link by its own field', () => {
    expect(problemsOf({ statusLink: { uri: '/customers/x' } })).toEqual([
      { field: 'statusLink', message: SHAPE },
    ]);
    expect(problemsOf({ links: 'self' })).toEqual([
      { field: 'links', message: 'must be an object of links ({ "<name>": { "uri": "…" } })' },
    ]);
    expect(problemsOf({ links: { self: { uri: '/other' } } })).toEqual([
      {
        field: 'links',
        message: 'has no link to a /customers/{customerId}/batchJobStatus/{trackingId} resource',
      },
    ]);
    expect(parseRegistration({ links: { self: { uri: '/x' }, status: { uri: PATH } } })).toEqual({
      ok: true,
      value: { key: { customerId: CUSTOMER, trackingId: TRACKING } },
    });
  });

  it('refuses ways of naming the tracking that disagree, naming the later one', () => {
    const elsewhere = `/customers/${CUSTOMER}/batchJobStatus/${OTHER}`;
    expect(problemsOf({ customerId: CUSTOMER, trackingId: TRACKING, location: elsewhere })).toEqual([
      { field: 'location', message: 'names a different tracking than customerId/trackingId' },
    ]);
    expect(problemsOf({ location: PATH, links: { self: { uri: elsewhere } } })).toEqual([
      { field: 'links', message: 'names a different tracking than location' },
    ]);
    // The same tracking id under another customer is another tracking too.
    const otherCustomer = `/customers/${OTHER}/batchJobStatus/${TRACKING}`;
    expect(problemsOf({ customerId: CUSTOMER, trackingId: TRACKING, location: otherCustomer })).toEqual([
      { field: 'location', message: 'names a different tracking than customerId/trackingId' },
    ]);
  });

  it('takes a label up to its limit, and refuses a longer one or one with control characters', () => {
    const longest = 'x'.repeat(MAX_LABEL_LENGTH);
    expect(parseRegistration({ location: PATH, label: longest })).toEqual({
      ok: true,
      value: { key: { customerId: CUSTOMER, trackingId: TRACKING }, label: longest },
    });
    expect(problemsOf({ location: PATH, label: `${longest}x` })).toEqual([
      { field: 'label', message: `must be at most ${MAX_LABEL_LENGTH} characters` },
    ]);
    expect(problemsOf({ location: PATH, label: 'a\u0007b' })).toEqual([
      { field: 'label', message: 'must not contain control characters' },
    ]);
  });

  it('says a GUID is required when it is missing or blank', () => {
    expect(parseGuid('  ', 'customerId')).toEqual({
      ok: false,
      problems: [{ field: 'customerId', message: 'is required and must be a GUID' }],
    });
  });
});
