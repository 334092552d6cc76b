import { randomUUID } from 'node:crypto';
import { type RunningAzurite, startAzurite } from '../dev/azurite.js';
import { type RunningSimulators, startSimulators } from '../dev/simulators/index.js';
import type { TlsMaterial } from '../dev/simulators/tls.js';
import type { BatchUploadDetails } from '../shared/partner-center/model.js';
import { StorageClients } from '../shared/storage/clients.js';
import type { TrackingRecord } from '../shared/trackings/model.js';
import { ResultStore } from '../shared/trackings/result-store.js';
import { type TrackingTables, trackingTables } from '../shared/trackings/tracking-tables.js';

/**
 * The stand-ins every measure runs against: the simulators (in this process, so their counters are
 * at hand) and Azurite (its own process). Each measure gets its own tables and container.
 */
export class Lab {
  private constructor(
    readonly sims: RunningSimulators,
    public azurite: RunningAzurite,
  ) {}

  static async start(tls: TlsMaterial): Promise<Lab> {
    const [sims, azurite] = await Promise.all([startSimulators({ tls }), startAzurite()]);
    return new Lab(sims, azurite);
  }

  /** A fresh, empty Azurite: heavy measures start from the same state and leave nothing behind. */
  async restartAzurite(): Promise<void> {
    await this.azurite.stop();
    this.azurite = await startAzurite();
  }

  async stop(): Promise<void> {
    await Promise.all([this.sims.stop(), this.azurite.stop()]);
  }

  /** The app's settings for a child process: the simulators, Azurite, telemetry off. */
  appEnv(storage: StorageNames, settings: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...this.sims.env,
      AzureWebJobsStorage: this.azurite.connectionString,
      TRACKING_TABLE_PREFIX: storage.tablePrefix,
      TRACKING_RESULT_CONTAINER: storage.resultContainer,
      AZURE_FUNCTIONS_ENVIRONMENT: 'Development',
      APPLICATION_INSIGHTS_NO_STATSBEAT: 'true',
      ...settings,
    };
    delete env.APPLICATIONINSIGHTS_CONNECTION_STRING;
    delete env.TRACKING_STORAGE;
    delete env.LOCAL_FUNCTION_KEY;
    delete env.CALLER_AUTH_AUDIENCE;
    return env;
  }

  /** Ports of the services, so a child can tell its requests apart. */
  ports(): Record<string, string> {
    const port = (url: string) => new URL(url).port;
    return {
      [String(this.azurite.tablePort)]: 'table',
      [String(this.azurite.blobPort)]: 'blob',
      [port(this.sims.partnerCenter.url)]: 'partnerCenter',
      [port(this.sims.entra.url)]: 'entra',
      [port(this.sims.keyVault.url)]: 'keyVault',
    };
  }

  storage(names: StorageNames): { tables: TrackingTables; results: ResultStore } {
    const clients = new StorageClients({
      kind: 'connectionString',
      connectionString: this.azurite.connectionString,
      settingName: 'AzureWebJobsStorage',
    });
    const results = ResultStore.fromClients(clients, names.resultContainer);
    return { results, tables: trackingTables(clients, names.tablePrefix) };
  }

  /** Simulator batches: `finished` at the first call, or `processing` for ever. */
  createBatches(keys: readonly BatchKeyLike[], kind: 'finishing' | 'processing', devices = 5): void {
    for (const key of keys) {
      this.sims.partnerCenter.createBatch({
        ...key,
        devices,
        ...(kind === 'finishing' ? { advanceEveryCalls: 0 } : { statuses: ['processing'] }),
      });
    }
  }

  /** The body the simulator serves for a batch (without counting a call). */
  batchDetails(key: BatchKeyLike): BatchUploadDetails {
    const details = this.sims.partnerCenter.getBatch(key.customerId, key.trackingId);
    if (!details) throw new Error(`no simulator batch ${key.customerId}/${key.trackingId}`);
    return details as BatchUploadDetails;
  }

  counters() {
    return {
      vaultReads: this.sims.keyVault.counters.secretReads,
      appTokenRequests: this.sims.entra.counters.tokenRequestsByClientId[this.sims.app.clientId] ?? 0,
      allTokenRequests: this.sims.entra.counters.tokenRequests,
      partnerCenterCalls: this.sims.partnerCenter.counters.total,
    };
  }
}

export interface StorageNames {
  tablePrefix: string;
  resultContainer: string;
}

export interface BatchKeyLike {
  customerId: string;
  trackingId: string;
}

/** Table prefix and container for one measure (letters and digits; a valid container name). */
export function storageNames(measure: string): StorageNames {
  const suffix = randomUUID().slice(0, 8).replace(/-/g, '');
  return {
    tablePrefix: `bench${measure}${suffix}`.replace(/[^A-Za-z0-9]/g, ''),
    resultContainer: `bench-${measure.toLowerCase()}-${suffix}`,
  };
}

/** `count` keys spread over `customers` customers (the trackings table partitions by customer). */
export function batchKeys(count: number, customers: number): BatchKeyLike[] {
  const customerIds = Array.from({ length: Math.max(1, customers) }, () => randomUUID());
  return Array.from({ length: count }, (_, i) => ({
    customerId: customerIds[i % customerIds.length] as string,
    trackingId: randomUUID(),
  }));
}

/** Pending records due a minute ago. */
export function dueRecords(keys: readonly BatchKeyLike[], now: number): TrackingRecord[] {
  return keys.map((key, i) => ({
    ...key,
    state: 'pending',
    registeredAt: new Date(now - 3_600_000 + i).toISOString(),
    nextCheckAt: new Date(now - 60_000).toISOString(),
    checks: 0,
  }));
}

/** Terminal records, as a long-running deployment accumulates them. */
export function historyRecords(keys: readonly BatchKeyLike[], now: number): TrackingRecord[] {
  return keys.map((key, i) => {
    const state = i % 10 === 0 ? 'finished_with_errors' : 'finished';
    return {
      ...key,
      state,
      upstreamStatus: state,
      registeredAt: new Date(now - 30 * 86_400_000 + i * 1000).toISOString(),
      lastCheckedAt: new Date(now - 29 * 86_400_000 + i * 1000).toISOString(),
      completedTime: new Date(now - 29 * 86_400_000 + i * 1000).toISOString(),
      checks: 3,
      summary: { devices: 5, byStatus: { finished: 5 }, errors: [] },
    };
  });
}
