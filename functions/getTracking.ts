import { app } from '@azure/functions';
import { trackingHandler } from '../shared/tracking-handler.js';

/** `GET trackings/{customerId}/{trackingId}`: one tracking; `?include=devices` adds the devices. */
export const getTracking = trackingHandler(async (request, tracking, { trackingResponse }) => {
  const { customerId = '', trackingId = '' } = request.params;
  const includeDevices = request.query.get('include') === 'devices';
  return trackingResponse.record(await tracking.get(customerId, trackingId, { includeDevices }));
});

app.get('getTracking', {
  authLevel: 'function',
  route: 'trackings/{customerId}/{trackingId}',
  handler: getTracking,
});
