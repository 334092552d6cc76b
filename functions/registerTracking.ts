import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/** `POST trackings`: starts tracking a batch upload (201 when new, 200 when already tracked). */
export async function registerTracking(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { readJsonBody, runTrackingEndpoint, trackingResponse } = await domain();
  return runTrackingEndpoint(request, context, async (tracking) =>
    trackingResponse.registered(await tracking.register(await readJsonBody(request))),
  );
}

app.post('registerTracking', { authLevel: 'function', route: 'trackings', handler: registerTracking });
