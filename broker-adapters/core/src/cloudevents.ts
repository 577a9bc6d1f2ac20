/**
 * CloudEvents 1.0 in binary content mode: the event's attributes travel as message headers, its
 * data is the message body as-is. One function writes them on publish/send (validated), one reads
 * them on delivery. Which header names a broker uses is its protocol binding
 * ({@link CloudEventsBinding}), declared by the transport; see docs/architecture.md#cloudevents.
 */
import { ValidationError } from './errors.js';
import { assertKnownKeys } from './option-checks.js';
import type {
  CloudEventAttributes,
  CloudEventOptions,
  CloudEventsBinding,
  CloudEventsDefaults,
  Headers,
} from './types.js';

/** The only CloudEvents version brokerkit writes and reads. */
export const CLOUDEVENTS_SPEC_VERSION = '1.0';

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'type',
  'source',
  'subject',
  'dataschema',
  'id',
  'time',
  'extensions',
]);
const DEFAULTS_KEYS: ReadonlySet<string> = new Set(['source']);

/** Attributes with a meaning of their own: not usable as extension names. */
const CORE_ATTRIBUTES: ReadonlySet<string> = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'subject',
  'dataschema',
  'datacontenttype',
  'data',
  'data_base64',
]);

/** Header-name prefix of each binding on the wire. AMQP readers accept both separators. */
const PREFIX: Readonly<Record<CloudEventsBinding, string>> = Object.freeze({
  'ce-headers': 'ce-',
  amqp: 'cloudEvents_',
});

// CloudEvents attribute values exclude control characters (spec §Type System, String).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// RFC 3339 date-time, as the spec requires of `time`.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
// An absolute URI (`dataschema`): a scheme, a colon, no whitespace.
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/;
// Extension attribute names: lower-case ASCII letters and digits (spec §Attribute Naming).
const EXTENSION_NAME = /^[a-z0-9]{1,20}$/;
// What the NATS and HTTP bindings require to be percent-encoded: space, `"`, `%`, non-printable ASCII.
const NEEDS_PERCENT = /[^\u0021-\u007e]|["%]/;

function attribute(name: string, value: unknown, required: boolean): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new ValidationError(
      `cloudEvent.${name} ${value === undefined ? 'is required' : 'must be a non-empty string'}`,
    );
  }
  if (CONTROL.test(value))
    throw new ValidationError(`cloudEvent.${name} must not contain control characters`);
  return value;
}

function uriReference(name: string, value: unknown, required: boolean): string | undefined {
  const text = attribute(name, value, required);
  if (text !== undefined && /\s/.test(text)) {
    throw new ValidationError(`cloudEvent.${name} must be a URI reference without whitespace`);
  }
  return text;
}

function timeAttribute(value: unknown, fallback: Date): string {
  if (value === undefined) return fallback.toISOString();
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new ValidationError('cloudEvent.time is an invalid Date');
    return value.toISOString();
  }
  if (typeof value !== 'string' || !RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw new ValidationError(
      `cloudEvent.time must be a Date or an RFC 3339 timestamp, got ${String(value)}`,
    );
  }
  return value;
}

