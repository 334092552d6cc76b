import type { BatchKey } from '../partner-center/model.js';
import type { ValidationProblem } from './model.js';

/** The request itself is wrong (400): nothing was stored and Partner Center was not called. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(readonly problems: ValidationProblem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}`).join('; ') || 'The request is not valid');
  }
}

/** No tracking is registered under this key (404). */
export class TrackingNotFoundError extends Error {
  override readonly name = 'TrackingNotFoundError';
  constructor(readonly key: BatchKey) {
    super(
      `No tracking is registered for customer ${key.customerId} and tracking id ${key.trackingId}; register it with POST /api/trackings`,
    );
  }
}
