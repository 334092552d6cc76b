import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';

/** A JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) as plain JSON. */
export type JsonSchema = { [keyword: string]: unknown };

/** Where the document keeps named schemas; every `$ref` the conversion writes points here. */
export const COMPONENT_SCHEMA_PREFIX = '#/components/schemas/';

/** Which side of the wire a schema describes: request bodies are read as `input`, answers as `output`. */
export type SchemaSide = 'input' | 'output';

/** A zod schema that the document names in `components/schemas`. */
export interface NamedSchema {
  id: string;
  schema: z.ZodType;
  side: SchemaSide;
}

/** The schema's own `.meta({ id })`; the OpenAPI component takes that name. */
export function metaId(schema: z.ZodType): string | undefined {
  const id = z.globalRegistry.get(schema)?.id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * A named schema under its meta id, or under `fallbackId` for a schema its module left unnamed.
 * A fallback that contradicts an existing meta id is refused: one schema, one name.
 */
export function named(schema: z.ZodType, side: SchemaSide, fallbackId?: string): NamedSchema {
  const own = metaId(schema);
  const id = own ?? fallbackId;
  if (id === undefined)
    throw new Error('A schema in the OpenAPI document needs a .meta({ id }) or a fallback id.');
  if (own !== undefined && fallbackId !== undefined && own !== fallbackId) {
    throw new Error(`Schema ${own} cannot also be named ${fallbackId}.`);
  }
  return { id, schema, side };
}

const SHARED_DEF_REF = /^#\/components\/schemas\/__shared#\/\$defs\/(.+)$/;

/**
 * `components/schemas` for the given zod schemas, through `z.toJSONSchema`: each named schema
 * becomes one component and every schema nested in it that carries its own meta id (say
 * `TrackingState` inside `Tracking`) becomes a component of its own, referenced by `$ref`.
 * Requests and answers are converted separately (`io: 'input'` / `'output'`): zod strips unknown
 * keys on input, so `additionalProperties: false` is only true of what the app sends.
 */
export function schemaComponents(schemas: readonly NamedSchema[]): Record<string, JsonSchema> {
  const components: Record<string, JsonSchema> = {};
  const add = (id: string, schema: JsonSchema) => {
    const existing = components[id];
    if (existing !== undefined && !isDeepStrictEqual(existing, schema)) {
      throw new Error(
        `Schema ${id} converts differently for requests and for answers; give the two sides different ids.`,
      );
    }
    components[id] = schema;
  };
  for (const side of ['output', 'input'] as const) {
    const onSide = schemas.filter((s) => s.side === side);
    if (onSide.length === 0) continue;
    const registry = z.registry<{ id: string }>();
    for (const { id, schema } of onSide) registry.add(schema, { id });
    const converted = z.toJSONSchema(registry, {
      target: 'draft-2020-12',
      io: side,
      unrepresentable: 'throw',
      uri: (id) => `${COMPONENT_SCHEMA_PREFIX}${id}`,
    }).schemas as Record<string, JsonSchema>;
    // Nested schemas with their own id land in a `__shared` bag; they are components like any other.
    const { __shared, ...roots } = converted;
    const shared = ((__shared as { $defs?: Record<string, JsonSchema> } | undefined)?.$defs ?? {}) as Record<
      string,
      JsonSchema
    >;
    for (const [id, schema] of [...Object.entries(roots), ...Object.entries(shared)]) {
      add(id, componentSchema(schema));
    }
  }
  return components;
}

/** One schema with no named parts (a parameter or header), converted on its side of the wire. */
export function inlineSchema(schema: z.ZodType, side: SchemaSide): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: side,
    unrepresentable: 'throw',
  }) as JsonSchema;
  const { $schema: _dialect, ...rest } = json;
  if ('$defs' in rest || '$ref' in rest) {
    throw new Error('An inline schema has named parts; list it among the components instead.');
  }
  return rest;
}

/** Drops what a component must not repeat (the dialect is the document's) and relinks shared refs. */
function componentSchema(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return relink(rest) as JsonSchema;
}

function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === '$ref' && typeof inner === 'string') {
      const shared = SHARED_DEF_REF.exec(inner);
      out[key] = shared ? `${COMPONENT_SCHEMA_PREFIX}${shared[1]}` : inner;
    } else {
      out[key] = relink(inner);
    }
  }
  return out;
}
