/**
 * Per-device error codes of a device batch upload (reference/partner-center-batch-status.md). The
 * numbered list comes from a draft Microsoft page, so unknown codes are kept exactly as they came,
 * with a generic remedy.
 */

export interface DeviceErrorInfo {
  /** The number as a string when one is known, otherwise the name. */
  code: string;
  name: string;
  remedy: string;
  known: boolean;
}

interface CatalogueEntry {
  code?: string;
  name: string;
  remedy: string;
}

const CATALOGUE: readonly CatalogueEntry[] = [
  {
    code: '801',
    name: 'InvalidZtdRequestBody',
    remedy:
      'The upload entry for this device is malformed. Check its fields (hardware hash, serial number, product key) and upload it again.',
  },
  {
    code: '802',
    name: 'InvalidZtdHardwareHash',
    remedy:
      'The hardware hash is invalid. Recapture it on the device (Get-WindowsAutopilotInfo) and upload it again.',
  },
  {
    code: '803',
    name: 'MissingZtdSerialNumberAndProductKey',
    remedy:
      'The device needs a serial number or a product key (with the manufacturer and model). Add one and upload it again.',
  },
  {
    code: '806',
    name: 'ZtdDeviceAlreadyAssigned',
    remedy: 'The device is already registered to this customer. Nothing to do.',
  },
  {
    code: '807',
    name: 'ZtdDeviceIsNotRegistered',
    remedy: 'The device is not registered. Upload it to the customer first, then repeat the operation.',
  },
  {
    code: '808',
    name: 'ZtdDeviceAssignedToOtherTenant',
    remedy:
      'The device is registered to another tenant. That tenant (or the OEM or reseller that registered it) must deregister it before it can be uploaded here.',
  },
  {
    code: '809',
    name: 'ZtdProfileIsNotRegistered',
    remedy:
      'The deployment profile is not registered. Create the profile for the customer, or pick an existing one, and assign it again.',
  },
  {
    code: '810',
    name: 'ZtdProfileAssignedToOtherTenant',
    remedy: "The deployment profile belongs to another tenant. Use one of this customer's profiles.",
  },
  {
    code: '811',
    name: 'ZtdDeviceRegisteredByOtherTenant',
    remedy:
      'The device was registered by another tenant. Ask that tenant (or its partner) to deregister it, then upload it again.',
  },
  {
    code: '812',
    name: 'ZtdDeviceNotFound',
    remedy:
      'No device matches the given identifiers. Check the hardware hash, serial number and product key.',
  },
  {
    code: '813',
    name: 'ZtdDeviceIsNotUnique',
    remedy:
      'The identifiers match more than one device. Upload the device with its hardware hash so that it is identified uniquely.',
  },
  {
    code: '814',
    name: 'ZtdDeviceAlreadyAadRegistered',
    remedy:
      'The device is already registered in Microsoft Entra ID. Remove that registration (or use it) before uploading it for Autopilot.',
  },
  {
    name: 'HashNot4k',
    remedy:
      'The hardware hash is not a 4K hash. Recapture it with a current Windows version or tool and upload it again.',
  },
  {
    name: 'ZtdDeviceDuplicated',
    remedy:
      'The same hardware hash appears more than once in the upload. Remove the duplicate entries and upload again.',
  },
  {
    name: 'StorageError',
    remedy: 'A transient failure inside Partner Center. Upload the device again later.',
  },
];

const BY_CODE = new Map(CATALOGUE.filter((e) => e.code).map((e) => [e.code as string, e]));
const BY_NAME = new Map(CATALOGUE.map((e) => [e.name.toLowerCase(), e]));

/** Longest code or name kept from upstream; anything longer is not a code. */
const MAX_CODE_LENGTH = 100;

export const UNKNOWN_ERROR_REMEDY =
  'Partner Center reported an error this service does not know. Look the code up in the Partner Center documentation, or open a support request with the batch tracking id.';

export const UNSPECIFIED_ERROR: DeviceErrorInfo = {
  code: 'unspecified',
  name: 'Unspecified',
  remedy:
    'Partner Center marked the device as failed without an error code. Upload the device again; if it fails again, open a support request with the batch tracking id.',
  known: false,
};

function entryFor(value: string | undefined): CatalogueEntry | undefined {
  if (!value) return undefined;
  return BY_CODE.get(value) ?? BY_NAME.get(value.toLowerCase());
}

function clean(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed.slice(0, MAX_CODE_LENGTH) : undefined;
}

/**
 * Looks a device error up by its code (`"808"`) or by its name (what `errorDescription` carries),
 * either argument being enough. Returns undefined when the device reported neither.
 */
export function describeDeviceError(
  errorCode?: string,
  errorDescription?: string,
): DeviceErrorInfo | undefined {
  const code = clean(errorCode);
  const description = clean(errorDescription);
  if (!code && !description) return undefined;
  const entry = entryFor(code) ?? entryFor(description);
  if (entry) return { code: entry.code ?? entry.name, name: entry.name, remedy: entry.remedy, known: true };
  return {
    code: code ?? (description as string),
    name: description ?? code ?? 'Unknown',
    remedy: UNKNOWN_ERROR_REMEDY,
    known: false,
  };
}

/** Every known code, for documentation and tests. */
export function deviceErrorCatalogue(): DeviceErrorInfo[] {
  return CATALOGUE.map((e) => ({ code: e.code ?? e.name, name: e.name, remedy: e.remedy, known: true }));
}
