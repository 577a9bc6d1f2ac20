/**
 * The default codec: objects as JSON, strings as text, bytes as bytes; decoding follows the
 * content type, so a message published by any client with a known type round-trips.
 */
import { DecodeError, ValidationError } from './errors.js';
import { findUnrepresentable, type Unrepresentable } from './json-check.js';
import { privateCopy } from './private-bytes.js';
import type { Codec, Encoded } from './types.js';

export const JSON_TYPE = 'application/json';
export const TEXT_TYPE = 'text/plain';
export const BYTES_TYPE = 'application/octet-stream';

const encoder = new TextEncoder();
/**
 * `TextEncoder.encode` of a short string costs ~1 µs on Node 20 (a new external ArrayBuffer each
 * time), five times `encodeInto` a reused buffer plus a copy into a buffer of the message's own:
 * bodies stay private to their message (the memory adapter relies on it).
 */
const scratch = new Uint8Array(16 * 1024);
/** A UTF-16 code unit takes at most 3 UTF-8 bytes: strings up to this length always fit. */
const SCRATCH_CHARS = Math.floor(scratch.length / 3);
/** Nesting the quick check below follows before leaving the rest to the full walk. */
const PLAIN_DEPTH = 32;
// fatal: a body that is not UTF-8 is undecodable rather than silently mangled.
const decoder = new TextDecoder('utf-8', { fatal: true });

function baseType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** `text` as UTF-8, in bytes nobody else holds (65 B – 1 KiB in a shared slab: private-bytes.ts). */
function utf8(text: string): Uint8Array {
  if (text.length > SCRATCH_CHARS) return encoder.encode(text);
  return privateCopy(scratch, encoder.encodeInto(text, scratch).written);
}

/**
 * True when `value` is plainly JSON: strings, booleans, null, finite numbers, arrays and plain
 * objects of those (`undefined` properties allowed). False means "look closer", never "wrong":
 * the full walk of json-check.ts then decides and names the path. Typical payloads pass here
 * without building the path strings the full walk builds for every key.
 */
function plainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth === 0) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!plainJson(value[i], depth - 1)) return false;
    return true;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  const object = value as Record<string, unknown>;
  for (const key in object) {
    const item = object[key];
    if (item !== undefined && !plainJson(item, depth - 1)) return false;
  }
  return true;
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
  if (typeof data === 'string') return { body: utf8(data), contentType: TEXT_TYPE };
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
  if (!plainJson(data, PLAIN_DEPTH)) {
    // After a successful stringify: no cycles left in what the walk descends into.
    const found = findUnrepresentable(data);
    if (found) throw unrepresentable(found);
  }
  return { body: utf8(json), contentType: JSON_TYPE };
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
