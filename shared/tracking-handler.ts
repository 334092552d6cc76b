import type { HttpCall } from './http/endpoint.js';
import type { HttpResult } from './http/problem.js';
import type { HostInvocation } from './telemetry/invocation-log.js';
import type { TrackingService } from './trackings/tracking-service.js';

/** What shared/app.ts offers a tracking operation: its response shapes and body reader. */
export type TrackingDomain = Pick<typeof import('./app.js'), 'readJsonBody' | 'trackingResponse'>;

/**
 * The handler of one tracking function (`functions/*Tracking*.ts`): `operation` maps the request
 * onto `TrackingService`. The module imports types only, and the domain (shared/app.ts) loads on
 * the first call, so a function module still costs little more than @azure/functions at start-up.
 */
export function trackingHandler(
  operation: (request: HttpCall, tracking: TrackingService, domain: TrackingDomain) => Promise<HttpResult>,
): (request: HttpCall, context: HostInvocation) => Promise<HttpResult> {
  return async (request, context) => {
    const domain = await import('./app.js');
    return domain.runTrackingEndpoint(request, context, (tracking) => operation(request, tracking, domain));
  };
}
