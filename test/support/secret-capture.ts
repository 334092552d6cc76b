import { format } from 'node:util';
import { TableClient } from '@azure/data-tables';
import { AzureLogger, getLogLevel, setLogLevel } from '@azure/logger';
import { BlobServiceClient } from '@azure/storage-blob';
import { inject } from 'vitest';
import type { HostLogger } from '../../dev/host/host-log.js';
import { formatLogLine } from '../../dev/host/host-log.js';
import { trackingTableNames } from '../../shared/trackings/tracking-entities.js';
import type { StorageNames } from './app-settings.js';

/** One captured piece of what the app said or stored, by where it came from. */
export interface Captured {
  source: string;
  text: string;
}

/**
 * Captures everything an app in this process says or stores, for the secret canary tests: process
 * output, Azure SDK logging (turned up to verbose), the host's and the functions' log lines,
 * responses the test records, and (on `captureStorage`) every tracking entity and result blob.
 */
export class SecretCapture {
  readonly captured: Captured[] = [];
  readonly #restore: (() => void)[] = [];

  capture(source: string, text: string): void {
    this.captured.push({ source, text });
  }

  /** Hooks process output and SDK logging; `uninstall()` puts them back. */
  install(): void {
    for (const stream of [process.stdout, process.stderr] as const) {
      const write = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...args: unknown[]) => {
        this.capture(stream === process.stdout ? 'stdout' : 'stderr', String(chunk));
        return (write as (...a: unknown[]) => boolean)(chunk, ...args);
      }) as typeof stream.write;
      this.#restore.push(() => {
        stream.write = write;
      });
    }
    const sdkLog = AzureLogger.log;
    const level = getLogLevel();
    AzureLogger.log = (...args: unknown[]) => this.capture('azure-sdk', format(...args));
    setLogLevel('verbose');
    this.#restore.push(() => {
      AzureLogger.log = sdkLog;
      setLogLevel(level);
    });
  }

  uninstall(): void {
    for (const undo of this.#restore.splice(0)) undo();
  }

  /** For `startTestApp`: `user` entries are what the functions wrote through their InvocationContext. */
  readonly hostLogger: HostLogger = (entry) =>
    this.capture(entry.category === 'user' ? 'invocation-context' : 'host-log', formatLogLine(entry));

  /** Every entity of the three tracking tables and every result blob, in the run's Azurite. */
  async captureStorage(names: StorageNames): Promise<void> {
    const connection = inject('azuriteConnectionString');
    for (const table of Object.values(trackingTableNames(names.tablePrefix))) {
      const client = TableClient.fromConnectionString(connection, table, { allowInsecureConnection: true });
      for await (const entity of client.listEntities())
        this.capture(`table ${table}`, JSON.stringify(entity));
    }
    const container = BlobServiceClient.fromConnectionString(connection).getContainerClient(names.container);
    for await (const blob of container.listBlobsFlat()) {
      this.capture(
        `blob ${blob.name}`,
        (await container.getBlockBlobClient(blob.name).downloadToBuffer()).toString('utf8'),
      );
    }
  }

  /** Where any of `secrets` shows up (empty when nowhere). */
  leaks(secrets: string[]): string[] {
    return this.captured.flatMap((c) =>
      secrets
        .filter((s) => c.text.includes(s))
        .map((s) => `${c.source}: ${s.slice(0, 24)}… in ${JSON.stringify(c.text.slice(0, 200))}`),
    );
  }

  /** Sources of anything that even looks like a JWT or a bearer credential. */
  tokenLookalikes(): string[] {
    return this.captured
      .filter((c) => /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\./.test(c.text) || /Bearer\s+[\w-]{20,}/.test(c.text))
      .map((c) => c.source);
  }
}
