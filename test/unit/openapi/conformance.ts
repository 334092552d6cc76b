import { z } from 'zod';
import type { JsonSchema } from '../../../shared/openapi/json-schema.js';
import {
  HTTP_METHODS,
  type HttpMethod,
  type OpenApiDocument,
  type OperationObject,
  type ResponseObject,
} from '../../../shared/openapi/objects.js';

/**
 * Checks real HTTP answers against an OpenAPI 3.1 document, with the document's own JSON Schemas:
 * each one is turned back into a validator with `z.fromJSONSchema` (its `#/components/schemas/…`
 * refs relocated to `#/$defs/…`, the only form that function resolves). Nothing here knows the
 * app's zod schemas, so a document that says something else than the app does is caught.
 */

const COMPONENT_REF = /^#\/components\/schemas\/(.+)$/;

/** The value a local JSON pointer (`#/a/b`) names in the document, or undefined. */
export function resolvePointer(document: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  const segments = ref
    .slice(1)
    .split('/')
    .filter((s) => s !== '')
    .map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'));
  let value: unknown = document;
  for (const segment of segments) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** Every `$ref` string anywhere in a JSON value, with where it was found. */
export function collectRefs(value: unknown, at = '#'): { ref: string; at: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => collectRefs(item, `${at}/${i}`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) =>
    key === '$ref' && typeof inner === 'string' ? [{ ref: inner, at }] : collectRefs(inner, `${at}/${key}`),
  );
}

function relocateRefs(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', '"#/$defs/'));
}

/** A validator for one schema of the document (which may `$ref` its components). */
export function documentValidator(document: OpenApiDocument, schema: JsonSchema): z.ZodType {
  const root = { ...(relocateRefs(schema) as JsonSchema), $defs: relocateRefs(document.components.schemas) };
  return z.fromJSONSchema(root as Parameters<typeof z.fromJSONSchema>[0]);
}

/**
 * The schema with every `$ref` replaced by what it points at (our schemas have no cycles), so two
 * schemas can be compared by meaning rather than by where their parts happen to be kept. A `$ref`
 * with sibling keywords keeps them, the target going under `allOf` (as 2020-12 reads it).
 */
export function dereference(schema: unknown, resolve: (ref: string) => unknown, depth = 0): unknown {
  if (depth > 64) throw new Error('Schema nesting too deep (a cycle?)');
  if (Array.isArray(schema)) return schema.map((item) => dereference(item, resolve, depth + 1));
  if (schema === null || typeof schema !== 'object') return schema;
  const { $ref, $defs: _defs, $schema: _dialect, $id: _id, ...rest } = schema as Record<string, unknown>;
  const inlined = Object.fromEntries(
    Object.entries(rest).map(([key, value]) => [key, dereference(value, resolve, depth + 1)]),
  );
  if (typeof $ref !== 'string') return inlined;
  const target = resolve($ref);
  if (target === undefined) throw new Error(`Unresolvable $ref ${$ref}`);
  const resolved = dereference(target, resolve, depth + 1);
  return Object.keys(inlined).length === 0 ? resolved : { ...inlined, allOf: [resolved] };
}

/** Dereferences a schema of the document against the document's components. */
export function dereferenceInDocument(document: OpenApiDocument, schema: unknown): unknown {
  return dereference(schema, (ref) => resolvePointer(document, ref));
}

/** Dereferences a standalone `z.toJSONSchema` result against its own `$defs`. */
export function dereferenceStandalone(schema: JsonSchema): unknown {
  return dereference(schema, (ref) => resolvePointer(schema, ref));
}

/** The component id a media type's schema refers to, if it is a plain `$ref`. */
export function componentIdOf(schema: JsonSchema | undefined): string | undefined {
  const ref = schema?.$ref;
  return typeof ref === 'string' ? COMPONENT_REF.exec(ref)?.[1] : undefined;
}

export interface FoundOperation {
  path: string;
  method: HttpMethod;
  operation: OperationObject;
  params: Record<string, string>;
}

