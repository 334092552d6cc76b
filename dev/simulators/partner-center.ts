import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { AccessTokenClaims, EntraSimulator } from './entra.js';
import {
  BodyTooLargeError,
  bump,
  FailureQueue,
  GUID_PATTERN,
  HttpsSimulator,
  header,
  newGuid,
  parseRequestUrl,
  pause,
  readBody,
  sendJson,
} from './https-server.js';
import type { TlsMaterial } from './tls.js';

/**
 * Partner Center simulator: `GET /v1/customers/{customerId}/batchJobStatus/{trackingId}`.
 *
 * - The path literals and the ids match case-insensitively (the docs write `batchjobstatus`).
 * - A bearer token from the Entra simulator with `aud` `https://api.partnercenter.microsoft.com`
 *   (and the partner tenant, when one is configured) is required; otherwise `401` with
 *   `WWW-Authenticate: OAuth realm=urn:cpsvc:cpid:{id}` and the ordinary error body.
 * - Every answer echoes `MS-CorrelationId` and `MS-RequestId` (generated when absent) and carries
 *   `MS-CV` and `MS-ServerId`. Errors use the ordinary body `{ code, description, data: [], source:
 *   "PartnerFD" }`, except 429 which has `{ statusCode: 429, message }` and `Retry-After` (seconds).
 * - Seeded with the docs' example batch, byte for byte (see {@link DOCS_EXAMPLE_BATCH}).
 * - Injected faults hit matching status calls before authentication. Only answered `200`s count
 *   as "status calls" for batches that advance by calls, so a throttled retry does not skip a step.
 *
 * Admin API (JSON over the same HTTPS server, no auth, for `npm run dev` and out-of-process tests):
 * ```
 * POST   /_sim/batches   body CreateBatchOptions             -> 201 CreatedBatch
 * GET    /_sim/batches                                       -> 200 [{ customerId, trackingId, status, calls }]
 * POST   /_sim/faults    body { fault, times?, trackingId? } -> 201 { queued: n }
 * DELETE /_sim/faults                                        -> 204
 * GET    /_sim/counters                                      -> 200 PartnerCenterCounters
 * GET    /_sim/requests                                      -> 200 RecordedRequest[]
 * POST   /_sim/reset     body { batches?: boolean }          -> 204 (counters, faults, log; batches too if asked)
 * ```
 * Admin calls are neither counted nor logged and are never hit by injected faults.
 */

/** The docs' example customer (a customer's Entra tenant id). */
export const DOCS_EXAMPLE_CUSTOMER_ID = '47021739-3426-40bf-9601-61b4b6d7c793';
/** The docs' example batch tracking id. */
export const DOCS_EXAMPLE_TRACKING_ID = '0127ed8e-ff72-4983-a3d8-e8d8bd378932';
/** The docs' example response body, with the docs' field order. */
export const DOCS_EXAMPLE_BATCH = {
  batchTrackingId: DOCS_EXAMPLE_TRACKING_ID,
  status: 'finished',
  startedTime: '2017-07-25T10:00:00',
  completedTime: '2017-07-25T10:10:00',
  devicesStatus: [
    {
      serialNumber: '1234567890',
      productKey: '12345-67890-09876-54321-13579',
      status: 'finished_with_errors',
      errorCode: '808',
      errorDescription: 'ZtdDeviceAssignedToOtherTenant',
      attributes: { objectType: 'DeviceUploadDetails' },
    },
  ],
  attributes: { objectType: 'BatchUploadDetails' },
} as const;

/** Device-level errors the simulator hands out (code, name), as in the reference table. */
export const DEVICE_ERRORS: readonly (readonly [code: string, name: string])[] = [
  ['808', 'ZtdDeviceAssignedToOtherTenant'],
  ['806', 'ZtdDeviceAlreadyAssigned'],
  ['802', 'InvalidZtdHardwareHash'],
  ['ZtdDeviceDuplicated', 'ZtdDeviceDuplicated'],
  ['812', 'ZtdDeviceNotFound'],
  ['801', 'InvalidZtdRequestBody'],
  ['803', 'MissingZtdSerialNumberAndProductKey'],
  ['807', 'ZtdDeviceIsNotRegistered'],
  ['809', 'ZtdProfileIsNotRegistered'],
  ['810', 'ZtdProfileAssignedToOtherTenant'],
  ['811', 'ZtdDeviceRegisteredByOtherTenant'],
  ['813', 'ZtdDeviceIsNotUnique'],
  ['814', 'ZtdDeviceAlreadyAadRegistered'],
  ['HashNot4k', 'HashNot4k'],
  ['StorageError', 'StorageError'],
];

