/**
 * How a brokerkit message travels as a NATS message: which headers carry the id, content type
 * and timestamp, and how received headers become the plain record core expects.
 *
 * Header blocks are written and read here rather than through nats.js' `MsgHdrs`, whose
 * per-key validation and canonicalisation were the largest cost of a delivery in profiles. The
 * nats.js internals this needs (handing it a pre-encoded block, reading a received message's raw
 * bytes) are in `nats-internals.ts`.
 */
import type { Msg, MsgHdrs } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
import { ValidationError } from '@brokerkit/core';
import { idCarriesTime, messageIdTime } from '@brokerkit/core/adapter';
import type { Headers, OutgoingMessage } from '@brokerkit/core';
import { encodedHeaders, rawData, rawHeaderLength } from './nats-internals.js';

/** Header names the adapter reads and writes. */
export const WIRE = Object.freeze({
  /** JetStream's de-duplication key; also the message id unless {@link WIRE.id} is set. */
  msgId: 'Nats-Msg-Id',
  /** The message id when the de-duplication key differs from it (dead letters, replays). */
  id: 'x-brokerkit-id',
  contentType: 'Content-Type',
  /**
   * Publish time, milliseconds since the epoch; left out when the id is a UUID v7 of that very
   * millisecond (brokerkit's own ids): readers take the time from the id then.
   */
  timestamp: 'x-brokerkit-timestamp',
  /** `send` with `delayMs`: not to be handled before this time (ms since the epoch). */
  notBefore: 'x-brokerkit-not-before',
  /** A replayed group dead letter: only this group handles it, every other subscriber skips it. */
  replayTo: 'x-brokerkit-replay-to',
  /** A brokerkit request (`rpc.ts`): responders answer it, ephemeral subscriptions skip it. */
  request: 'x-brokerkit-request',
});

const STATUS_LINE = 'NATS/1.0';
// A header name is visible ASCII without ':'; a value must not break the line.
const BAD_KEY = /[^!-9;-~]/;
const BAD_VALUE = /[\r\n]/;

function line(key: string, value: string): string {
  if (BAD_KEY.test(key) || key.length === 0)
    throw new ValidationError(`header name ${JSON.stringify(key)} is not valid on NATS`);
  if (BAD_VALUE.test(value)) throw new ValidationError(`header "${key}" must not contain line breaks`);
  return `${key}: ${value}\r\n`;
}

function block(text: string): MsgHdrs {
  return encodedHeaders(Buffer.from(`${text}\r\n`));
}

/** Headers of an outgoing message: the user's, `extra`, then id, content type and (unless the id carries it) the time. */
export function outgoingHeaders(message: OutgoingMessage, extra?: Headers): MsgHdrs {
  let text = `${STATUS_LINE}\r\n`;
  const user = message.headers;
  for (const key in user) text += line(key, user[key]!);
  if (extra) for (const key in extra) text += line(key, extra[key]!);
  text += `${WIRE.msgId}: ${message.id}\r\n${WIRE.contentType}: ${message.contentType}\r\n`;
  const ms = message.timestamp.getTime();
  if (!idCarriesTime(message.id, ms)) text += `${WIRE.timestamp}: ${ms}\r\n`;
  return block(text);
}

/** Headers to store with a dead letter or a replay: the given record plus id, type and time. */
export function storedHeaders(
  record: Readonly<Headers>,
  meta: { id: string | undefined; contentType: string | undefined; timestamp: Date | undefined },
  dedupKey: string,
): MsgHdrs {
  let text = `${STATUS_LINE}\r\n`;
  for (const key in record) text += line(key, record[key]!);
  text += line(WIRE.msgId, dedupKey);
  if (meta.id !== undefined) text += line(WIRE.id, meta.id);
  if (meta.contentType !== undefined) text += line(WIRE.contentType, meta.contentType);
  if (meta.timestamp !== undefined) text += `${WIRE.timestamp}: ${meta.timestamp.getTime()}\r\n`;
  return block(text);
}

/** The fields of a received message that core needs, read from its headers in one pass. */
export interface ReceivedHeaders {
  /** Everything except transport headers (`Nats-*`, `Content-Type`); `x-brokerkit-*` included. */
  readonly headers: Headers;
  readonly id: string | undefined;
  readonly contentType: string | undefined;
  readonly timestamp: Date | undefined;
}

