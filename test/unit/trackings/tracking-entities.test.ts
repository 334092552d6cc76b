import { describe, expect, it } from 'vitest';
import {
  batchSummarySchema,
  notificationStatusSchema,
  type TrackingRecord,
  trackingErrorSchema,
} from '../../../shared/trackings/model.js';
import {
  ALL_PARTITION,
  CorruptTrackingError,
  customerPartition,
  DUE_PARTITION,
  dueRowKey,
  dueUpperBound,
  fromRecordEntity,
  isListRowKey,
  listRowKey,
  normalizeUpstreamTime,
  parseDueRowKey,
  type StoredTracking,
  toRecordEntity,
  trackingTableNames,
} from '../../../shared/trackings/tracking-entities.js';

// Each id holds 0, 9, a, f and '-': the ends of every range of the row key's character class.
const C = '0a9f1b2c-3d4e-4f50-9a6b-7c8d9e0f1a2b';
const T = 'f9a0e1d2-c3b4-4a59-8f07-6e5d4c3b2a10';
const KEY = { customerId: C, trackingId: T };
const MAX_MS = 10 ** 15 - 1;
const JULY_25 = Date.parse('2017-07-25T10:00:00.000Z'); // 1500976800000
const ETAG = 'W/"datetime\'2025-01-01T00%3A20%3A00.0000000Z\'"';

const LAST_ERROR = trackingErrorSchema.parse({
  at: '2025-01-01T00:10:00.000Z',
  message: 'Partner Center answered 503',
  status: 503,
  code: 'ServiceUnavailable',
  failure: 'http',
  requestId: 'req-1',
});
const SUMMARY = batchSummarySchema.parse({
  devices: 2,
  byStatus: { finished: 1, finished_with_errors: 1 },
  errors: [{ code: '808', name: 'ZtdDeviceAssignedToOtherTenant', count: 1, remedy: 'Ask the other tenant' }],
});
const NOTIFICATION = notificationStatusSchema.parse({
  state: 'failed',
  attempts: 2,
  lastError: 'HTTP 500',
  eventId: 'evt-1',
  createdAt: '2025-01-01T00:30:00.000Z',
  queuedAt: '2025-01-01T00:30:01.000Z',
  receivers: [{ url: 'https://hooks.example.com/a', state: 'failed', attempts: 2, lastError: 'HTTP 500' }],
});

const FULL_RECORD: TrackingRecord = {
  customerId: C,
  trackingId: T,
  label: 'Upload job 7',
  state: 'finished_with_errors',
  upstreamStatus: 'finished_with_errors',
  registeredAt: '2025-01-01T00:00:00.000Z',
  lastCheckedAt: '2025-01-01T00:20:00.000Z',
  nextCheckAt: '2025-01-01T00:25:00.000Z',
  checks: 3,
  startedTime: '2025-01-01T00:01:00.000Z',
  completedTime: '2025-01-01T00:19:00.000Z',
  lastError: LAST_ERROR,
  summary: SUMMARY,
  notification: NOTIFICATION,
};
const FULL_STORED: Omit<StoredTracking, 'etag'> = {
  record: FULL_RECORD,
  resultBlob: `results/${C}/${T}.json`,
  firstNotFoundAt: '2025-01-01T00:05:00.000Z',
  cancelledAt: '2025-01-01T00:21:00.000Z',
};
const MINIMAL_RECORD: TrackingRecord = {
  customerId: C,
  trackingId: T,
  state: 'pending',
  registeredAt: '2025-01-01T00:00:00.000Z',
  checks: 0,
};

/** A minimal stored entity as Table storage gives it back, with `fields` changed. */
function storedEntity(fields: Record<string, unknown>): Record<string, unknown> {
  return { ...toRecordEntity({ record: MINIMAL_RECORD }), etag: ETAG, ...fields };
}

function readError(entity: unknown): CorruptTrackingError {
  try {
    fromRecordEntity(KEY, entity);
  } catch (error) {
    if (error instanceof CorruptTrackingError) return error;
    throw error;
  }
  throw new Error('fromRecordEntity did not throw');
}

const PREFIX = `The stored tracking ${C}/${T} cannot be read: `;

