import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/**
 * The tracking API, one function for its four operations:
 * `POST trackings`, `GET trackings`, `GET trackings/{customerId}/{trackingId}`,
 * `DELETE trackings/{customerId}/{trackingId}`.
 */
export async function trackings(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { readJsonBody, RequestError, runHttpEndpoint, services, trackingResponse } = await domain();
  return runHttpEndpoint(
    request,
    context,
    async () => {
      const { customerId, trackingId } = request.params;
      const tracking = services().trackingService;
      const hasKey = customerId !== undefined && trackingId !== undefined;
      if (!hasKey && customerId !== undefined) {
        throw new RequestError(
          'notFound',
          'Use /api/trackings/{customerId}/{trackingId}, or /api/trackings?customerId=… to list.',
        );
      }
      switch (`${request.method.toUpperCase()} ${hasKey ? 'one' : 'all'}`) {
        case 'POST all':
          return trackingResponse.registered(await tracking.register(await readJsonBody(request)));
        case 'GET all':
          return trackingResponse.list(await tracking.list(Object.fromEntries(request.query)));
        case 'GET one':
          return trackingResponse.record(
            await tracking.get(customerId!, trackingId!, {
              includeDevices: request.query.get('include') === 'devices',
            }),
          );
        case 'DELETE one':
          await tracking.cancel(customerId!, trackingId!);
          return trackingResponse.cancelled();
        default:
          throw new RequestError('methodNotAllowed', `${request.method} is not supported on this resource.`);
      }
    },
    { authorize: services().authorizeCaller, telemetry: services().endpointTelemetry },
  );
}

app.http('trackings', {
  methods: ['GET', 'POST', 'DELETE'],
  authLevel: 'function',
  route: 'trackings/{customerId?}/{trackingId?}',
  handler: trackings,
});
