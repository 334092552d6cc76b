import { z } from 'zod';

/**
 * Partner-wide throttling as Partner Center does it: one budget shared by every caller and every
 * instance of the partner, whatever the customer or batch. Two shapes:
 * - `window`: at most `limit` requests per fixed window of `windowSeconds` (windows aligned to the
 *   simulator clock's epoch), then 429 with `Retry-After` = the whole seconds left in the window.
 * - `bucket`: a token bucket of `burst` tokens refilled at `ratePerSecond`; an empty bucket answers
 *   429 with `Retry-After` = the whole seconds until the next token.
 */
export type ThrottlingPolicy =
  | { kind: 'window'; limit: number; windowSeconds: number }
  | { kind: 'bucket'; ratePerSecond: number; burst: number };

export const throttlingPolicySchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('window'),
    limit: z.number().int().min(0),
    windowSeconds: z.number().int().positive(),
  }),
  z.object({
    kind: z.literal('bucket'),
    ratePerSecond: z.number().positive(),
    burst: z.number().int().positive(),
  }),
]);

/** Decides, request by request, whether the partner's budget still has room. */
export class PartnerThrottle {
  #windowStart = Number.NaN;
  #windowCount = 0;
  #tokens = 0;
  #refilledAt = 0;

  constructor(
    readonly policy: ThrottlingPolicy,
    private readonly now: () => number,
  ) {
    if (policy.kind === 'bucket') {
      this.#tokens = policy.burst;
      this.#refilledAt = now();
    }
  }

  /** Takes one request from the budget: `undefined` when allowed, else the Retry-After in seconds. */
  take(): number | undefined {
    const now = this.now();
    if (this.policy.kind === 'window') {
      const windowMs = this.policy.windowSeconds * 1000;
      const start = Math.floor(now / windowMs) * windowMs;
      if (start !== this.#windowStart) {
        this.#windowStart = start;
        this.#windowCount = 0;
      }
      if (this.#windowCount < this.policy.limit) {
        this.#windowCount++;
        return undefined;
      }
      return Math.max(1, Math.ceil((start + windowMs - now) / 1000));
    }
    const { ratePerSecond, burst } = this.policy;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) / 1000) * ratePerSecond);
    this.#refilledAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - this.#tokens) / ratePerSecond));
  }
}

/**
 * `--throttle window:200/20` (200 requests per 20-second window) or `--throttle bucket:10/50`
 * (10 a second, bursts of 50), as `npm run dev` accepts it.
 */
export function parseThrottlingFlag(value: string): ThrottlingPolicy {
  const match = /^(window|bucket):(\d+(?:\.\d+)?)\/(\d+)$/.exec(value.trim());
  if (!match) {
    throw new Error(
      `--throttle must be window:<limit>/<seconds> or bucket:<per second>/<burst> (got ${JSON.stringify(value)})`,
    );
  }
  const [, kind, first, second] = match as unknown as [string, string, string, string];
  const policy =
    kind === 'window'
      ? { kind, limit: Number(first), windowSeconds: Number(second) }
      : { kind, ratePerSecond: Number(first), burst: Number(second) };
  return throttlingPolicySchema.parse(policy);
}