/**
 * The documented operation for a request path (below the server URL `/api`). Literal segments
 * match case-insensitively, as Functions routes do.
 */
export function findOperation(
  document: OpenApiDocument,
  method: string,
  pathname: string,
): FoundOperation | undefined {
  const wanted = method.toLowerCase() as HttpMethod;
  const segments = pathname.replace(/\/+$/, '').split('/');
  for (const [path, item] of Object.entries(document.paths)) {
    const template = path.split('/');
    if (template.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = template.every((part, i) => {
      const actual = segments[i]!;
      const param = /^\{([^}]+)\}$/.exec(part);
      if (param) {
        params[param[1]!] = decodeURIComponent(actual);
        return actual !== '';
      }
      return part.toLowerCase() === actual.toLowerCase();
    });
    const operation = matches && HTTP_METHODS.includes(wanted) ? item[wanted] : undefined;
    if (operation) return { path, method: wanted, operation, params };
  }
  return undefined;
}

export interface ObservedResponse {
  method: string;
  /** The request path below `/api`, e.g. `/trackings`. */
  path: string;
  status: number;
  headers: Headers;
  body: string;
}

export interface Verdict {
  operationId?: string;
  /** The documented response, when the status is documented. */
  response?: ResponseObject;
  /** The component id of the body's schema, when there is a body. */
  schemaId?: string;
  body?: unknown;
  /** What does not match the document; empty when everything does. */
  violations: string[];
}

/** Checks one answer: status, headers, content type and body, against the document alone. */
export function checkResponse(document: OpenApiDocument, observed: ObservedResponse): Verdict {
  const found = findOperation(document, observed.method, observed.path);
  if (!found) {
    return { violations: [`${observed.method} ${observed.path}: no documented operation`] };
  }
  const { operation } = found;
  const where = `${operation.operationId} ${observed.status}`;
  const response = operation.responses[String(observed.status)];
  if (!response) {
    return {
      operationId: operation.operationId,
      violations: [
        `${where}: status not documented (documented: ${Object.keys(operation.responses).join(', ')})`,
      ],
    };
  }
  const violations: string[] = [];
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const value = observed.headers.get(name);
    if (value === null) {
      if (header.required) violations.push(`${where}: required header ${name} is missing`);
      continue;
    }
    const result = documentValidator(document, header.schema).safeParse(value);
    if (!result.success) violations.push(`${where}: header ${name}: '${value}' ${issues(result.error)}`);
  }

  const verdict: Verdict = { operationId: operation.operationId, response, violations };
  if (!response.content) {
    if (observed.body !== '') violations.push(`${where}: a body where none is documented`);
    return verdict;
  }
  const contentType = observed.headers.get('content-type');
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  const media = mediaType === undefined ? undefined : response.content[mediaType];
  if (!media) {
    violations.push(
      `${where}: content type ${contentType ?? '(none)'} is not one of ${Object.keys(response.content).join(', ')}`,
    );
    return verdict;
  }
  let body: unknown;
  try {
    body = JSON.parse(observed.body);
  } catch {
    violations.push(`${where}: body is not JSON`);
    return verdict;
  }
  verdict.body = body;
  verdict.schemaId = componentIdOf(media.schema);
  const result = documentValidator(document, media.schema).safeParse(body);
  if (!result.success) violations.push(`${where}: body ${issues(result.error)}`);

  if (mediaType === 'application/problem+json') {
    const problem = body as { status?: unknown; type?: unknown; correlationId?: unknown };
    if (problem.status !== observed.status)
      violations.push(`${where}: problem status ${String(problem.status)}`);
    const listed = Object.values(media.examples ?? {}).map((e) => (e.value as { type?: unknown }).type);
    if (!listed.includes(problem.type)) {
      violations.push(`${where}: problem type ${String(problem.type)} is not listed for this status`);
    }
    const echoed = observed.headers.get('ms-correlationid');
    if (problem.correlationId !== echoed) {
      violations.push(
        `${where}: correlationId ${String(problem.correlationId)} differs from the header ${echoed}`,
      );
    }
  }
  return verdict;
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