/** One device in a created batch. Unset fields are generated. */
export interface DeviceSpec {
  deviceId?: string;
  serialNumber?: string;
  productKey?: string;
  /** Final device status; default `finished`, or `finished_with_errors` when `errorCode` is set. */
  status?: string;
  /** A ZTD code such as `"808"`; its name fills `errorDescription` when that is unset. */
  errorCode?: string;
  errorDescription?: string;
}

/** Options of {@link PartnerCenterSimulator.createBatch}. */
export interface CreateBatchOptions {
  customerId: string;
  /** Default: a new GUID. */
  trackingId?: string;
  /**
   * The devices, or how many to generate (default 5). Generated devices get realistic serial
   * numbers and product keys; every fourth fails, cycling through {@link DEVICE_ERRORS}.
   */
  devices?: DeviceSpec[] | number;
  /** Batch status once done. Default `finished` (even when devices failed, as the docs show). */
  finalStatus?: 'finished' | 'finished_with_errors';
  /** Batch statuses, one per step, the last one sticky. Default `['queued', 'processing', finalStatus]`. */
  statuses?: string[];
  /** Steps advance after this many answered status calls (default 1; 0 = done at once). */
  advanceEveryCalls?: number;
  /** Steps advance every `stepMs` of the simulator's clock instead of by calls. */
  stepMs?: number;
}

/** What {@link PartnerCenterSimulator.createBatch} made. */
export interface CreatedBatch {
  customerId: string;
  trackingId: string;
  /** As the upload calls answer it: relative, no `/v1`, no host. */
  location: string;
  devices: number;
}

/** A failure to inject into the status route. */
export type PartnerCenterFault =
  /** `429`, `Retry-After: N` (default 1) and `{ statusCode: 429, message }`. */
  | { kind: 'throttle'; retryAfterSeconds?: number }
  /** Any 4xx/5xx with the ordinary error body (`401` adds the `WWW-Authenticate` header). */
  | { kind: 'status'; status: number; code?: string; description?: string; retryAfterSeconds?: number }
  /** Waits `ms`, then answers normally. */
  | { kind: 'latency'; ms: number }
  /** Destroys the socket without answering. */
  | { kind: 'reset' }
  /** `200` with truncated JSON (default: the first 60% of the real answer). */
  | { kind: 'malformed'; body?: string }
  /** `200` with well-formed JSON that is not a BatchUploadDetails. */
  | { kind: 'unexpected-shape'; body?: unknown }
  /** `200` with a valid BatchUploadDetails of at least `bytes` bytes; `chunked` omits Content-Length. */
  | { kind: 'huge'; bytes: number; chunked?: boolean }
  /** `200` whose body never ends: `chunkBytes` (default 16 KiB) every `intervalMs` (default 5). */
  | { kind: 'endless'; chunkBytes?: number; intervalMs?: number };

/** Where and how often a fault applies. */
export interface InjectOptions {
  /** How many matching requests it hits; unset = every one until `clearFaults()`. */
  times?: number;
  /** Only requests for this tracking id. */
  trackingId?: string;
}

/** A status-route request as received (admin calls are not recorded). */
export interface RecordedRequest {
  seq: number;
  /** Simulator clock, epoch ms. */
  at: number;
  method: string;
  path: string;
  customerId?: string;
  trackingId?: string;
  /** Status answered; 0 when the connection was reset instead. */
  status: number;
  fault?: PartnerCenterFault['kind'];
  /** Lower-case names; `authorization` is redacted to its scheme. */
  headers: Record<string, string>;
}

/** Counters since start or the last `reset()`. */
export interface PartnerCenterCounters {
  /** Requests outside `/_sim/`. */
  total: number;
  /** By lower-case tracking id. */
  byTrackingId: Record<string, number>;
  /** By status answered (`"200"`, `"429"`, …; `"reset"` for a destroyed connection). */
  byStatus: Record<string, number>;
  /** `401` answers for a missing or refused token (not injected ones). */
  unauthorized: number;
  faultsInjected: number;
}

/** Options of {@link PartnerCenterSimulator}. */
export interface PartnerCenterSimulatorOptions {
  tls: TlsMaterial;
  /** Verifies bearer tokens. */
  entra: EntraSimulator;
  /** When set, only tokens of this (partner) tenant are accepted. */
  tenantId?: string;
  /** Clock for batch progress by time and for timestamps, epoch ms. Default `Date.now`. */
  now?: () => number;
  host?: string;
  /** Request log capacity (oldest dropped first). Default 10 000. */
  maxRecordedRequests?: number;
}

