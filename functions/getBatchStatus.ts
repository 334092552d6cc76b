import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/** Partner Center's batch upload status, through the app's own credentials. */
export async function getBatchStatus(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { services, runHttpEndpoint, lookupResponse, maxStaleOf } = await domain();
  return runHttpEndpoint(
    request,
    context,
    async ({ correlationId, log }) => {
      const result = await services().batchStatusLookup.lookup(
        request.params.customerId,
        request.params.trackingId,
        {
          refresh: request.query.get('refresh') === 'true',
          correlationId,
          log,
          maxStaleSeconds: maxStaleOf(request.headers.get('cache-control')),
        },
      );
      return lookupResponse(result);
    },
    { authorize: services().authorizeCaller, telemetry: services().endpointTelemetry },
  );
}

app.http('getBatchStatus', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'customers/{customerId}/batchJobStatus/{trackingId}',
  handler: getBatchStatus,
});