const NO_HEADERS: ReceivedHeaders = Object.freeze({
  headers: Object.freeze({}) as Headers,
  id: undefined,
  contentType: undefined,
  timestamp: undefined,
});

/** Parse the text of a header block (`NATS/1.0\r\nKey: value\r\n…\r\n\r\n`); the first value of a key wins. */
export function parseHeaderText(text: string): ReceivedHeaders {
  const headers: Headers = {};
  let msgId: string | undefined;
  let id: string | undefined;
  let contentType: string | undefined;
  let timestamp: Date | undefined;
  let start = text.indexOf('\r\n');
  if (start === -1) return NO_HEADERS;
  start += 2;
  const length = text.length;
  while (start < length) {
    let end = text.indexOf('\r\n', start);
    if (end === -1) end = length;
    if (end === start) break;
    const colon = text.indexOf(':', start);
    if (colon > start && colon < end) {
      const key = text.slice(start, colon);
      const value = text.slice(colon + 1, end).trim();
      // Cheap dispatch on the first letter: N(ats-*), C(ontent-Type), x(-brokerkit-*), others.
      const c = key.charCodeAt(0);
      if (c === 78 /* N */ && key.startsWith('Nats-')) {
        if (key === WIRE.msgId) msgId ??= value;
      } else if (c === 67 /* C */ && key === WIRE.contentType) contentType ??= value;
      else if (c === 120 /* x */ && key === WIRE.id) id ??= value;
      else if (c === 120 /* x */ && key === WIRE.timestamp) {
        if (timestamp === undefined) {
          const ms = Number(value);
          if (Number.isFinite(ms)) timestamp = new Date(ms);
        }
      } else if (headers[key] === undefined) headers[key] = value;
    }
    start = end + 2;
  }
  const messageId = id ?? msgId;
  if (timestamp === undefined) {
    // No time header: brokerkit's own ids (and any UUID v7) carry their creation time.
    const ms = messageIdTime(messageId);
    if (ms !== undefined) timestamp = new Date(ms);
  }
  return { headers, id: messageId, contentType, timestamp };
}

/** Parse a raw header block. */
export function parseHeaderBlock(bytes: Uint8Array): ReceivedHeaders {
  return parseHeaderText(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
}

/** Split parsed NATS headers (`MsgHdrs`) the same way as {@link parseHeaderText}. */
export function readHeaders(h: MsgHdrs | undefined): ReceivedHeaders {
  if (h === undefined) return NO_HEADERS;
  let text = `${STATUS_LINE}\r\n`;
  for (const [key, values] of h) if (values[0] !== undefined) text += `${key}: ${values[0]}\r\n`;
  return parseHeaderText(text);
}

/**
 * Headers of a received core or JetStream message, parsed straight from the raw bytes when the
 * client exposes them (3.x does, see `nats-internals.ts`), through `msg.headers` otherwise. With
 * `reuseLast` (core fan-out) a block equal to the previous such one shares its frozen result.
 */
export function receivedHeaders(msg: Msg | JsMsg, reuseLast = false): ReceivedHeaders {
  const hdr = rawHeaderLength(msg);
  if (hdr === -1) return readHeaders(msg.headers);
  if (hdr === 0) return NO_HEADERS;
  const raw = rawData(msg);
  if (!Buffer.isBuffer(raw)) return parseHeaderBlock(raw.subarray(0, hdr));
  if (!reuseLast) return parseHeaderText(raw.toString('utf8', 0, hdr));
  // A fan-out delivers the same message to each subscription back to back: a header block
  // equal to the previous one reuses its (frozen) parse instead of decoding it again.
  if (hdr === last.length && raw.compare(last.bytes, 0, hdr, 0, hdr) === 0) return last.parsed;
  const parsed = parseHeaderText(raw.toString('utf8', 0, hdr));
  Object.freeze(parsed.headers);
  last = { bytes: Buffer.from(raw.subarray(0, hdr)), length: hdr, parsed };
  return parsed;
}

/** The last header block parsed by {@link receivedHeaders}, and its result. */
let last: { bytes: Buffer; length: number; parsed: ReceivedHeaders } = {
  bytes: Buffer.alloc(0),
  length: -1,
  parsed: NO_HEADERS,
};

/**
 * The client hands out Buffers (views into its read buffer); brokerkit promises a plain
 * Uint8Array, so wrap the same memory without copying.
 */
export function plainBytes(data: Uint8Array): Uint8Array {
  return Buffer.isBuffer(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data;
}
