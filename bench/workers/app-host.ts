import type { HostLogEntry } from '../../dev/host/host-log.js';
import { startLocalApp } from '../../dev/serve.js';
import { ready } from '../processes.js';

/**
 * The function app on the real local Functions host (what `npm run serve` runs), configured by the
 * environment alone. Its per-invocation info lines are dropped: writing thousands of log lines to a
 * pipe would measure the local host's logging, which does not exist in Azure.
 */
function quietLogger(entry: HostLogEntry): void {
  if (entry.level === 'warning' || entry.level === 'error' || entry.level === 'critical') {
    process.stderr.write(`${entry.level} [${entry.functionName ?? 'host'}] ${entry.message}\n`);
  }
}

async function main(): Promise<void> {
  const app = await startLocalApp({ port: 0, useLocalSettings: false, logger: quietLogger });
  ready({ url: app.url.replace('//localhost:', '//127.0.0.1:') });
  process.once('SIGTERM', () => {
    app.stop().finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
