import { app } from '@azure/functions';
import { trackingHandler } from '../shared/tracking-handler.js';

/** `POST trackings`: starts tracking a batch upload (201 when new, 200 when already tracked). */
export const registerTracking = trackingHandler(
  async (request, tracking, { readJsonBody, trackingResponse }) =>
    trackingResponse.registered(await tracking.register(await readJsonBody(request))),
);

app.post('registerTracking', { authLevel: 'function', route: 'trackings', handler: registerTracking });
