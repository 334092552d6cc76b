import type { Log } from '../diagnostics/log.js';
import { isPartnerCenterError } from '../partner-center/errors.js';
import {
  type BatchKey,
  type BatchStatusReader,
  type BatchStatusResponse,
  type BatchUploadDetails,
  isTerminalBatchStatus,
} from '../partner-center/model.js';
import { ValidationError } from '../trackings/errors.js';
import type { TrackingRecord } from '../trackings/model.js';
import { parseBatchKey } from '../trackings/tracking-reference.js';

/** Where a lookup's answer came from; told to the caller in the `X-Result-Source` header. */
export type ResultSource = 'live' | 'storage' | 'memory' | 'stale';

export interface LookupResult {
  details: BatchUploadDetails;
  source: ResultSource;
  terminal: boolean;
  /** The upstream body byte for byte, for live answers. */
  rawBody?: string;
  /** Upstream diagnostics, for live answers. */
  upstream?: { requestId?: string; cv?: string };
  /** For stale answers: seconds since Partner Center said it (the `Age` header). */
  ageSeconds?: number;
}

export interface LookupOptions {
  /** Go to Partner Center even when a stored terminal result exists. */
  refresh?: boolean;
  correlationId?: string;
  /** The invocation's log (it carries the correlation id): where a failed write-through is told. */
  log?: Log;
  abortSignal?: AbortSignal;
  /**
   * `Cache-Control: max-stale=<s>` (RFC 9111): when Partner Center throttles or fails, a tracked
   * batch's last stored status no older than this may answer instead (Infinity: any age).
   */
  maxStaleSeconds?: number;
}

/** The last status the sweep stored for a tracked batch, and when Partner Center said it. */
export interface LastKnownStatus {
  details: BatchUploadDetails;
  checkedAt: number;
}

/** Reads it (the tracking records). */
export interface LastKnownStatuses {
  get(key: BatchKey): Promise<LastKnownStatus | undefined>;
}

/** A tracked batch's last stored status as a BatchUploadDetails (no devices: only results keep them). */
export function lastKnownFromRecords(records: {
  get(key: BatchKey): Promise<TrackingRecord | undefined>;
}): LastKnownStatuses {
  return {
    async get(key) {
      const record = await records.get(key);
      if (!record?.upstreamStatus || !record.lastCheckedAt) return undefined;
      return {
        checkedAt: Date.parse(record.lastCheckedAt),
        details: {
          batchTrackingId: record.trackingId,
          status: record.upstreamStatus,
          ...(record.startedTime ? { startedTime: record.startedTime } : {}),
          attributes: { objectType: 'BatchUploadDetails' },
        },
      };
    },
  };
}

/** Stored terminal results (the sweep's result blobs). */
export interface TerminalResults {
  get(key: BatchKey): Promise<BatchUploadDetails | undefined>;
}

/** Writes a terminal live answer through to storage when the batch is tracked. */
export interface TerminalWriteThrough {
  recordTerminal(key: BatchKey, details: BatchUploadDetails): Promise<void>;
}

export interface BatchStatusLookupOptions {
  reader: BatchStatusReader;
  results?: TerminalResults;
  writeThrough?: TerminalWriteThrough;
  /** Terminal results kept in memory; each holds a device list, so the bound is small. */
  memoryEntries?: number;
  /**
   * How long a batch Partner Center just called not terminal skips the stored-result read
   * (default 60 s), and how many such batches are remembered (default 10,000; a key each).
   */
  liveHintTtlMs?: number;
  liveHintEntries?: number;
  /** Epoch ms; tests control it. */
  now?: () => number;
  /** A terminal live answer could not be stored; the caller still gets it (see docs/design.md). */
  onWriteThroughFailure?: (failure: WriteThroughFailure) => void;
  /** For `max-stale`: tracked batches' last stored statuses. */
  lastKnown?: LastKnownStatuses;
  /**
   * True while Partner Center is known to throttle the partner (any instance's 429, cached): a
   * caller that accepts a stale answer then gets one without spending the budget on a call.
   */
  partnerThrottled?: () => boolean;
}

export interface WriteThroughFailure {
  key: BatchKey;
  /** The lookup's correlation id, as the caller and Partner Center saw it. */
  correlationId?: string;
  /** The invocation's log, when the lookup was given one. */
  log?: Log;
  error: unknown;
}

/**
 * The live lookup (docs/design.md, "A lookup"): terminal results are immutable, so once known they are served
 * from memory or storage without asking Partner Center again, unless the caller asks to refresh.
 */
