import { randomUUID } from 'node:crypto';
import functions from '@azure/functions';

/**
 * One getBatchStatus invocation as the Functions host would hand it over: a real HttpRequest and
 * InvocationContext, logging nowhere. Import after `installFunctionsCore()`.
 */
export function lookupInvocation(key: { customerId: string; trackingId: string }) {
  // CommonJS: its classes are not visible to ESM as named exports.
  const { HttpRequest, InvocationContext } = functions;
  const request = new HttpRequest({
    method: 'GET',
    url: `http://localhost:7071/api/customers/${key.customerId}/batchJobStatus/${key.trackingId}`,
    params: { customerId: key.customerId, trackingId: key.trackingId },
    headers: {},
  });
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: 'getBatchStatus',
    logHandler: () => {},
  });
  return { request, context };
}