/** Percent-encode what the `ce-` header bindings (NATS, HTTP) do not allow raw in a header value. */
function percentEncode(value: string): string {
  if (!NEEDS_PERCENT.test(value)) return value;
  let out = '';
  for (const char of value) {
    if (NEEDS_PERCENT.test(char)) {
      for (const byte of Buffer.from(char, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    } else out += char;
  }
  return out;
}

function percentDecode(value: string): string {
  if (value.indexOf('%') === -1) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // not valid percent-encoding: keep what was sent rather than drop the event
  }
}

/**
 * Validate the `cloudEvents` connect option (per-broker opt-in). Returns it frozen, or undefined
 * when absent.
 */
export function resolveCloudEventsDefaults(value: unknown): CloudEventsDefaults | undefined {
  if (value === undefined) return undefined;
  assertKnownKeys(value, DEFAULTS_KEYS, 'cloudEvents');
  const source = uriReference('source', (value as CloudEventsDefaults).source, true)!;
  return Object.freeze({ source });
}

/** What the event defaults to: the message's own id, time and destination. */
export interface CloudEventContext {
  readonly id: string;
  readonly destination: string;
  readonly timestamp: Date;
  readonly contentType: string;
}

/**
 * Add the CloudEvent attributes of a publish/send to `headers`, mapped for `binding`. `options`
 * is the call's `cloudEvent` option (`undefined`: only the broker's defaults apply; `false`: not
 * an event). Throws `BK_VALIDATION` for a missing or malformed attribute, before anything is sent.
 */
export function writeCloudEvent(
  headers: Headers,
  options: CloudEventOptions | false | undefined,
  defaults: CloudEventsDefaults | undefined,
  message: CloudEventContext,
  binding: CloudEventsBinding,
): void {
  if (options === false || (options === undefined && defaults === undefined)) return;
  if (options !== undefined) assertKnownKeys(options, OPTION_KEYS, 'cloudEvent');
  const o: Partial<CloudEventOptions> = options ?? {};
  // Per-broker opt-in: an event's type defaults to its topic or queue, its source to the broker's.
  const type =
    o.type === undefined && defaults !== undefined ? message.destination : attribute('type', o.type, true);
  const attributes: [string, string | undefined][] = [
    ['specversion', CLOUDEVENTS_SPEC_VERSION],
    ['id', attribute('id', o.id, false) ?? message.id],
    ['source', uriReference('source', o.source ?? defaults?.source, true)],
    ['type', type],
    ['time', timeAttribute(o.time, message.timestamp)],
    ['subject', attribute('subject', o.subject, false)],
    ['dataschema', attribute('dataschema', o.dataschema, false)],
  ];
  if (o.dataschema !== undefined && !ABSOLUTE_URI.test(o.dataschema)) {
    throw new ValidationError(`cloudEvent.dataschema must be an absolute URI, got ${o.dataschema}`);
  }
  if (o.extensions !== undefined) {
    if (o.extensions === null || typeof o.extensions !== 'object' || Array.isArray(o.extensions)) {
      throw new ValidationError('cloudEvent.extensions must be an object of string values');
    }
    for (const name in o.extensions) {
      if (!EXTENSION_NAME.test(name) || CORE_ATTRIBUTES.has(name)) {
        throw new ValidationError(
          `cloudEvent.extensions: "${name}" is not a valid extension attribute name (a-z, 0-9, at most 20)`,
        );
      }
      attributes.push([name, attribute(`extensions.${name}`, o.extensions[name], true)]);
    }
  }
  const prefix = PREFIX[binding];
  // AMQP carries the content type in its own property; the `ce-` bindings name it too (NATS).
  if (binding === 'ce-headers') attributes.push(['datacontenttype', message.contentType]);
  const encode = binding === 'ce-headers';
  for (const [name, value] of attributes) {
    if (value !== undefined) headers[prefix + name] = encode ? percentEncode(value) : value;
  }
}

/**
 * True when `headers` carry a CloudEvent in any binding: a few lookups, so deliveries that are
 * not events pay almost nothing.
 */
export function hasCloudEvent(headers: Readonly<Headers>): boolean {
  return (
    headers['ce-specversion'] !== undefined ||
    headers['cloudEvents_specversion'] !== undefined ||
    headers['cloudEvents:specversion'] !== undefined ||
    headers['Ce-Specversion'] !== undefined
  );
}

/**
 * The CloudEvent attributes of a delivery, or undefined when the headers do not hold a valid
 * CloudEvents 1.0 event (`specversion`, `id`, `source` and `type` present). `contentType` is the
 * transport's content type, which is the event's `datacontenttype` where the binding says so.
 */
export function readCloudEvent(
  headers: Readonly<Headers>,
  contentType: string | undefined,
): CloudEventAttributes | undefined {
  const found: Record<string, string> = {};
  for (const key in headers) {
    let name: string | undefined;
    let value = headers[key]!;
    const lower = key.length > 3 ? key.slice(0, 3).toLowerCase() : '';
    if (lower === 'ce-') {
      name = key.slice(3).toLowerCase();
      value = percentDecode(value);
    } else if (key.startsWith('cloudEvents_') || key.startsWith('cloudEvents:')) {
      name = key.slice(12);
    }
    if (name !== undefined && name.length > 0 && found[name] === undefined) found[name] = value;
  }
  const { specversion, id, source, type } = found;
  if (specversion !== CLOUDEVENTS_SPEC_VERSION || !id || !source || !type) return undefined;
  const event: {
    -readonly [K in keyof CloudEventAttributes]: CloudEventAttributes[K];
  } = { specversion, id, source, type };
  if (found.time !== undefined) event.time = found.time;
  if (found.subject !== undefined) event.subject = found.subject;
  if (found.dataschema !== undefined) event.dataschema = found.dataschema;
  const datacontenttype = contentType ?? found.datacontenttype;
  if (datacontenttype !== undefined) event.datacontenttype = datacontenttype;
  let extensions: Record<string, string> | undefined;
  for (const name in found) {
    if (CORE_ATTRIBUTES.has(name)) continue;
    (extensions ??= {})[name] = found[name]!;
  }
  if (extensions !== undefined) event.extensions = Object.freeze(extensions);
  return Object.freeze(event);
}