export class BatchStatusLookup {
  private readonly memory = new Map<string, BatchUploadDetails>();
  private readonly memoryEntries: number;
  /**
   * Batches Partner Center answered as not terminal, until when (epoch ms). Polling a pending batch
   * is the common case, and a stored result can only appear after Partner Center turned terminal:
   * so while the hint lasts the stored-result read is skipped (it would cost a storage round trip
   * per poll). The price is bounded: after the batch finishes, at most one more live call per
   * instance, which answers terminal and fills the memory cache.
   */
  private readonly liveHints = new Map<string, number>();
  private readonly liveHintTtlMs: number;
  private readonly liveHintEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: BatchStatusLookupOptions) {
    this.memoryEntries = options.memoryEntries ?? 256;
    this.liveHintTtlMs = options.liveHintTtlMs ?? 60_000;
    this.liveHintEntries = options.liveHintEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async lookup(customerId: string | undefined, trackingId: string | undefined, options: LookupOptions = {}) {
    // Both ids must be GUIDs: anything else is a 400 that costs nothing upstream.
    const parsed = parseBatchKey(customerId, trackingId);
    if (!parsed.ok) throw new ValidationError(parsed.problems);
    const key = parsed.value;
    if (!options.refresh) {
      const remembered = this.remembered(key);
      if (remembered) return { details: remembered, source: 'memory', terminal: true } satisfies LookupResult;
      const stored = this.recentlyLive(key) ? undefined : await this.options.results?.get(key);
      if (stored) {
        this.remember(key, stored);
        return { details: stored, source: 'storage', terminal: true } satisfies LookupResult;
      }
    }

    if (options.maxStaleSeconds !== undefined && this.options.partnerThrottled?.()) {
      const stale = await this.stale(key, options.maxStaleSeconds);
      if (stale) return stale;
    }
    let live: BatchStatusResponse;
    try {
      live = await this.options.reader.getBatchStatus(key.customerId, key.trackingId, {
        correlationId: options.correlationId,
        abortSignal: options.abortSignal,
      });
    } catch (error) {
      const stale =
        options.maxStaleSeconds !== undefined && isOutage(error)
          ? await this.stale(key, options.maxStaleSeconds)
          : undefined;
      if (stale) return stale;
      throw error;
    }
    const terminal = isTerminalBatchStatus(live.details.status);
    if (terminal) {
      this.liveHints.delete(memoryKey(key));
      this.remember(key, live.details);
      await this.writeThrough(key, live.details, options);
    } else {
      this.hintLive(key);
    }
    return {
      details: live.details,
      source: 'live',
      terminal,
      rawBody: live.rawBody,
      upstream: { requestId: live.requestId, cv: live.cv },
    } satisfies LookupResult;
  }

  /** The last stored status, if there is one young enough for the caller (a storage fault: none). */
  private async stale(key: BatchKey, maxStaleSeconds: number): Promise<LookupResult | undefined> {
    const known = await this.options.lastKnown?.get(key).catch(() => undefined);
    if (!known) return undefined;
    const ageSeconds = Math.max(0, Math.floor((this.now() - known.checkedAt) / 1000));
    if (ageSeconds > maxStaleSeconds) return undefined;
    return { details: known.details, source: 'stale', terminal: false, ageSeconds };
  }

  private async writeThrough(
    key: BatchKey,
    details: BatchUploadDetails,
    { correlationId, log }: LookupOptions,
  ): Promise<void> {
    if (!this.options.writeThrough) return;
    try {
      await this.options.writeThrough.recordTerminal(key, details);
    } catch (error) {
      // The caller still gets the live answer; the sweep will store the result on its next pass.
      this.options.onWriteThroughFailure?.({ key, correlationId, log, error });
    }
  }

  private recentlyLive(key: BatchKey): boolean {
    const id = memoryKey(key);
    const until = this.liveHints.get(id);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.liveHints.delete(id);
    return false;
  }

  private hintLive(key: BatchKey): void {
    if (!this.options.results) return;
    const id = memoryKey(key);
    this.liveHints.delete(id);
    this.liveHints.set(id, this.now() + this.liveHintTtlMs);
    if (this.liveHints.size > this.liveHintEntries) {
      const oldest = this.liveHints.keys().next().value;
      if (oldest !== undefined) this.liveHints.delete(oldest);
    }
  }

  private remembered(key: BatchKey): BatchUploadDetails | undefined {
    const id = memoryKey(key);
    const hit = this.memory.get(id);
    if (hit) {
      // Re-insert: Map keeps insertion order, which makes it a small LRU.
      this.memory.delete(id);
      this.memory.set(id, hit);
    }
    return hit;
  }

  private remember(key: BatchKey, details: BatchUploadDetails): void {
    const id = memoryKey(key);
    this.memory.delete(id);
    this.memory.set(id, details);
    if (this.memory.size > this.memoryEntries) {
      const oldest = this.memory.keys().next().value;
      if (oldest !== undefined) this.memory.delete(oldest);
    }
  }
}

/** Throttled, unreachable, too slow or failing: the outages a stale answer may stand in for. */
function isOutage(error: unknown): boolean {
  if (!isPartnerCenterError(error)) return false;
  if (error.failure === 'http') return (error.statusCode ?? 0) >= 500;
  return error.failure === 'throttled' || error.failure === 'network' || error.failure === 'timeout';
}

function memoryKey(key: BatchKey): string {
  return `${key.customerId}/${key.trackingId}`;
}
