/**
 * An error as one line for a log or telemetry item: name and message only, never a stack, never
 * request details that could carry a token; bounded.
 */
export function describeError(error: unknown, maxLength = 500): string {
  return (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, maxLength);
}
