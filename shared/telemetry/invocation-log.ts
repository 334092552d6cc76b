/** Logging as the Functions InvocationContext offers it (the host adds the invocation id to each line). */
export interface InvocationLog {
  log(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export type LogProperties = Readonly<Record<string, string | number | boolean | undefined>>;

/** An InvocationLog whose every line ends with the correlation id, and with properties as `key=value`. */
export interface CorrelatedLog {
  log(message: string, properties?: LogProperties): void;
  warn(message: string, properties?: LogProperties): void;
  error(message: string, properties?: LogProperties): void;
}

/**
 * One line per entry, `message key=value … correlationId=…`: what a person greps for and what
 * Application Insights' traces table shows whole (the host adds the invocation id as a dimension).
 * Values with spaces or quotes are JSON-quoted so a line always splits back into its fields.
 */
export function correlatedLog(log: InvocationLog, correlationId: string): CorrelatedLog {
  const line = (message: string, properties?: LogProperties) =>
    [message, ...formatProperties({ ...properties, correlationId })].join(' ');
  return {
    log: (message, properties) => log.log(line(message, properties)),
    warn: (message, properties) => log.warn(line(message, properties)),
    error: (message, properties) => log.error(line(message, properties)),
  };
}

function formatProperties(properties: LogProperties): string[] {
  return Object.entries(properties)
    .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
    .map(([key, value]) => {
      const text = String(value).replace(/[\r\n]+/g, ' ');
      return `${key}=${/[\s"=]/.test(text) || text === '' ? JSON.stringify(text) : text}`;
    });
}