/** BatchUploadDetails as served. */
export interface BatchUploadDetails {
  batchTrackingId: string;
  status: string;
  startedTime?: string;
  completedTime?: string;
  devicesStatus: DeviceUploadDetails[];
  attributes: { objectType: 'BatchUploadDetails' };
}

/** DeviceUploadDetails as served. */
export interface DeviceUploadDetails {
  deviceId?: string;
  serialNumber: string;
  productKey: string;
  status: string;
  errorCode?: string;
  errorDescription?: string;
  attributes: { objectType: 'DeviceUploadDetails' };
}

type Progress = { kind: 'calls'; every: number } | { kind: 'time'; stepMs: number } | { kind: 'fixed' };

interface Batch {
  customerId: string;
  trackingId: string;
  statuses: string[];
  devices: DeviceUploadDetails[];
  progress: Progress;
  createdAt: number;
  calls: number;
  completedAt: number | undefined;
  fixedBody: unknown;
}

interface QueuedFault {
  fault: PartnerCenterFault;
  /** Lower case; `undefined` for every batch. */
  trackingId: string | undefined;
}

const AUDIENCE = 'https://api.partnercenter.microsoft.com';
const TERMINAL = new Set(['finished', 'finished_with_errors']);
const CONTENT_TYPE = 'application/json';
const REALM = 'urn:cpsvc:cpid:a3d8e8d8-9e1c-4f2a-8a5b-3c1e7f9b2d40';
const PRODUCT_KEY_CHARS = 'BCDFGHJKMNPQRTVWXY2346789';

const deviceSpecSchema = z.object({
  deviceId: z.string().optional(),
  serialNumber: z.string().optional(),
  productKey: z.string().optional(),
  status: z.string().optional(),
  errorCode: z.string().optional(),
  errorDescription: z.string().optional(),
});
const guid = z.string().regex(GUID_PATTERN, 'must be a GUID');
const createBatchSchema = z.object({
  customerId: guid,
  trackingId: guid.optional(),
  devices: z.union([z.array(deviceSpecSchema).max(10_000), z.number().int().min(0).max(10_000)]).optional(),
  finalStatus: z.enum(['finished', 'finished_with_errors']).optional(),
  statuses: z.array(z.string().min(1)).min(1).optional(),
  advanceEveryCalls: z.number().int().min(0).optional(),
  stepMs: z.number().int().positive().optional(),
});
const faultSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('throttle'), retryAfterSeconds: z.number().int().min(0).optional() }),
  z.object({
    kind: z.literal('status'),
    status: z.number().int().min(400).max(599),
    code: z.string().optional(),
    description: z.string().optional(),
    retryAfterSeconds: z.number().int().min(0).optional(),
  }),
  z.object({ kind: z.literal('latency'), ms: z.number().int().min(0) }),
  z.object({ kind: z.literal('reset') }),
  z.object({ kind: z.literal('malformed'), body: z.string().optional() }),
  z.object({ kind: z.literal('unexpected-shape'), body: z.unknown().optional() }),
  z.object({ kind: z.literal('huge'), bytes: z.number().int().positive(), chunked: z.boolean().optional() }),
  z.object({
    kind: z.literal('endless'),
    chunkBytes: z.number().int().positive().optional(),
    intervalMs: z.number().int().min(0).optional(),
  }),
]);
const injectSchema = z.object({
  fault: faultSchema,
  times: z.number().int().positive().optional(),
  trackingId: z.string().optional(),
});
const resetSchema = z.object({ batches: z.boolean().optional() }).optional();

function emptyCounters(): PartnerCenterCounters {
  return { total: 0, byTrackingId: {}, byStatus: {}, unauthorized: 0, faultsInjected: 0 };
}

/**
 * The Partner Center simulator. See the module comment for the wire and admin contracts. Its `url`
 * is the base URL, without `/v1` (`PARTNER_CENTER_BASE_URL`).
 */
export class PartnerCenterSimulator extends HttpsSimulator {
  readonly #entra: EntraSimulator;
  readonly #tenantId: string | undefined;
  readonly #now: () => number;
  readonly #maxRecorded: number;
  readonly #batches = new Map<string, Batch>();
  readonly #faults = new FailureQueue<QueuedFault>();
  #counters = emptyCounters();
  #requests: RecordedRequest[] = [];
  #seq = 0;
  #userPolicy: { mfa: boolean } | false = false;

