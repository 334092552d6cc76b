import { readFileSync } from 'node:fs';

const startedAt = new Date().toISOString();
let version: string | undefined;

/** The app's version, from package.json, read once on first use. */
export function appVersion(): string {
  if (version === undefined) {
    try {
      const url = new URL('../../package.json', import.meta.url);
      // Built code runs from dist/, one level further down than the sources.
      const candidates = [url, new URL('../../../package.json', import.meta.url)];
      const found = candidates.map((c) => tryRead(c)).find((v) => v !== undefined);
      version = found ?? 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}

function tryRead(url: URL): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version?: string };
    return pkg.name === 'device-batch-status' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

/** Liveness only: version and uptime, nothing about settings or secrets. */
export function livenessReport() {
  return { status: 'ok', version: appVersion(), startedAt, node: process.version };
}
