import { z } from 'zod';
import { deepHealthReportSchema, unhealthyProblemSchema } from '../health/deep-health-schema.js';
import { livenessReportSchema } from '../health/liveness-schema.js';
import { problemSchema } from '../http/problem-schema.js';
import { completionEventSchema } from '../notifications/completion-event.js';
import { batchUploadDetailsSchema, deviceUploadDetailsSchema } from '../partner-center/model.js';
import * as trackings from '../trackings/model.js';
import { COMPONENT_SCHEMA_PREFIX, type JsonSchema, type NamedSchema, named } from './json-schema.js';

/** A minimal shape of this very document, for the `/openapi.json` answer. */
export const openApiDocumentSchema = z
  .object({
    openapi: z.string().regex(/^3\.1\.\d+$/),
    info: z.object({ title: z.string(), version: z.string() }).loose(),
    paths: z.record(z.string(), z.record(z.string(), z.unknown())),
    components: z.record(z.string(), z.unknown()).optional(),
  })
  .loose()
  .describe('An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.1)')
  .meta({ id: 'OpenApiDocument' });

/** The named schemas of the document, with the side of the wire each describes. */
export const documentedSchemas: readonly NamedSchema[] = [
  named(batchUploadDetailsSchema, 'output', 'BatchUploadDetails'),
  named(deviceUploadDetailsSchema, 'output', 'DeviceUploadDetails'),
  named(trackings.trackingRecordSchema, 'output'),
  named(trackings.trackingWithDevicesSchema, 'output'),
  named(trackings.trackingListSchema, 'output'),
  named(problemSchema, 'output'),
  named(livenessReportSchema, 'output'),
  named(deepHealthReportSchema, 'output'),
  named(unhealthyProblemSchema, 'output'),
  named(openApiDocumentSchema, 'output'),
  named(trackings.registerTrackingBodySchema, 'input'),
  named(trackings.listTrackingsQuerySchema, 'input'),
  named(completionEventSchema, 'output'),
];

export const idOf = (schema: z.ZodType): string => {
  const found = documentedSchemas.find((entry) => entry.schema === schema);
  if (!found) throw new Error('The OpenAPI document refers to a schema it does not list.');
  return found.id;
};
export const ref = (schema: z.ZodType): JsonSchema => ({ $ref: `${COMPONENT_SCHEMA_PREFIX}${idOf(schema)}` });
