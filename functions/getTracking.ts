import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/** `GET trackings/{customerId}/{trackingId}`: one tracking; `?include=devices` adds the devices. */
export async function getTracking(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { runTrackingEndpoint, trackingResponse } = await domain();
  const { customerId = '', trackingId = '' } = request.params;
  return runTrackingEndpoint(request, context, async (tracking) =>
    trackingResponse.record(
      await tracking.get(customerId, trackingId, {
        includeDevices: request.query.get('include') === 'devices',
      }),
    ),
  );
}

app.get('getTracking', {
  authLevel: 'function',
  route: 'trackings/{customerId}/{trackingId}',
  handler: getTracking,
});
