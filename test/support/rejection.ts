import { expect } from 'vitest';

/**
 * What `promise` rejects with, asserted to be a `type`: a promise that fulfils, or rejects with
 * anything else, fails the test here, with vitest's own message.
 */
export async function rejectionOf<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}