  constructor(options: PartnerCenterSimulatorOptions) {
    super('PartnerCenterSimulator', options);
    this.#entra = options.entra;
    this.#tenantId = options.tenantId?.toLowerCase();
    this.#now = options.now ?? Date.now;
    this.#maxRecorded = options.maxRecordedRequests ?? 10_000;
    this.#seed();
  }

  /** Adds (or replaces) a batch that progresses through its statuses. */
  createBatch(options: CreateBatchOptions): CreatedBatch {
    const customerId = options.customerId;
    const trackingId = options.trackingId ?? newGuid();
    const finalStatus = options.finalStatus ?? 'finished';
    const statuses = options.statuses ?? ['queued', 'processing', finalStatus];
    const devices = Array.isArray(options.devices)
      ? options.devices.map((spec, index) => completeDevice(spec, index, trackingId))
      : generateDevices(options.devices ?? 5, trackingId);
    const progress: Progress =
      options.stepMs !== undefined
        ? { kind: 'time', stepMs: options.stepMs }
        : { kind: 'calls', every: options.advanceEveryCalls ?? 1 };
    this.#batches.set(batchKey(customerId, trackingId), {
      customerId,
      trackingId,
      statuses,
      devices,
      progress,
      createdAt: this.#now(),
      calls: 0,
      completedAt: undefined,
      fixedBody: undefined,
    });
    return {
      customerId,
      trackingId,
      location: `/customers/${customerId}/batchJobStatus/${trackingId}`,
      devices: devices.length,
    };
  }

  /** The body a status call would get now, without counting as a call; `undefined` if unknown. */
  getBatch(customerId: string, trackingId: string): BatchUploadDetails | undefined {
    const batch = this.#batches.get(batchKey(customerId, trackingId));
    return batch ? (this.#render(batch, batch.calls) as BatchUploadDetails) : undefined;
  }

  /** Removes every batch but the docs' example. */
  clearBatches(): void {
    this.#batches.clear();
    this.#seed();
  }

  /** Queues (or, without `times`, installs until cleared) a fault for matching status calls. */
  inject(fault: PartnerCenterFault, options: InjectOptions = {}): void {
    this.#faults.add({ fault, trackingId: options.trackingId?.toLowerCase() }, options.times);
  }

  /** Removes every injected fault. */
  /**
   * App+User: only user tokens with the `user_impersonation` scope are accepted (`mfa`: and only
   * from a sign-in with MFA, as Partner Center requires since 2026-04-01); refused with 401.
   * `false` (the default) accepts app-only tokens as well.
   */
  requireUserImpersonation(policy: { mfa: boolean } | false): void {
    this.#userPolicy = policy;
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  /** A snapshot of the counters. */
  get counters(): PartnerCenterCounters {
    return structuredClone(this.#counters);
  }

  /** A copy of the request log, oldest first. */
  get requests(): RecordedRequest[] {
    return structuredClone(this.#requests);
  }

  /** Clears counters, the request log and faults; with `{ batches: true }` also {@link clearBatches}. */
  reset(options: { batches?: boolean } = {}): void {
    this.#counters = emptyCounters();
    this.#requests = [];
    this.#faults.clear();
    if (options.batches) this.clearBatches();
  }

  #seed(): void {
    this.#batches.set(batchKey(DOCS_EXAMPLE_CUSTOMER_ID, DOCS_EXAMPLE_TRACKING_ID), {
      customerId: DOCS_EXAMPLE_CUSTOMER_ID,
      trackingId: DOCS_EXAMPLE_TRACKING_ID,
      statuses: ['finished'],
      devices: [],
      progress: { kind: 'fixed' },
      createdAt: Date.parse('2017-07-25T10:00:00Z'),
      calls: 0,
      completedAt: undefined,
      fixedBody: DOCS_EXAMPLE_BATCH,
    });
  }

  /** The body after `calls` answered calls (time-based batches ignore `calls`). */
  #render(batch: Batch, calls: number): unknown {
    if (batch.progress.kind === 'fixed') return structuredClone(batch.fixedBody);
    const now = this.#now();
    const step =
      batch.progress.kind === 'time'
        ? Math.floor((now - batch.createdAt) / batch.progress.stepMs)
        : batch.progress.every === 0
          ? Number.POSITIVE_INFINITY
          : Math.floor(Math.max(0, calls - 1) / batch.progress.every);
    const index = Math.min(step, batch.statuses.length - 1);
    const status = batch.statuses[index] as string;
    const done = index === batch.statuses.length - 1 && TERMINAL.has(status);
    let completedTime: string | undefined;
    if (done) {
      if (batch.progress.kind === 'time') {
        completedTime = wireTime(batch.createdAt + (batch.statuses.length - 1) * batch.progress.stepMs);
      } else {
        batch.completedAt ??= now;
        completedTime = wireTime(batch.completedAt);
      }
    }
    return {
      batchTrackingId: batch.trackingId,
      status,
      startedTime: wireTime(batch.createdAt),
      ...(completedTime ? { completedTime } : {}),
      devicesStatus: batch.devices.map((device) =>
        done
          ? device
          : {
              ...(device.deviceId ? { deviceId: device.deviceId } : {}),
              serialNumber: device.serialNumber,
              productKey: device.productKey,
              status: 'in-progress',
              attributes: device.attributes,
            },
      ),
      attributes: { objectType: 'BatchUploadDetails' },
    } satisfies BatchUploadDetails;
  }

  protected override async handle(
    req: IncomingMessage,
    res: ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const { path, segments } = parseRequestUrl(req);
    if (segments[0] === '_sim') return this.#admin(req, res, segments.slice(1));

    const requestId = header(req, 'ms-requestid') ?? newGuid();
    const correlationId = header(req, 'ms-correlationid') ?? newGuid();
    const baseHeaders: Record<string, string> = {
      'MS-CorrelationId': correlationId,
      'MS-RequestId': requestId,
      'MS-CV': `${Buffer.from(newGuid().replace(/-/g, ''), 'hex').toString('base64').slice(0, 22)}.0`,
      'MS-ServerId': '030020525',
    };
    const isStatusRoute =
      segments.length === 5 &&
      segments[0]?.toLowerCase() === 'v1' &&
      segments[1]?.toLowerCase() === 'customers' &&
      segments[3]?.toLowerCase() === 'batchjobstatus';
    const customerId = isStatusRoute ? segments[2] : undefined;
    const trackingId = isStatusRoute ? segments[4] : undefined;
    this.#counters.total++;
    if (trackingId) bump(this.#counters.byTrackingId, trackingId.toLowerCase());
    const record = (status: number, fault?: PartnerCenterFault['kind']) => {
      bump(this.#counters.byStatus, status === 0 ? 'reset' : String(status));
      this.#requests.push({
        seq: ++this.#seq,
        at: this.#now(),
        method: req.method ?? 'GET',
        path,
        ...(customerId ? { customerId } : {}),
        ...(trackingId ? { trackingId } : {}),
        status,
        ...(fault ? { fault } : {}),
        headers: redactedHeaders(req),
      });
      if (this.#requests.length > this.#maxRecorded) this.#requests.shift();
    };
    const sendError = (
      status: number,
      code: string,
      description: string,
      extra: Record<string, string> = {},
    ) => {
      record(status);
      sendJson(res, status, errorBody(code, description), { ...baseHeaders, ...extra }, CONTENT_TYPE);
    };

    if (!isStatusRoute || !customerId || !trackingId) {
      return sendError(404, '404', `The requested resource ${req.method} ${path} does not exist.`);
    }
    if (req.method !== 'GET') {
      return sendError(405, '405', `The method ${req.method} is not allowed on this resource.`, {
        Allow: 'GET',
      });
    }

    const fault = this.#takeFault(trackingId);
    if (fault) {
      this.#counters.faultsInjected++;
      if (fault.kind === 'latency') {
        if (!(await pause(fault.ms, signal))) return;
      } else {
        return this.#serveFault(fault, req, res, signal, baseHeaders, customerId, trackingId, record);
      }
    }

    const authorization = header(req, 'authorization');
    const token = authorization ? /^Bearer\s+(\S+)$/i.exec(authorization)?.[1] : undefined;
    const claims = token
      ? await this.#entra.verifyAccessToken(
          token,
          AUDIENCE,
          this.#tenantId ? { tenantId: this.#tenantId } : {},
        )
      : undefined;
    if (!claims) {
      this.#counters.unauthorized++;
      return sendError(
        401,
        '900420',
        token
          ? `Invalid Token: the token is expired, not signed by the expected authority, or not issued for audience '${AUDIENCE}'${this.#tenantId ? ` in tenant '${this.#tenantId}'` : ''}.`
          : 'Invalid Token: the Authorization header is missing or is not a Bearer token.',
        { 'WWW-Authenticate': `OAuth realm=${REALM}` },
      );
    }
    const refusal = userTokenRefusal(claims, this.#userPolicy);
    if (refusal) {
      this.#counters.unauthorized++;
      return sendError(401, refusal.code, refusal.description, {
        'WWW-Authenticate': `OAuth realm=${REALM}`,
      });
    }
    if (!GUID_PATTERN.test(customerId)) {
      return sendError(400, '400', `The customer id '${customerId}' is not a valid GUID.`);
    }
    if (!GUID_PATTERN.test(trackingId)) {
      return sendError(400, '400', `The batch tracking id '${trackingId}' is not a valid GUID.`);
    }
    const batch = this.#batches.get(batchKey(customerId, trackingId));
    if (!batch) {
      return sendError(
        404,
        '600022',
        `The batch tracking id ${trackingId} was not found for customer ${customerId}.`,
      );
    }
    batch.calls++;
    record(200);
    sendJson(res, 200, this.#render(batch, batch.calls), baseHeaders, CONTENT_TYPE);
  }

  #takeFault(trackingId: string): PartnerCenterFault | undefined {
    const key = trackingId.toLowerCase();
    return this.#faults.take((entry) => entry.trackingId === undefined || entry.trackingId === key)?.fault;
  }

  async #serveFault(
    fault: Exclude<PartnerCenterFault, { kind: 'latency' }>,
    req: IncomingMessage,
    res: ServerResponse,
    signal: AbortSignal,
    baseHeaders: Record<string, string>,
    customerId: string,
    trackingId: string,
    record: (status: number, fault?: PartnerCenterFault['kind']) => void,
  ): Promise<void> {
    switch (fault.kind) {
      case 'throttle': {
        const seconds = fault.retryAfterSeconds ?? 1;
        record(429, fault.kind);
        return sendJson(
          res,
          429,
          { statusCode: 429, message: `Rate limit is exceeded. Try again in ${seconds} seconds.` },
          { ...baseHeaders, 'Retry-After': String(seconds) },
          CONTENT_TYPE,
        );
      }
      case 'status': {
        record(fault.status, fault.kind);
        const extra: Record<string, string> = {};
        if (fault.status === 401) extra['WWW-Authenticate'] = `OAuth realm=${REALM}`;
        if (fault.retryAfterSeconds !== undefined) extra['Retry-After'] = String(fault.retryAfterSeconds);
        return sendJson(
          res,
          fault.status,
          errorBody(
            fault.code ?? String(fault.status),
            fault.description ?? defaultDescription(fault.status),
          ),
          { ...baseHeaders, ...extra },
          CONTENT_TYPE,
        );
      }
      case 'reset':
        record(0, fault.kind);
        req.socket.destroy();
        return;
      case 'malformed': {
        const batch = this.#batches.get(batchKey(customerId, trackingId));
        const full = JSON.stringify(batch ? this.#render(batch, batch.calls) : DOCS_EXAMPLE_BATCH);
        const text = fault.body ?? full.slice(0, Math.floor(full.length * 0.6));
        record(200, fault.kind);
        res.writeHead(200, {
          ...baseHeaders,
          'Content-Type': CONTENT_TYPE,
          'Content-Length': Buffer.byteLength(text),
        });
        res.end(text);
        return;
      }
      case 'unexpected-shape': {
        record(200, fault.kind);
        const body = fault.body ?? {
          totalCount: 1,
          items: [{ id: trackingId, state: 'Completed', percentComplete: 100 }],
          links: { self: { uri: `/customers/${customerId}/batchJobStatus/${trackingId}`, method: 'GET' } },
        };
        return sendJson(res, 200, body, baseHeaders, CONTENT_TYPE);
      }
      case 'huge':
        record(200, fault.kind);
        return streamHugeBody(res, signal, baseHeaders, trackingId, fault.bytes, fault.chunked ?? false);
      case 'endless':
        record(200, fault.kind);
        return streamEndlessBody(
          res,
          signal,
          baseHeaders,
          trackingId,
          fault.chunkBytes ?? 16 * 1024,
          fault.intervalMs ?? 5,
        );
    }
  }

  async #admin(req: IncomingMessage, res: ServerResponse, segments: string[]): Promise<void> {
    const route = `${req.method} ${segments.join('/')}`;
    let body: unknown;
    if (req.method === 'POST') {
      try {
        const text = await readBody(req, 4 * 1024 * 1024);
        body = text.trim() ? JSON.parse(text) : undefined;
      } catch (error) {
        const message = error instanceof BodyTooLargeError ? error.message : 'body is not valid JSON';
        return sendJson(res, 400, { error: message });
      }
    }
    const invalid = (error: z.ZodError) => sendJson(res, 400, { error: z.prettifyError(error) });
    switch (route) {
      case 'POST batches': {
        const parsed = createBatchSchema.safeParse(body);
        if (!parsed.success) return invalid(parsed.error);
        return sendJson(res, 201, this.createBatch(parsed.data));
      }
      case 'GET batches':
        return sendJson(
          res,
          200,
          [...this.#batches.values()].map((batch) => ({
            customerId: batch.customerId,
            trackingId: batch.trackingId,
            status: (this.#render(batch, batch.calls) as BatchUploadDetails).status,
            calls: batch.calls,
          })),
        );
      case 'POST faults': {
        const parsed = injectSchema.safeParse(body);
        if (!parsed.success) return invalid(parsed.error);
        const { fault, ...options } = parsed.data;
        this.inject(fault as PartnerCenterFault, options);
        return sendJson(res, 201, { queued: this.#faults.length });
      }
      case 'DELETE faults':
        this.clearFaults();
        res.writeHead(204).end();
        return;
      case 'GET counters':
        return sendJson(res, 200, this.counters);
      case 'GET requests':
        return sendJson(res, 200, this.#requests);
      case 'POST reset': {
        const parsed = resetSchema.safeParse(body);
        if (!parsed.success) return invalid(parsed.error);
        this.reset(parsed.data ?? {});
        res.writeHead(204).end();
        return;
      }
      default:
        return sendJson(res, 404, { error: `no admin route ${route}` });
    }
  }
}

function batchKey(customerId: string, trackingId: string): string {
  return `${customerId.toLowerCase()}/${trackingId.toLowerCase()}`;
}

/** `2017-07-25T10:00:00`: the docs' format, UTC without a zone suffix. */
function wireTime(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 19);
}

