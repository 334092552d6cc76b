import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/** `GET trackings`: one page of tracked uploads, newest first, filtered by the query. */
export async function listTrackings(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { runTrackingEndpoint, trackingResponse } = await domain();
  return runTrackingEndpoint(request, context, async (tracking) =>
    trackingResponse.list(await tracking.list(Object.fromEntries(request.query))),
  );
}

app.get('listTrackings', { authLevel: 'function', route: 'trackings', handler: listTrackings });
