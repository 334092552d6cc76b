import type { ContainerClient } from '@azure/storage-blob';
import {
  type BatchKey,
  type BatchUploadDetails,
  batchUploadDetailsSchema,
  isTerminalBatchStatus,
} from '../partner-center/model.js';
import type { StorageClients } from '../storage/clients.js';
import { statusCodeOf } from '../storage/rest-errors.js';

/** Where a ResultStore keeps its blobs, and how it makes sure the container exists. */
export interface ResultContainer {
  container: ContainerClient;
  /** Creates the container on first use (shared and once per process, see StorageClients). */
  ensure(): Promise<void>;
}

/** A stored result that is not a BatchUploadDetails any more (edited by hand, truncated). */
export class CorruptResultError extends Error {
  override readonly name = 'CorruptResultError';
  constructor(readonly blobName: string) {
    super(`The stored result ${blobName} is not a final BatchUploadDetails document`);
  }
}

/**
 * The full terminal BatchUploadDetails of each tracking, one JSON blob per tracking. Terminal results
 * are immutable: the first one written stays, so a sweep that crashed after writing it and the run
 * that completes it later cannot produce two different results.
 */
export class ResultStore {
  constructor(private readonly target: ResultContainer) {}

  static fromClients(clients: StorageClients, containerName: string): ResultStore {
    return new ResultStore({
      container: clients.containerClient(containerName),
      ensure: () => clients.ensureContainer(containerName),
    });
  }

  /** Deterministic, so a record and a retried write always agree on where the result lives. */
  static blobName(key: BatchKey): string {
    return `${key.customerId}/${key.trackingId}.json`;
  }

  /** Stores the result unless one is already stored; returns the blob name either way. */
  async put(key: BatchKey, details: BatchUploadDetails): Promise<string> {
    await this.target.ensure();
    const name = ResultStore.blobName(key);
    const body = JSON.stringify(details);
    try {
      await this.target.container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body), {
        conditions: { ifNoneMatch: '*' },
        blobHTTPHeaders: { blobContentType: 'application/json' },
      });
    } catch (error) {
      if (!isAlreadyThere(error)) throw error;
    }
    return name;
  }

  /**
   * The stored result, or undefined when none is stored. Throws CorruptResultError when it cannot
   * be read or is not a final answer.
   */
  async get(key: BatchKey): Promise<BatchUploadDetails | undefined> {
    await this.target.ensure();
    const name = ResultStore.blobName(key);
    let buffer: Buffer;
    try {
      // One GET: downloadToBuffer() asks for the properties first, doubling the round trips.
      const download = await this.target.container.getBlockBlobClient(name).download();
      buffer = await readAll(download.readableStreamBody);
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(buffer.toString('utf8'));
    } catch {
      throw new CorruptResultError(name);
    }
    const parsed = batchUploadDetailsSchema.safeParse(json);
    // Only final answers are stored, and never overwritten: one that is not final was written by
    // something else and would stand beside the record's final state for good.
    if (!parsed.success || !isTerminalBatchStatus(parsed.data.status)) throw new CorruptResultError(name);
    return parsed.data;
  }

  /** Removes a stored result (used to replace a corrupt one). */
  async delete(key: BatchKey): Promise<void> {
    await this.target.ensure();
    await this.target.container.getBlockBlobClient(ResultStore.blobName(key)).deleteIfExists();
  }
}

function isAlreadyThere(error: unknown): boolean {
  const status = statusCodeOf(error);
  return status === 409 || status === 412;
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream ?? []) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
