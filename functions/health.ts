import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { livenessReport } from '../shared/health/liveness.js';

/** Liveness: answers whenever the process can serve requests; touches nothing else. */
export async function health(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
  return { status: 200, headers: { 'Cache-Control': 'no-store' }, jsonBody: livenessReport() };
}

app.http('health', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'health',
  handler: health,
});
