import type { BatchUploadDetails } from '../partner-center/model.js';
import { describeDeviceError, UNSPECIFIED_ERROR } from './device-errors.js';
import type { BatchSummary, DeviceErrorCount } from './model.js';

/**
 * Distinct statuses / error codes kept in a summary. Real batches have a handful; the bound keeps a
 * hostile or broken answer from growing the stored record past a table property's 64 KiB.
 */
const MAX_DISTINCT = 50;
const MAX_KEY_LENGTH = 100;
const OTHER = 'other';

/** Device statuses that mean the device failed even when it carries no error code. */
const FAILED_DEVICE_STATUS = /error|fail/i;

/**
 * Device-level counts of a batch. A `finished` batch may contain failed devices (the docs' own
 * example does), so the devices are always read, never the batch status alone.
 */
export function summarizeBatch(details: BatchUploadDetails): BatchSummary {
  const devices = details.devicesStatus ?? [];
  const byStatus = new Map<string, number>();
  const errors = new Map<string, DeviceErrorCount>();

  for (const device of devices) {
    const status = bounded(device.status?.trim() || 'unknown');
    const statusKey = byStatus.has(status) || byStatus.size < MAX_DISTINCT ? status : OTHER;
    byStatus.set(statusKey, (byStatus.get(statusKey) ?? 0) + 1);

    const info =
      describeDeviceError(device.errorCode, device.errorDescription) ??
      (FAILED_DEVICE_STATUS.test(status) ? UNSPECIFIED_ERROR : undefined);
    if (!info) continue;
    const existing = errors.get(info.code);
    if (existing) {
      existing.count += 1;
    } else if (errors.size < MAX_DISTINCT) {
      errors.set(info.code, { code: info.code, name: info.name, count: 1, remedy: info.remedy });
    } else {
      const other = errors.get(OTHER) ?? {
        code: OTHER,
        name: 'Other',
        count: 0,
        remedy: UNSPECIFIED_ERROR.remedy,
      };
      other.count += 1;
      errors.set(OTHER, other);
    }
  }

  return {
    devices: devices.length,
    byStatus: Object.fromEntries(byStatus),
    errors: [...errors.values()].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)),
  };
}

function bounded(value: string): string {
  return value.length > MAX_KEY_LENGTH ? value.slice(0, MAX_KEY_LENGTH) : value;
}