describe('table layout', () => {
  it('names the three tables after the prefix', () => {
    expect(trackingTableNames('pfx')).toEqual({
      trackings: 'pfxTrackings',
      due: 'pfxTrackingsDue',
      list: 'pfxTrackingsByTime',
    });
    expect(trackingTableNames('')).toEqual({
      trackings: 'Trackings',
      due: 'TrackingsDue',
      list: 'TrackingsByTime',
    });
  });

  it('names the partitions: due, all and one per customer', () => {
    expect(DUE_PARTITION).toBe('due');
    expect(ALL_PARTITION).toBe('all');
    expect(customerPartition(C)).toBe(`c_${C}`);
  });
});

describe('dueRowKey', () => {
  it('pads the due time to 15 digits before the customer and tracking ids', () => {
    expect(dueRowKey(KEY, JULY_25)).toBe(`001500976800000_${C}_${T}`);
    expect(dueRowKey(KEY, 0)).toBe(`000000000000000_${C}_${T}`);
    expect(dueRowKey(KEY, 7)).toBe(`000000000000007_${C}_${T}`);
  });

  it('drops fractions of a millisecond', () => {
    expect(dueRowKey(KEY, JULY_25 + 0.999)).toBe(`001500976800000_${C}_${T}`);
    expect(dueRowKey(KEY, 1.5)).toBe(`000000000000001_${C}_${T}`);
  });

  it('clamps times below 0 and above the 15-digit maximum', () => {
    expect(dueRowKey(KEY, -1)).toBe(`000000000000000_${C}_${T}`);
    expect(dueRowKey(KEY, -0.5)).toBe(`000000000000000_${C}_${T}`);
    expect(dueRowKey(KEY, MAX_MS - 1)).toBe(`999999999999998_${C}_${T}`);
    expect(dueRowKey(KEY, MAX_MS)).toBe(`999999999999999_${C}_${T}`);
    expect(dueRowKey(KEY, MAX_MS + 1)).toBe(`999999999999999_${C}_${T}`);
    expect(dueRowKey(KEY, 10 ** 16)).toBe(`999999999999999_${C}_${T}`);
  });

  it('sorts earlier due times first', () => {
    expect(dueRowKey(KEY, 9) < dueRowKey(KEY, 10)).toBe(true);
    expect(dueRowKey(KEY, JULY_25) < dueRowKey(KEY, JULY_25 + 1)).toBe(true);
  });
});

describe('dueUpperBound', () => {
  it('is the padded time one millisecond after now, so entries due exactly now are included', () => {
    expect(dueUpperBound(JULY_25)).toBe('001500976800001');
    expect(dueUpperBound(0)).toBe('000000000000001');
    expect(dueRowKey(KEY, JULY_25) < dueUpperBound(JULY_25)).toBe(true);
    expect(dueRowKey(KEY, JULY_25 + 1) < dueUpperBound(JULY_25)).toBe(false);
  });

  it('is clamped like the row keys', () => {
    expect(dueUpperBound(-5)).toBe('000000000000000');
    expect(dueUpperBound(MAX_MS)).toBe('999999999999999');
    expect(dueUpperBound(MAX_MS - 1)).toBe('999999999999999');
    expect(dueUpperBound(MAX_MS - 2)).toBe('999999999999998');
  });
});

describe('listRowKey', () => {
  it('pads the maximum time minus the registration time to 15 digits', () => {
    expect(listRowKey(KEY, JULY_25)).toBe(`998499023199999_${C}_${T}`);
    expect(listRowKey(KEY, 0)).toBe(`999999999999999_${C}_${T}`);
    expect(listRowKey(KEY, 1)).toBe(`999999999999998_${C}_${T}`);
    expect(listRowKey(KEY, MAX_MS)).toBe(`000000000000000_${C}_${T}`);
    expect(listRowKey(KEY, MAX_MS - 10)).toBe(`000000000000010_${C}_${T}`);
  });

  it('drops fractions and clamps like the due keys', () => {
    expect(listRowKey(KEY, JULY_25 + 0.5)).toBe(`998499023199998_${C}_${T}`);
    expect(listRowKey(KEY, -1)).toBe(`999999999999999_${C}_${T}`);
    expect(listRowKey(KEY, MAX_MS + 1)).toBe(`000000000000000_${C}_${T}`);
  });

  it('sorts later registrations first', () => {
    expect(listRowKey(KEY, JULY_25 + 1) < listRowKey(KEY, JULY_25)).toBe(true);
    expect(listRowKey(KEY, JULY_25) < listRowKey(KEY, JULY_25 - 1)).toBe(true);
  });
});

