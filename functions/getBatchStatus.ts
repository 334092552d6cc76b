import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { services } from '../shared/composition.js';
import { runHttpEndpoint } from '../shared/http/endpoint.js';
import { lookupResponse } from '../shared/lookup/batch-status-lookup.js';

/** Partner Center's batch upload status, through the app's own credentials. */
export async function getBatchStatus(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  return runHttpEndpoint(
    request,
    context,
    async ({ correlationId }) => {
      const result = await services().batchStatusLookup.lookup(
        request.params.customerId,
        request.params.trackingId,
        {
          refresh: request.query.get('refresh') === 'true',
          correlationId,
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
