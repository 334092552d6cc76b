import { describe, expect, it } from 'vitest';
import { TrackingNotFoundError, ValidationError } from '../../../shared/trackings/errors.js';

describe('tracking errors', () => {
  it('a ValidationError lists every problem in its message, and has a message when there are none', () => {
    const problems = [
      { field: 'customerId', message: 'must be a GUID' },
      { field: 'label', message: 'is too long' },
    ];
    const error = new ValidationError(problems);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ValidationError');
    expect(error.problems).toBe(problems);
    expect(error.message).toBe('customerId: must be a GUID; label: is too long');
    expect(new ValidationError([]).message).toBe('The request is not valid');
  });

  it('a TrackingNotFoundError names the tracking and how to register it', () => {
    const key = { customerId: 'c', trackingId: 't' };
    const error = new TrackingNotFoundError(key);
    expect(error.name).toBe('TrackingNotFoundError');
    expect(error.key).toBe(key);
    expect(error.message).toBe(
      'No tracking is registered for customer c and tracking id t; register it with POST /api/trackings',
    );
  });
});
