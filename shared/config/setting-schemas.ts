import { z } from 'zod';

/** The value checks settings share; each failure message completes "<SETTING> …". */

/** A reader of one setting: parsed, or `undefined` when unset or bad (the problem is recorded). */
export type ReadSetting = <T>(name: string, schema: z.ZodType<T>, fallback?: string) => T | undefined;

export const text = z.string().trim().min(1);
export const guid = z.string().trim().regex(z.regexes.guid, 'must be a GUID');
export const httpsUrl = z
  .string()
  .trim()
  .refine((v) => URL.canParse(v) && new URL(v).protocol === 'https:', 'must be an absolute https:// URL')
  .transform((v) => v.replace(/\/+$/, ''));
export const positiveInt = (max: number) =>
  z.coerce
    .number({ error: 'must be a number' })
    .int('must be a whole number')
    .positive('must be greater than 0')
    .max(max, `must be at most ${max}`);
