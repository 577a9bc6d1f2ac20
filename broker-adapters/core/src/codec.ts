/**
 * The default codec: objects as JSON, strings as text, bytes as bytes; decoding follows the
 * content type, so a message published by any client with a known type round-trips.
 */
import { DecodeError, ValidationError } from './errors.js';
import { findUnrepresentable, type Unrepresentable } from './json-check.js';
import type { Codec, Encoded } from './types.js';

export const JSON_TYPE = 'application/json';
export const TEXT_TYPE = 'text/plain';
export const BYTES_TYPE = 'application/octet-stream';

const encoder = new TextEncoder();
// fatal: a body that is not UTF-8 is undecodable rather than silently mangled.
const decoder = new TextDecoder('utf-8', { fatal: true });

function baseType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

function unrepresentable(found: Unrepresentable): ValidationError {
  const becomes = found.becomes === undefined ? '' : ` (it would arrive as ${found.becomes})`;
  return new ValidationError(
    `${found.path} is ${found.what}, which JSON cannot represent${becomes}: convert it first ` +
      '(Object.fromEntries(map), [...set], a string, …) or pass a codec that handles it (options.codec)',
  );
}

/**
 * Encode a payload by its JavaScript type. JSON payloads must survive the round trip: a value
 * JSON would silently change (`Map`, `Set`, `NaN`, a nested function, …) is a `BK_VALIDATION`
 * naming its path.
 */
export function encode(data: unknown): Encoded {
  if (typeof data === 'string') return { body: encoder.encode(data), contentType: TEXT_TYPE };
  if (data instanceof Uint8Array) return { body: data, contentType: BYTES_TYPE };
  if (data === undefined) throw new DecodeError('cannot encode undefined; publish null or an object instead');
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (cause) {
    // A bigint throws here; say where it is. A cycle would recurse without end: the walk's own
    // stack overflow means "no such value found", and the DecodeError below stands.
    let found: Unrepresentable | undefined;
    try {
      found = findUnrepresentable(data);
    } catch {
      found = undefined;
    }
    if (found) throw unrepresentable(found);
    throw new DecodeError('payload cannot be encoded as JSON', { cause });
  }
  if (json === undefined) throw new DecodeError(`cannot encode a ${typeof data} as JSON`);
  // After a successful stringify: no cycles left in what the walk descends into.
  const found = findUnrepresentable(data);
  if (found) throw unrepresentable(found);
  return { body: encoder.encode(json), contentType: JSON_TYPE };
}

/** Decode a body by its content type (JSON, text/*, anything else as bytes). */
export function decode(body: Uint8Array, contentType: string): unknown {
  // The types brokerkit itself writes, without parsing parameters.
  if (contentType === BYTES_TYPE) return body;
  const type = contentType === JSON_TYPE ? JSON_TYPE : baseType(contentType);
  if (type === JSON_TYPE || type.endsWith('+json')) {
    try {
      return JSON.parse(decoder.decode(body));
    } catch (cause) {
      throw new DecodeError(`body is not valid ${type}`, { cause });
    }
  }
  if (type.startsWith('text/')) {
    try {
      return decoder.decode(body);
    } catch (cause) {
      throw new DecodeError(`body is not valid UTF-8 ${type}`, { cause });
    }
  }
  return body;
}

/** The default {@link Codec}. */
export const defaultCodec: Codec = { encode, decode };
