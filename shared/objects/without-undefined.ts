/**
 * The same object without its undefined fields: what is written (to storage, to a response, over
 * defaults) then holds only what is set, exactly as the schemas describe.
 */
export function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
