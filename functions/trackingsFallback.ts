import {
  app,
  type HttpMethod,
  type HttpRequest,
  type HttpResponseInit,
  type InvocationContext,
} from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/**
 * Every request under `trackings` that no operation takes: a known route with another method
 * gets a 405 problem with `Allow`, any other path a 404 problem. The Functions host tries a
 * catch-all route after every more specific one (docs/design.md, "One function per operation").
 */
export async function trackingsFallback(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { answerUnsupportedTrackingRequest } = await domain();
  return answerUnsupportedTrackingRequest(request, context);
}

const EVERY_METHOD: HttpMethod[] = [
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'CONNECT',
];

app.http('trackingsFallback', {
  methods: EVERY_METHOD,
  authLevel: 'anonymous',
  route: 'trackings/{*rest}',
  handler: trackingsFallback,
});
