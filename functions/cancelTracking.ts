import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/** `DELETE trackings/{customerId}/{trackingId}`: stops tracking; the record stays, as cancelled. */
export async function cancelTracking(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { runTrackingEndpoint, trackingResponse } = await domain();
  const { customerId = '', trackingId = '' } = request.params;
  return runTrackingEndpoint(request, context, async (tracking) => {
    await tracking.cancel(customerId, trackingId);
    return trackingResponse.cancelled();
  });
}

app.deleteRequest('cancelTracking', {
  authLevel: 'function',
  route: 'trackings/{customerId}/{trackingId}',
  handler: cancelTracking,
});
