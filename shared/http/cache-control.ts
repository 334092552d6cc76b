/**
 * `max-stale` of a request's Cache-Control (RFC 9111), in seconds: Infinity without a value (any
 * age), the value (token or quoted) otherwise; `undefined` when absent or malformed (then no stale
 * answer).
 */
export function maxStaleOf(cacheControl: string | null | undefined): number | undefined {
  if (!cacheControl) return undefined;
  for (const directive of cacheControl.split(',')) {
    const [name, ...rest] = directive.split('=');
    if (name?.trim().toLowerCase() !== 'max-stale') continue;
    if (rest.length === 0) return Number.POSITIVE_INFINITY;
    const value = rest
      .join('=')
      .trim()
      .replace(/^"(.*)"$/, '$1');
    return /^\d+$/.test(value) ? Number(value) : undefined;
  }
  return undefined;
}
