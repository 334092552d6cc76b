/** The HTTP status of a storage SDK error (RestError and friends), if it has one. */
export function statusCodeOf(error: unknown): number | undefined {
  return typeof error === 'object' &&
    error !== null &&
    'statusCode' in error &&
    typeof error.statusCode === 'number'
    ? error.statusCode
    : undefined;
}
