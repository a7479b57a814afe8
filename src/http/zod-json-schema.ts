/**
 * zod schemas → the JSON Schemas fastify validates and serializes with and @fastify/swagger
 * publishes (OpenAPI 3.0). The records themselves live in registry/schemas.ts,
 * http/admin-schemas.ts and http/dashboard-data-schemas.ts.
 */
import { z } from 'zod';

/**
 * A schema as the JSON Schema fastify and the OpenAPI 3.0 document use: `nullable` rather than
 * a null type (OpenAPI 3.0 has no null type; ajv and fast-json-stringify read `nullable`).
 * Answers are described as they leave (`io: 'output'`: objects list their properties and allow
 * no others, so the serializer writes exactly the record), bodies as they arrive.
 */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    target: 'openapi-3.0',
    io,
    // z.number().int() states the safe-integer range; JSON numbers say nothing more useful
    override: ({ jsonSchema: s }) => {
      if (s.type !== 'integer') return;
      if (s.minimum === Number.MIN_SAFE_INTEGER) delete s.minimum;
      if (s.maximum === Number.MAX_SAFE_INTEGER) delete s.maximum;
    },
  }) as Record<string, unknown>;
}

/** A record that may grow fields: answers carry any field the registry adds (as before zod). */
export function openRecord(schema: z.ZodType): Record<string, unknown> {
  return { ...jsonSchema(schema), additionalProperties: true };
}
