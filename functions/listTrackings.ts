import { app } from '@azure/functions';
import { trackingHandler } from '../shared/tracking-handler.js';

/** `GET trackings`: one page of tracked uploads, newest first, filtered by the query. */
export const listTrackings = trackingHandler(async (request, tracking, { trackingResponse }) =>
  trackingResponse.list(await tracking.list(Object.fromEntries(request.query))),
);

app.get('listTrackings', { authLevel: 'function', route: 'trackings', handler: listTrackings });