describe('isListRowKey and parseDueRowKey', () => {
  const time = '001500976800000';

  it('accept 15 digits, a lower-case GUID and a GUID joined by underscores', () => {
    expect(isListRowKey(`${time}_${C}_${T}`)).toBe(true);
    expect(isListRowKey(listRowKey(KEY, JULY_25))).toBe(true);
    expect(isListRowKey(`999999999999999_${T}_${C}`)).toBe(true);
    expect(parseDueRowKey(`${time}_${C}_${T}`)).toStrictEqual({
      rowKey: `${time}_${C}_${T}`,
      dueMs: JULY_25,
      key: { customerId: C, trackingId: T },
    });
    expect(parseDueRowKey(`999999999999999_${T}_${C}`)).toStrictEqual({
      rowKey: `999999999999999_${T}_${C}`,
      dueMs: MAX_MS,
      key: { customerId: T, trackingId: C },
    });
  });

  it('read back what dueRowKey wrote', () => {
    expect(parseDueRowKey(dueRowKey(KEY, 0))).toStrictEqual({
      rowKey: `000000000000000_${C}_${T}`,
      dueMs: 0,
      key: KEY,
    });
    expect(parseDueRowKey(dueRowKey(KEY, JULY_25))?.dueMs).toBe(JULY_25);
  });

  it.each([
    ['14 digits', `01500976800000_${C}_${T}`],
    ['16 digits', `0001500976800000_${C}_${T}`],
    ['a letter among the digits', `00150097680000a_${C}_${T}`],
    ['an upper-case customer id', `${time}_${C.toUpperCase()}_${T}`],
    ['an upper-case tracking id', `${time}_${C}_${T.toUpperCase()}`],
    ['a non-hex letter in the customer id', `${time}_g${C.slice(1)}_${T}`],
    ['a non-hex letter in the tracking id', `${time}_${C}_${T.slice(0, -1)}g`],
    ['a 35-character customer id', `${time}_${C.slice(1)}_${T}`],
    ['a 37-character customer id', `${time}_0${C}_${T}`],
    ['a 35-character tracking id', `${time}_${C}_${T.slice(1)}`],
    ['a 37-character tracking id', `${time}_${C}_${T}0`],
    ['no tracking id', `${time}_${C}`],
    ['an empty tracking id', `${time}_${C}_`],
    ['no customer id', `${time}_${T}`],
    ['no time', `${C}_${T}`],
    ['dashes instead of underscores', `${time}-${C}-${T}`],
    ['a leading extra character', `x${time}_${C}_${T}`],
    ['a trailing extra character', `${time}_${C}_${T}x`],
    ['a trailing newline', `${time}_${C}_${T}\n`],
    ['nothing', ''],
  ])('refuse a key with %s', (_, rowKey) => {
    expect(isListRowKey(rowKey)).toBe(false);
    expect(parseDueRowKey(rowKey)).toBeUndefined();
  });
});

describe('toRecordEntity', () => {
  it('writes every field, nested values as JSON', () => {
    expect(toRecordEntity(FULL_STORED)).toStrictEqual({
      partitionKey: C,
      rowKey: T,
      v: 1,
      state: 'finished_with_errors',
      registeredAt: '2025-01-01T00:00:00.000Z',
      checks: 3,
      label: 'Upload job 7',
      upstreamStatus: 'finished_with_errors',
      lastCheckedAt: '2025-01-01T00:20:00.000Z',
      nextCheckAt: '2025-01-01T00:25:00.000Z',
      startedTime: '2025-01-01T00:01:00.000Z',
      completedTime: '2025-01-01T00:19:00.000Z',
      lastError:
        '{"at":"2025-01-01T00:10:00.000Z","message":"Partner Center answered 503","status":503,' +
        '"code":"ServiceUnavailable","failure":"http","requestId":"req-1"}',
      summary:
        '{"devices":2,"byStatus":{"finished":1,"finished_with_errors":1},' +
        '"errors":[{"code":"808","name":"ZtdDeviceAssignedToOtherTenant","count":1,"remedy":"Ask the other tenant"}]}',
      notification:
        '{"state":"failed","attempts":2,"lastError":"HTTP 500","eventId":"evt-1",' +
        '"createdAt":"2025-01-01T00:30:00.000Z","queuedAt":"2025-01-01T00:30:01.000Z",' +
        '"receivers":[{"url":"https://hooks.example.com/a","state":"failed","attempts":2,"lastError":"HTTP 500"}]}',
      resultBlob: `results/${C}/${T}.json`,
      firstNotFoundAt: '2025-01-01T00:05:00.000Z',
      cancelledAt: '2025-01-01T00:21:00.000Z',
    });
  });

  it('writes only the required fields of a minimal record, with no undefined properties', () => {
    const entity = toRecordEntity({ record: MINIMAL_RECORD });
    expect(entity).toStrictEqual({
      partitionKey: C,
      rowKey: T,
      v: 1,
      state: 'pending',
      registeredAt: '2025-01-01T00:00:00.000Z',
      checks: 0,
    });
    expect(Object.keys(entity)).toEqual(['partitionKey', 'rowKey', 'v', 'state', 'registeredAt', 'checks']);
  });

  it('keeps an empty label, which is set, not absent', () => {
    expect(toRecordEntity({ record: { ...MINIMAL_RECORD, label: '' } }).label).toBe('');
  });
});

