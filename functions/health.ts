import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { deepHealthRedirect, wantsDeepHealth } from '../shared/health/deep-health.js';
import { livenessReport } from '../shared/health/liveness.js';
import { runHttpEndpoint } from '../shared/http/endpoint.js';

/**
 * Liveness: answers whenever the process can serve requests; touches nothing else. `?deep=true`
 * is redirected to `health/deep`, where the host asks for a function key this anonymous one cannot.
 */
export async function health(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
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