function errorBody(code: string, description: string): Record<string, unknown> {
  return { code, description: description.slice(0, 1024), data: [], source: 'PartnerFD' };
}

function defaultDescription(status: number): string {
  const descriptions: Record<number, string> = {
    400: 'The request is invalid.',
    401: 'Invalid Token: the access token is missing, invalid or expired.',
    403: 'The caller is not authorized to perform this operation.',
    404: 'The requested resource was not found.',
    409: 'The request conflicts with the current state of the resource.',
    500: 'An unexpected error occurred. Please try again later.',
    502: 'The service received an invalid response from an upstream server.',
    503: 'The service is temporarily unavailable. Please try again later.',
    504: 'The service did not receive a timely response from an upstream server.',
  };
  return descriptions[status] ?? `The request failed with status ${status}.`;
}

function redactedHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    headers[name] = name === 'authorization' ? `${text.split(' ')[0] ?? ''} <redacted>` : text;
  }
  return headers;
}

/** A deterministic pseudo-random source (mulberry32), seeded from a string. */
function randomFrom(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick(random: () => number, chars: string, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += chars[Math.floor(random() * chars.length)];
  return text;
}

/** Serial numbers in the styles of common OEMs (Surface, HP, Lenovo, Dell). */
function serialNumber(random: () => number, index: number): string {
  const digits = '0123456789';
  const upper = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789';
  switch (index % 4) {
    case 0:
      return pick(random, digits, 12);
    case 1:
      return `5CG${pick(random, digits, 4)}${pick(random, upper, 3)}`;
    case 2:
      return `PF${pick(random, upper, 6)}`;
    default:
      return pick(random, upper, 7);
  }
}

function productKey(random: () => number): string {
  return Array.from({ length: 5 }, () => pick(random, PRODUCT_KEY_CHARS, 5)).join('-');
}

function guidFrom(random: () => number): string {
  const hex = pick(random, '0123456789abcdef', 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

function generateDevices(count: number, trackingId: string): DeviceUploadDetails[] {
  const random = randomFrom(trackingId.toLowerCase());
  const devices: DeviceUploadDetails[] = [];
  let failures = 0;
  for (let index = 0; index < count; index++) {
    const failed = index % 4 === 3;
    const error = failed ? DEVICE_ERRORS[failures++ % DEVICE_ERRORS.length] : undefined;
    devices.push({
      deviceId: guidFrom(random),
      serialNumber: serialNumber(random, index),
      productKey: productKey(random),
      status: error ? 'finished_with_errors' : 'finished',
      ...(error ? { errorCode: error[0], errorDescription: error[1] } : {}),
      attributes: { objectType: 'DeviceUploadDetails' },
    });
  }
  return devices;
}

function completeDevice(spec: DeviceSpec, index: number, trackingId: string): DeviceUploadDetails {
  const random = randomFrom(`${trackingId.toLowerCase()}/${index}`);
  const errorDescription =
    spec.errorDescription ?? DEVICE_ERRORS.find(([code]) => code === spec.errorCode)?.[1] ?? spec.errorCode;
  return {
    ...(spec.deviceId ? { deviceId: spec.deviceId } : {}),
    serialNumber: spec.serialNumber ?? serialNumber(random, index),
    productKey: spec.productKey ?? productKey(random),
    status: spec.status ?? (spec.errorCode ? 'finished_with_errors' : 'finished'),
    ...(spec.errorCode ? { errorCode: spec.errorCode } : {}),
    ...(errorDescription ? { errorDescription } : {}),
    attributes: { objectType: 'DeviceUploadDetails' },
  };
}

/** Writes `chunk`, waiting for the socket to drain; false once the response is gone. */
async function write(res: ServerResponse, chunk: string, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted || res.destroyed) return false;
  if (res.write(chunk)) return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      signal.removeEventListener('abort', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
    signal.addEventListener('abort', onClose);
  });
}

function paddingDevice(index: number): string {
  const serial = String(index).padStart(12, '0');
  return JSON.stringify({
    serialNumber: serial,
    productKey: 'BCDFG-HJKMN-PQRTV-WXY23-46789',
    status: 'finished',
    attributes: { objectType: 'DeviceUploadDetails' },
  });
}

async function streamHugeBody(
  res: ServerResponse,
  signal: AbortSignal,
  headers: Record<string, string>,
  trackingId: string,
  bytes: number,
  chunked: boolean,
): Promise<void> {
  const prefix = `{"batchTrackingId":"${trackingId}","status":"finished","startedTime":"2017-07-25T10:00:00","completedTime":"2017-07-25T10:10:00","devicesStatus":[`;
  const suffix = '],"attributes":{"objectType":"BatchUploadDetails"}}';
  const deviceLength = paddingDevice(0).length; // fixed width: serials are zero-padded to 12 digits
  const count = Math.max(1, Math.ceil((bytes - prefix.length - suffix.length + 1) / (deviceLength + 1)));
  const total = prefix.length + count * deviceLength + (count - 1) + suffix.length;
  res.writeHead(200, {
    ...headers,
    'Content-Type': CONTENT_TYPE,
    ...(chunked ? {} : { 'Content-Length': String(total) }),
  });
  let chunk = prefix;
  for (let index = 0; index < count; index++) {
    chunk += (index === 0 ? '' : ',') + paddingDevice(index);
    if (chunk.length >= 64 * 1024) {
      if (!(await write(res, chunk, signal))) return;
      chunk = '';
    }
  }
  if (await write(res, chunk + suffix, signal)) res.end();
}

async function streamEndlessBody(
  res: ServerResponse,
  signal: AbortSignal,
  headers: Record<string, string>,
  trackingId: string,
  chunkBytes: number,
  intervalMs: number,
): Promise<void> {
  res.writeHead(200, { ...headers, 'Content-Type': CONTENT_TYPE });
  if (
    !(await write(res, `{"batchTrackingId":"${trackingId}","status":"processing","devicesStatus":[`, signal))
  )
    return;
  let index = 0;
  while (!signal.aborted && !res.destroyed) {
    let chunk = '';
    while (chunk.length < chunkBytes) chunk += (index++ === 0 ? '' : ',') + paddingDevice(index);
    if (!(await write(res, chunk, signal))) return;
    if (!(await pause(intervalMs, signal))) return;
  }
}

/** Why Partner Center refuses a token under an App+User policy (code and wording as partners report them). */
function userTokenRefusal(
  claims: AccessTokenClaims,
  policy: { mfa: boolean } | false,
): { code: string; description: string } | undefined {
  if (!policy) return undefined;
  if (claims.idtyp !== 'user' || !(claims.scp ?? '').split(' ').includes('user_impersonation')) {
    return {
      code: '900420',
      description: 'Invalid Token: this operation needs an App+User token with the user_impersonation scope.',
    };
  }
  if (policy.mfa && !(claims.amr ?? []).includes('mfa')) {
    return {
      code: '900421',
      description:
        'Multi-factor authentication is required: the token comes from a sign-in without MFA. Sign in again with MFA.',
    };
  }
  return undefined;
}
