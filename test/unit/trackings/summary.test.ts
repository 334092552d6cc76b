import { describe, expect, it } from 'vitest';
import {
  describeDeviceError,
  deviceErrorCatalogue,
  UNKNOWN_ERROR_REMEDY,
} from '../../../shared/trackings/device-errors.js';
import { summarizeBatch } from '../../../shared/trackings/summary.js';

describe('describeDeviceError', () => {
  it('knows every code of the reference table, by code and by name', () => {
    const catalogue = deviceErrorCatalogue();
    expect(catalogue.map((e) => e.code)).toEqual([
      '801',
      '802',
      '803',
      '806',
      '807',
      '808',
      '809',
      '810',
      '811',
      '812',
      '813',
      '814',
      'HashNot4k',
      'ZtdDeviceDuplicated',
      'StorageError',
    ]);
    for (const entry of catalogue) {
      expect(entry.remedy.length).toBeGreaterThan(20);
      expect(describeDeviceError(entry.code)).toEqual(entry);
      expect(describeDeviceError(undefined, entry.name)).toEqual(entry);
      expect(describeDeviceError(undefined, entry.name.toLowerCase())).toEqual(entry);
    }
    expect(describeDeviceError('808', 'ZtdDeviceAssignedToOtherTenant')).toMatchObject({
      code: '808',
      name: 'ZtdDeviceAssignedToOtherTenant',
      remedy: expect.stringContaining('deregister'),
      known: true,
    });
  });

  it('keeps unknown codes as they came, with a generic remedy', () => {
    expect(describeDeviceError('999', 'ZtdSomethingNew')).toEqual({
      code: '999',
      name: 'ZtdSomethingNew',
      remedy: UNKNOWN_ERROR_REMEDY,
      known: false,
    });
    expect(describeDeviceError(undefined, 'OnlyAName')).toMatchObject({
      code: 'OnlyAName',
      name: 'OnlyAName',
      known: false,
    });
    expect(describeDeviceError(' ', '')).toBeUndefined();
    // What a caller is told to do with a code nobody knows yet.
    expect(UNKNOWN_ERROR_REMEDY).toBe(
      'Partner Center reported an error this service does not know. Look the code up in the Partner Center documentation, or open a support request with the batch tracking id.',
    );
  });
});

describe('summarizeBatch', () => {
  it('counts the failed device of a batch that is finished (the docs example)', () => {
    const summary = summarizeBatch({
      status: 'finished',
      devicesStatus: [
        {
          serialNumber: '1234567890',
          status: 'finished_with_errors',
          errorCode: '808',
          errorDescription: 'ZtdDeviceAssignedToOtherTenant',
        },
      ],
    });
    expect(summary).toEqual({
      devices: 1,
      byStatus: { finished_with_errors: 1 },
      errors: [
        {
          code: '808',
          name: 'ZtdDeviceAssignedToOtherTenant',
          count: 1,
          remedy: expect.stringContaining('deregister'),
        },
      ],
    });
  });

  it('has no errors when every device succeeded, and handles a missing device list', () => {
    expect(
      summarizeBatch({ status: 'finished', devicesStatus: [{ status: 'finished' }, { status: 'finished' }] }),
    ).toEqual({
      devices: 2,
      byStatus: { finished: 2 },
      errors: [],
    });
    expect(summarizeBatch({ status: 'finished' })).toEqual({ devices: 0, byStatus: {}, errors: [] });
  });

  it('groups codes and names together, most frequent first, and counts failures without a code', () => {
    const summary = summarizeBatch({
      status: 'finished_with_errors',
      devicesStatus: [
        { status: 'finished_with_errors', errorCode: '808' },
        { status: 'finished_with_errors', errorDescription: 'ZtdDeviceAssignedToOtherTenant' },
        { status: 'finished_with_errors', errorCode: 'HashNot4k', errorDescription: 'HashNot4k' },
        { status: 'finished_with_errors' },
        { status: 'finished' },
        {},
      ],
    });
    expect(summary.devices).toBe(6);
    expect(summary.byStatus).toEqual({ finished_with_errors: 4, finished: 1, unknown: 1 });
    expect(summary.errors.map((e) => [e.code, e.count])).toEqual([
      ['808', 2],
      ['HashNot4k', 1],
      ['unspecified', 1],
    ]);
    // A failed device without any code still tells the caller what to do.
    expect(summary.errors.find((e) => e.code === 'unspecified')).toStrictEqual({
      code: 'unspecified',
      name: 'Unspecified',
      remedy:
        'Partner Center marked the device as failed without an error code. Upload the device again; if it fails again, open a support request with the batch tracking id.',
      count: 1,
    });
  });

  it('counts a status as Partner Center meant it: padding trimmed, an empty one as unknown', () => {
    const summary = summarizeBatch({
      status: 'finished',
      devicesStatus: [{ status: ' finished ' }, { status: 'finished' }, { status: '  ' }],
    });
    expect(summary.byStatus).toStrictEqual({ finished: 2, unknown: 1 });
  });

  it('orders by count first, then by code, whatever order the devices came in', () => {
    const summary = summarizeBatch({
      status: 'finished_with_errors',
      devicesStatus: [
        { status: 'failed', errorCode: 'HashNot4k' },
        { status: 'failed' },
        { status: 'failed', errorCode: '808' },
        { status: 'failed' },
        { status: 'failed' },
      ],
    });
    expect(summary.errors.map((e) => [e.code, e.count])).toEqual([
      ['unspecified', 3],
      ['808', 1],
      ['HashNot4k', 1],
    ]);
  });

  it('counts codes past the 50th as one "Other" entry, and cuts a long status to 100 characters', () => {
    const devicesStatus = [
      ...Array.from({ length: 52 }, (_, i) => ({ status: 'failed', errorCode: `E${i}` })),
      { status: 's'.repeat(150) },
    ];
    const summary = summarizeBatch({ status: 'finished', devicesStatus });
    expect(summary.errors).toHaveLength(51);
    expect(summary.errors.find((e) => e.code === 'other')).toMatchObject({ name: 'Other', count: 2 });
    expect(summary.byStatus).toEqual({ failed: 52, ['s'.repeat(100)]: 1 });
  });

  it('stays bounded whatever upstream sends', () => {
    const devicesStatus = Array.from({ length: 5000 }, (_, i) => ({
      status: `s${i}`,
      errorCode: `E${i}`.padEnd(500, 'x'),
    }));
    const summary = summarizeBatch({ status: 'finished', devicesStatus });
    expect(summary.devices).toBe(5000);
    expect(Object.keys(summary.byStatus).length).toBeLessThanOrEqual(51);
    expect(summary.errors.length).toBeLessThanOrEqual(51);
    expect(summary.errors.reduce((n, e) => n + e.count, 0)).toBe(5000);
    expect(JSON.stringify(summary).length).toBeLessThan(30_000);
  });
});
