/**
 * The admin's request validation: TypeBox's compiled checks with no type coercion. Fastify's Ajv
 * defaults coerce (`{"limit": "2"}` and `{"limit": true}` would pass as 2 and 1) and TypeBox's own
 * `Value.Convert` truncates (`?limit=1.5` would become 1), so neither decides here. Bodies must
 * carry the declared JSON types; the query string and path parameters are text on the wire, and a
 * field declared as a number accepts only a plain decimal numeral there (`2`, not `1.5` for an
 * integer, `0x10` or `1e2`).
 */
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

const DECIMAL = /^-?(0|[1-9]\d*)(\.\d+)?$/;

/** Names of the top-level `integer` / `number` properties of an object schema. */
function numericFields(schema: TSchema): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  return Object.keys(properties).filter((key) => {
    const type = properties[key]!.type;
    return type === 'integer' || type === 'number';
  });
}

/** `value` with each numeric field's decimal text turned into a number; anything else as it was. */
function fromText(value: unknown, fields: readonly string[]): unknown {
  if (fields.length === 0 || value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of fields) {
    const text = record[key];
    if (typeof text === 'string' && DECIMAL.test(text)) {
      copy ??= { ...record };
      copy[key] = Number(text);
    }
  }
  return copy ?? value;
}

/** Fastify validator compiler: `app.setValidatorCompiler(strictValidatorCompiler)`. */
export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const validator = Compile(schema);
  const fields = httpPart === 'querystring' || httpPart === 'params' ? numericFields(schema) : [];
  return (input: unknown) => {
    const value = fromText(input, fields);
    if (validator.Check(value)) return { value };
    return { error: validator.Errors(value) as unknown as FastifySchemaValidationError[] };
  };
};
