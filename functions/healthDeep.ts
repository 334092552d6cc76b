import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { services } from '../shared/composition.js';
import { deepHealthResult } from '../shared/health/deep-health.js';
import { runHttpEndpoint } from '../shared/http/endpoint.js';

/** Deep health: storage, Key Vault and token acquisition, each within 3 s; 200 healthy, 503 otherwise. */
export async function healthDeep(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  return runHttpEndpoint(
    request,
    context,
    async ({ correlationId }) => deepHealthResult(await services().deepHealth.run(), correlationId),
    { telemetry: services().endpointTelemetry },
  );
}

app.http('healthDeep', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'health/deep',
  handler: healthDeep,
});