describe('fromRecordEntity', () => {
  it('reads back exactly what toRecordEntity wrote, with the etag', () => {
    const entity = { ...toRecordEntity(FULL_STORED), etag: ETAG };
    expect(fromRecordEntity(KEY, entity)).toStrictEqual({ ...FULL_STORED, etag: ETAG });
  });

  it('reads back a minimal record without undefined properties', () => {
    const stored = fromRecordEntity(KEY, storedEntity({}));
    expect(stored).toStrictEqual({ record: MINIMAL_RECORD, etag: ETAG });
    expect(Object.keys(stored)).toEqual(['record', 'etag']);
    expect(Object.keys(stored.record)).toEqual([
      'customerId',
      'trackingId',
      'state',
      'registeredAt',
      'checks',
    ]);
  });

  it("ignores the table's own properties and the schema version", () => {
    expect(
      fromRecordEntity(KEY, storedEntity({ timestamp: '2025-01-01T00:20:00.1234567Z', v: 2 })),
    ).toStrictEqual({ record: MINIMAL_RECORD, etag: ETAG });
  });

  it('throws a CorruptTrackingError naming the key it was given', () => {
    const error = readError(storedEntity({ state: undefined }));
    expect(error).toBeInstanceOf(CorruptTrackingError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('CorruptTrackingError');
    expect(error.key).toBe(KEY);
    expect(error.message.startsWith(PREFIX)).toBe(true);
  });

  it('lists the path and the reason of an invalid field', () => {
    expect(readError(storedEntity({ state: undefined })).message).toBe(
      `${PREFIX}state: Invalid option: expected one of "pending"|"finished"|"finished_with_errors"|"expired"|"not_found"|"cancelled"`,
    );
    expect(readError(storedEntity({ state: 'done' })).message).toBe(
      `${PREFIX}state: Invalid option: expected one of "pending"|"finished"|"finished_with_errors"|"expired"|"not_found"|"cancelled"`,
    );
    expect(readError(storedEntity({ etag: undefined })).message).toBe(
      `${PREFIX}etag: Invalid input: expected string, received undefined`,
    );
  });

  it('lists every invalid field, separated by commas', () => {
    expect(readError(storedEntity({ registeredAt: 'yesterday', checks: -1 })).message).toBe(
      `${PREFIX}registeredAt: Invalid ISO datetime, checks: Too small: expected number to be >=0`,
    );
  });

  it('refuses something that is not an entity', () => {
    expect(readError(null).message).toBe(`${PREFIX}: Invalid input: expected object, received null`);
  });

  it.each(['lastError', 'summary', 'notification'])('refuses %s that is not JSON', (field) => {
    expect(() => fromRecordEntity(KEY, storedEntity({ [field]: '{not json' }))).toThrow(
      new CorruptTrackingError(KEY, `${field} is not JSON`),
    );
    expect(readError(storedEntity({ [field]: '{not json' })).message).toBe(`${PREFIX}${field} is not JSON`);
  });

  it.each(['lastError', 'summary', 'notification'])('refuses %s of an unexpected shape', (field) => {
    expect(readError(storedEntity({ [field]: '{"unexpected":true}' })).message).toBe(
      `${PREFIX}${field} is unexpected shape`,
    );
    expect(readError(storedEntity({ [field]: 'null' })).message).toBe(
      `${PREFIX}${field} is unexpected shape`,
    );
  });

  it('reports lastError first, then summary, then notification', () => {
    expect(readError(storedEntity({ lastError: 'x', summary: 'x', notification: 'x' })).message).toBe(
      `${PREFIX}lastError is not JSON`,
    );
    expect(readError(storedEntity({ summary: 'x', notification: 'x' })).message).toBe(
      `${PREFIX}summary is not JSON`,
    );
  });
});

describe('normalizeUpstreamTime', () => {
  it('keeps a UTC time, upper or lower case Z, as ISO 8601 with milliseconds', () => {
    expect(normalizeUpstreamTime('2017-07-25T10:00:00Z')).toBe('2017-07-25T10:00:00.000Z');
    expect(normalizeUpstreamTime('2017-07-25T10:00:00z')).toBe('2017-07-25T10:00:00.000Z');
    expect(normalizeUpstreamTime('2017-07-25T10:00:00.123Z')).toBe('2017-07-25T10:00:00.123Z');
  });

  it('reads a time without a zone as UTC', () => {
    expect(normalizeUpstreamTime('2017-07-25T10:00:00')).toBe('2017-07-25T10:00:00.000Z');
    expect(normalizeUpstreamTime('2017-07-25T10:00:00.5')).toBe('2017-07-25T10:00:00.500Z');
  });

  it('converts an offset, with or without the colon, to UTC', () => {
    expect(normalizeUpstreamTime('2017-07-25T10:00:00+02:00')).toBe('2017-07-25T08:00:00.000Z');
    expect(normalizeUpstreamTime('2017-07-25T10:00:00+0200')).toBe('2017-07-25T08:00:00.000Z');
    expect(normalizeUpstreamTime('2017-07-25T10:00:00-05:30')).toBe('2017-07-25T15:30:00.000Z');
    expect(normalizeUpstreamTime('2017-07-25T10:00:00-0530')).toBe('2017-07-25T15:30:00.000Z');
  });

  it('trims surrounding whitespace', () => {
    expect(normalizeUpstreamTime('  2017-07-25T10:00:00Z\n')).toBe('2017-07-25T10:00:00.000Z');
    expect(normalizeUpstreamTime(' 2017-07-25T10:00:00 ')).toBe('2017-07-25T10:00:00.000Z');
  });

  it('accepts up to 40 characters, counted after trimming', () => {
    const forty = '2017-07-25T10:00:00.12345678901234+02:00';
    expect(forty.length).toBe(40);
    expect(normalizeUpstreamTime(forty)).toBe('2017-07-25T08:00:00.123Z');
    expect(normalizeUpstreamTime(`   ${forty}   `)).toBe('2017-07-25T08:00:00.123Z');
    const fortyOne = '2017-07-25T10:00:00.123456789012345+02:00';
    expect(fortyOne.length).toBe(41);
    expect(normalizeUpstreamTime(fortyOne)).toBeUndefined();
  });

  it('accepts 1970 and later, and drops earlier years', () => {
    expect(normalizeUpstreamTime('1970-01-01T00:00:00Z')).toBe('1970-01-01T00:00:00.000Z');
    expect(normalizeUpstreamTime('1970-01-01T00:00:00')).toBe('1970-01-01T00:00:00.000Z');
    expect(normalizeUpstreamTime('1969-12-31T23:59:59.999Z')).toBeUndefined();
    expect(normalizeUpstreamTime('1900-06-01T00:00:00')).toBeUndefined();
    expect(normalizeUpstreamTime('0001-01-01T00:00:00')).toBeUndefined();
  });

  it('drops empty, blank and unparseable values', () => {
    expect(normalizeUpstreamTime(undefined)).toBeUndefined();
    expect(normalizeUpstreamTime('')).toBeUndefined();
    expect(normalizeUpstreamTime('   ')).toBeUndefined();
    expect(normalizeUpstreamTime('yesterday')).toBeUndefined();
    expect(normalizeUpstreamTime('2017-13-45T10:00:00Z')).toBeUndefined();
    expect(normalizeUpstreamTime('Z')).toBeUndefined();
  });

  it('appends Z when the zone is not at the very end, so trailing text makes it unparseable', () => {
    // Date.parse alone reads this as 20:00Z; with the Z appended it is not a time.
    expect(normalizeUpstreamTime('Tue, 25 Jul 2017 10:00:00 +0200 PM')).toBeUndefined();
    expect(normalizeUpstreamTime('2017-07-25T10:00:00+02:00 x')).toBeUndefined();
  });
});
