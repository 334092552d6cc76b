import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** 0 (default) lets the OS pick; fixed ports let a test stop and restart Azurite at the same address. */
  blobPort?: number;
  tablePort?: number;
  queuePort?: number;
  /** Keep data on disk (in a temp folder) instead of memory, so a restart keeps it. */
  persistent?: boolean;
  /** Existing workspace folder for persistent mode (restart with the same data). */
  location?: string;
  /** Serve HTTPS with this certificate (PEM), e.g. the simulators' trusted one. */
  tls?: { cert: string; key: string };
  /**
   * `basic`: also accept bearer tokens (issuer, audience and lifetime checked, not the signature),
   * as Azure Storage does for Entra ID identities. Requires `tls`.
   */
  oauth?: 'basic';
}

export interface RunningAzurite {
  blobEndpoint: string;
  tableEndpoint: string;
  queueEndpoint: string;
  /** Blob, table and queue endpoints, so every storage SDK finds its service. */
  connectionString: string;
  blobPort: number;
  tablePort: number;
  queuePort: number;
  location?: string;
  stop(): Promise<void>;
}

/**
 * Starts Azurite (the npm package, no Docker) as a child process on loopback and resolves once
 * the blob, table and queue services listen. The flags follow what the storage SDKs need here:
 * in memory, no telemetry, and no API-version check (newer SDKs send versions Azurite may lag).
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<RunningAzurite> {
  const require = createRequire(import.meta.url);
  const entry = join(require.resolve('azurite/package.json'), '..', 'dist', 'src', 'azurite.js');
  const location = options.persistent
    ? (options.location ?? mkdtempSync(join(tmpdir(), 'azurite-')))
    : undefined;
  if (options.oauth && !options.tls) throw new Error('Azurite accepts OAuth only over HTTPS: give `tls` too');
  const tlsArgs: string[] = [];
  if (options.tls) {
    const folder = mkdtempSync(join(tmpdir(), 'azurite-tls-'));
    writeFileSync(join(folder, 'cert.pem'), options.tls.cert);
    writeFileSync(join(folder, 'key.pem'), options.tls.key);
    tlsArgs.push('--cert', join(folder, 'cert.pem'), '--key', join(folder, 'key.pem'));
    if (options.oauth) tlsArgs.push('--oauth', options.oauth);
  }
  const args = [
    entry,
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--blobHost',
    '127.0.0.1',
    '--tableHost',
    '127.0.0.1',
    '--queueHost',
    '127.0.0.1',
    '--blobPort',
    String(options.blobPort ?? 0),
    '--tablePort',
    String(options.tablePort ?? 0),
    '--queuePort',
    String(options.queuePort ?? 0),
    ...(location ? ['--location', location] : ['--inMemoryPersistence']),
    ...tlsArgs,
  ];
  // Azurite writes its workspace files into the working directory when in memory; keep them out of the repo.
  const cwd = location ?? tmpdir();
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const ports = await waitForPorts(child);
  const scheme = options.tls ? 'https' : 'http';
  const blobEndpoint = `${scheme}://127.0.0.1:${ports.blob}/${AZURITE_ACCOUNT}`;
  const tableEndpoint = `${scheme}://127.0.0.1:${ports.table}/${AZURITE_ACCOUNT}`;
  const queueEndpoint = `${scheme}://127.0.0.1:${ports.queue}/${AZURITE_ACCOUNT}`;
  return {
    blobEndpoint,
    tableEndpoint,
    queueEndpoint,
    blobPort: ports.blob,
    tablePort: ports.table,
    queuePort: ports.queue,
    location,
    connectionString: `DefaultEndpointsProtocol=${scheme};AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};TableEndpoint=${tableEndpoint};QueueEndpoint=${queueEndpoint};`,
    stop: () => stopChild(child, location && !options.location ? location : undefined),
  };
}

type Ports = { blob: number; table: number; queue: number };

function waitForPorts(child: ChildProcess): Promise<Ports> {
  return new Promise((resolve, reject) => {
    const found: Partial<Ports> = {};
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const match of output.matchAll(
        /Azurite (Blob|Table|Queue) service is successfully listening at https?:\/\/[^:]+:(\d+)/g,
      )) {
        found[match[1]!.toLowerCase() as keyof Ports] = Number(match[2]);
      }
      if (found.blob && found.table && found.queue) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve({ blob: found.blob, table: found.table, queue: found.queue });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) =>
      reject(new Error(`Azurite exited with code ${code} before listening:\n${output.slice(-2000)}`)),
    );
    child.once('error', reject);
  });
}

function stopChild(child: ChildProcess, removeFolder: string | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      if (removeFolder) rmSync(removeFolder, { recursive: true, force: true });
      resolve();
    };
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', done);
    child.kill('SIGTERM');
  });
}
