import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/** Deep health: storage, Key Vault and token acquisition, each within 3 s; 200 healthy, 503 otherwise. */
export async function healthDeep(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { deepHealthResult, runHttpEndpoint, services } = await domain();
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
