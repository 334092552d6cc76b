/** Levels as @azure/functions and the Functions host name them. */
export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';

/**
 * One log entry of the local host. `user` entries come from `context.log`/`context.info`/…,
 * `system` ones from @azure/functions itself (`coreApi.log`), `host` ones from the host.
 */
export interface HostLogEntry {
  time: Date;
  level: LogLevel;
  category: 'host' | 'system' | 'user';
  functionName?: string;
  invocationId?: string;
  message: string;
}

export type HostLogger = (entry: HostLogEntry) => void;

const LEVEL_LABELS: Record<LogLevel, string> = {
  trace: 'trace',
  debug: 'debug',
  information: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'critical',
  none: 'none',
};

/**
 * `2026-11-26T12:00:00.000Z info [getBatchStatus 8c1f…] message`: one line per entry, so
 * multi-line messages (stack traces) have their line breaks escaped as `\n`.
 */
export function formatLogLine(entry: HostLogEntry): string {
  const scope =
    entry.functionName === undefined
      ? 'host'
      : entry.invocationId === undefined
        ? entry.functionName
        : `${entry.functionName} ${entry.invocationId}`;
  const message = entry.message.replace(/\r?\n/g, '\\n');
  return `${entry.time.toISOString()} ${LEVEL_LABELS[entry.level]} [${scope}] ${message}`;
}

export function createStreamLogger(stream: NodeJS.WritableStream = process.stdout): HostLogger {
  return (entry) => {
    if (entry.level === 'none') return;
    stream.write(`${formatLogLine(entry)}\n`);
  };
}
