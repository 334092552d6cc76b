import { services } from './composition.js';
import { type HttpCall, RequestError, runHttpEndpoint } from './http/endpoint.js';
import type { HttpResult } from './http/problem.js';
import type { HostInvocation } from './telemetry/invocation-log.js';
import type { TrackingService } from './trackings/tracking-service.js';

/**
 * Runs one operation of the tracking API as an endpoint: the caller checked, the invocation
 * correlated, failures answered as problem+json. Each `functions/*Tracking*.ts` adapter is one call.
 */
export function runTrackingEndpoint(
  call: HttpCall,
  host: HostInvocation,
  operation: (tracking: TrackingService) => Promise<HttpResult>,
): Promise<HttpResult> {
  return runHttpEndpoint(call, host, () => operation(services().trackingService), {
    authorize: services().authorizeCaller,
    telemetry: services().endpointTelemetry,
  });
}

/** The methods each tracking route serves (docs/design.md, "Contracts"). */
const TRACKING_ROUTE_METHODS = { collection: ['GET', 'POST'], record: ['GET', 'DELETE'] } as const;

/**
 * Why a request under `trackings` reached no operation: a known route with another method is a
 * 405 naming the methods it accepts; any other shape is a 404 showing the two shapes there are.
 * The shape is read from the URL path as sent (still percent-encoded), the way the host routes,
 * so an id holding an encoded `/` stays one segment.
 */
function unsupportedTrackingRequest(method: string, url: string): RequestError {
  const segments = new URL(url, 'http://localhost').pathname.split('/').filter((segment) => segment !== '');
  const below = segments.slice(segments.findIndex((segment) => segment.toLowerCase() === 'trackings') + 1);
  const route = below.length === 0 ? 'collection' : below.length === 2 ? 'record' : undefined;
  if (route === undefined) {
    return new RequestError(
      'notFound',
      'Use /api/trackings/{customerId}/{trackingId}, or /api/trackings?customerId=… to list.',
    );
  }
  return new RequestError('methodNotAllowed', `${method} is not supported on this resource.`, [], {
    Allow: TRACKING_ROUTE_METHODS[route].join(', '),
  });
}

/**
 * The answer to a request under `trackings` that no operation takes. It asks for no key and no token: like the host's own 404 and 405, it says only
 * what the published OpenAPI document says, and touches no data.
 */
export function answerUnsupportedTrackingRequest(call: HttpCall, host: HostInvocation): Promise<HttpResult> {
  return runHttpEndpoint(
    call,
    host,
    async () => {
      throw unsupportedTrackingRequest(call.method, call.url);
    },
    { telemetry: services().endpointTelemetry },
  );
}
