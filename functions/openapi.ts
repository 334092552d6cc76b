import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

/** The domain loads on first use, not with this module: see shared/app.ts. */
const domain = () => import('../shared/app.js');

/** The OpenAPI 3.1 document of every HTTP function of the app, generated from the schemas the code uses. */
export async function openapi(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const { openApiDocument, runHttpEndpoint } = await domain();
  return runHttpEndpoint(request, context, async () => ({
    status: 200,
    headers: { 'Content-Type': 'application/json; charset=utf-8' },
    jsonBody: openApiDocument(),
  }));
}

app.http('openapi', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: 'openapi.json',
  handler: openapi,
});
