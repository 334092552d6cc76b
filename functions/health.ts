import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/**
 * Liveness: answers whenever the process can serve requests; touches nothing else. `?deep=true`
 * is redirected to `health/deep`, where the host asks for a function key this anonymous one cannot.
 */
export async function health(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { deepHealthRedirect, livenessReport, runHttpEndpoint, wantsDeepHealth } = await domain();
  return runHttpEndpoint(request, context, async () => {
    if (wantsDeepHealth(request.query)) return deepHealthRedirect(request.url);
    return { status: 200, headers: { 'Cache-Control': 'no-store' }, jsonBody: livenessReport() };
  });
}

app.http('health', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'health',
  handler: health,
});
