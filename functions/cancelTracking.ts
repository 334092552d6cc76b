import { app } from '@azure/functions';
import { trackingHandler } from '../shared/tracking-handler.js';

/** `DELETE trackings/{customerId}/{trackingId}`: stops tracking; the record stays, as cancelled. */
export const cancelTracking = trackingHandler(async (request, tracking, { trackingResponse }) => {
  const { customerId = '', trackingId = '' } = request.params;
  await tracking.cancel(customerId, trackingId);
  return trackingResponse.cancelled();
});

app.deleteRequest('cancelTracking', {
  authLevel: 'function',
  route: 'trackings/{customerId}/{trackingId}',
  handler: cancelTracking,
});
