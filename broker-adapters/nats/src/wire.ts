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
import { encodedHeaders, rawData, rawHeaderLength, rawSubject } from './nats-internals.js';

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

/** `NATS/1.0`, `Nats-Msg-Id: ` and the 36 characters of a UUID id, `Content-Type: …` and the end, per content type. */
const ID_AT = `${STATUS_LINE}\r\n${WIRE.msgId}: `.length;
const ID_LENGTH = 36;
const templates = new Map<string, Buffer>();
/** Content types whose template is kept; beyond this the cache starts over (they are few in practice). */
const MAX_TEMPLATES = 64;

function template(contentType: string): Buffer {
  let bytes = templates.get(contentType);
  if (bytes === undefined) {
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    bytes = Buffer.from(
      `${STATUS_LINE}\r\n${WIRE.msgId}: ${'0'.repeat(ID_LENGTH)}\r\n${WIRE.contentType}: ${contentType}\r\n\r\n`,
    );
    templates.set(contentType, bytes);
  }
  return bytes;
}

/**
 * The header block of a message with no user headers whose id is a UUID carrying its publish time
 * (brokerkit's own ids, so no time header): the content type's block with the id written in,
 * instead of building the text and encoding it (a third of the adapter's publish cost in a
 * fan-out profile). Undefined when the id has a character outside ASCII.
 */
function idOnlyBlock(id: string, contentType: string): Buffer | undefined {
  const bytes = template(contentType);
  const out = Buffer.allocUnsafe(bytes.length);
  out.set(bytes);
  for (let i = 0; i < ID_LENGTH; i++) {
    const c = id.charCodeAt(i);
    if (c > 127) return undefined;
    out[ID_AT + i] = c;
  }
  return out;
}

function noKeys(record: Headers): boolean {
  for (const _key in record) return false;
  return true;
}

/** Headers of an outgoing message: the user's, `extra`, then id, content type and (unless the id carries it) the time. */
export function outgoingHeaders(message: OutgoingMessage, extra?: Headers): MsgHdrs {
  const user = message.headers;
  const ms = message.timestamp.getTime();
  const carries = idCarriesTime(message.id, ms);
  if (carries && extra === undefined && message.id.length === ID_LENGTH && noKeys(user)) {
    const bytes = idOnlyBlock(message.id, message.contentType);
    if (bytes !== undefined) return encodedHeaders(bytes);
  }
  let text = `${STATUS_LINE}\r\n`;
  for (const key in user) text += line(key, user[key]!);
  if (extra) for (const key in extra) text += line(key, extra[key]!);
  text += `${WIRE.msgId}: ${message.id}\r\n${WIRE.contentType}: ${message.contentType}\r\n`;
  if (!carries) text += `${WIRE.timestamp}: ${ms}\r\n`;
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
  /** Everything except transport headers (`Nats-*`, `Content-Type` in any case); `x-brokerkit-*` included. */
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

/**
 * `Content-Type` in any case: NATS header names are case-sensitive, but other clients write it as
 * HTTP does (`content-type` from HTTP bridges and lower-casing clients), and a body read as bytes
 * because of a name's case would be a silent surprise. `Nats-*` names stay exact: the server's
 * de-duplication reads `Nats-Msg-Id` exactly too.
 */
function isContentType(key: string): boolean {
  return key === WIRE.contentType || (key.length === 12 && key.toLowerCase() === 'content-type');
}

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
      // Cheap dispatch on the first letter: N(ats-*), C/c(ontent-Type), x(-brokerkit-*), others.
      const c = key.charCodeAt(0);
      if (c === 78 /* N */ && key.startsWith('Nats-')) {
        if (key === WIRE.msgId) msgId ??= value;
      } else if ((c === 67 /* C */ || c === 99) /* c */ && isContentType(key)) contentType ??= value;
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
 * client exposes them (3.x does, see `nats-internals.ts`), through `msg.headers` otherwise.
 */
export function receivedHeaders(msg: Msg | JsMsg): ReceivedHeaders {
  const hdr = rawHeaderLength(msg);
  if (hdr === -1) return readHeaders(msg.headers);
  if (hdr === 0) return NO_HEADERS;
  const raw = rawData(msg);
  if (!Buffer.isBuffer(raw)) return parseHeaderBlock(raw.subarray(0, hdr));
  return parseHeaderText(raw.toString('utf8', 0, hdr));
}

/**
 * What an ephemeral subscription reads from a received core message besides its body. Shared by
 * every delivery of the same subject and header block, so frozen: a delivery copies what it
 * hands on.
 */
export interface ReceivedCopy {
  readonly subject: string;
  readonly meta: ReceivedHeaders;
  /**
   * Not for ephemeral subscribers: a broker-internal subject (`$…`, `_…`: `$JS…`, `_INBOX…`,
   * brokerkit's `_bk…`), a replayed group dead letter (meant for that group alone) or a brokerkit
   * request (meant for responders).
   */
  readonly skip: boolean;
}

const DOLLAR = 36; // '$'
const UNDERSCORE = 95; // '_'
const SKIP: ReceivedCopy = Object.freeze({ subject: '', meta: NO_HEADERS, skip: true });

function copyOf(subject: string, meta: ReceivedHeaders): ReceivedCopy {
  Object.freeze(meta.headers);
  const skip = meta.headers[WIRE.replayTo] !== undefined || meta.headers[WIRE.request] !== undefined;
  return Object.freeze({ subject, meta, skip });
}

/** True when `a[0, length)` equals `b[0, length)`. */
function sameBytes(a: Uint8Array, b: Uint8Array, length: number): boolean {
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `bytes[0, length)` kept in `into` (grown when too small). Buffers, like the client's: one element kind for the loops. */
function keep(into: Uint8Array, bytes: Uint8Array, length: number): Uint8Array {
  const target = into.length >= length ? into : Buffer.alloc(Math.max(length, into.length * 2));
  if (Buffer.isBuffer(bytes)) bytes.copy(target, 0, 0, length);
  else for (let i = 0; i < length; i++) target[i] = bytes[i]!;
  return target;
}

const NO_USER_HEADERS: Headers = Object.freeze({}) as Headers;
/** The content type of the last block {@link ownBlock} recognised, and that type's template. */
let ownType = 'application/octet-stream';
let ownTemplate = template(ownType);

/**
 * The headers of a block exactly as {@link outgoingHeaders} writes them for a message without
 * user headers (status line, `Nats-Msg-Id` with a 36-character ASCII id, `Content-Type` of the
 * last such block): id, content type and time read without parsing the text. Undefined for any
 * other block, which {@link parseHeaderText} reads.
 */
function ownBlock(raw: Uint8Array, hdr: number): ReceivedHeaders | undefined {
  const t = ownTemplate;
  if (hdr !== t.length) return undefined;
  for (let i = 0; i < ID_AT; i++) if (raw[i] !== t[i]) return undefined;
  // Visible ASCII only: nothing the text parser would trim or split on, and latin1 is UTF-8 there.
  for (let i = ID_AT; i < ID_AT + ID_LENGTH; i++) if (raw[i]! < 33 || raw[i]! > 126) return undefined;
  for (let i = ID_AT + ID_LENGTH; i < hdr; i++) if (raw[i] !== t[i]) return undefined;
  const id = (raw as Buffer).toString('latin1', ID_AT, ID_AT + ID_LENGTH);
  const ms = messageIdTime(id);
  return {
    headers: NO_USER_HEADERS,
    id,
    contentType: ownType,
    timestamp: ms === undefined ? undefined : new Date(ms),
  };
}

/**
 * The last {@link ReceivedCopy} built from raw bytes, and the subject bytes and header block it
 * was built from (copied: the client's read buffer is not ours to keep).
 */
let lastCopy: ReceivedCopy = SKIP;
let lastSubject: Uint8Array = Buffer.alloc(64);
let lastSubjectLength = -1;
let lastBlock: Uint8Array = Buffer.alloc(256);
let lastBlockLength = -1;

/**
 * Subject and headers of a received core message (`hdr`: its {@link rawHeaderLength}). A fan-out
 * delivers the same message to each subscription of a connection back to back: a message whose
 * subject bytes and header block equal the previous one's gets that one's result, so the copies
 * of a message decode the subject and parse the headers once. The result is a function of those
 * bytes alone, so sharing it between subscriptions and connections is exact.
 */
export function receivedCopy(msg: Msg, hdr: number): ReceivedCopy {
  const subject = hdr === -1 ? undefined : rawSubject(msg);
  if (subject === undefined) {
    const text = msg.subject;
    const first = text.charCodeAt(0);
    return first === DOLLAR || first === UNDERSCORE ? SKIP : copyOf(text, readHeaders(msg.headers));
  }
  const length = subject.length;
  if (length === 0 || subject[0] === DOLLAR || subject[0] === UNDERSCORE) return SKIP;
  const raw = rawData(msg);
  if (
    length === lastSubjectLength &&
    hdr === lastBlockLength &&
    // The block natively (a call costs less than a loop over ~100 bytes), the subject in a loop.
    (Buffer.isBuffer(raw) ? raw.compare(lastBlock, 0, hdr, 0, hdr) === 0 : sameBytes(raw, lastBlock, hdr)) &&
    sameBytes(subject, lastSubject, length)
  ) {
    return lastCopy;
  }
  let meta: ReceivedHeaders | undefined;
  if (hdr === 0) meta = NO_HEADERS;
  else if (!Buffer.isBuffer(raw)) meta = parseHeaderBlock(raw.subarray(0, hdr));
  else {
    meta = ownBlock(raw, hdr);
    if (meta === undefined) {
      meta = parseHeaderText(raw.toString('utf8', 0, hdr));
      // Blocks of brokerkit's own messages with another content type: recognised from now on.
      if (
        meta.contentType !== undefined &&
        meta.contentType !== ownType &&
        meta.id?.length === ID_LENGTH &&
        noKeys(meta.headers)
      ) {
        const next = template(meta.contentType);
        if (next.length === hdr) {
          ownType = meta.contentType;
          ownTemplate = next;
        }
      }
    }
  }
  // A Buffer's own decode is cheaper than the TextDecoder `msg.subject` uses.
  lastCopy = copyOf(Buffer.isBuffer(subject) ? subject.toString('utf8') : msg.subject, meta);
  lastSubject = keep(lastSubject, subject, length);
  lastSubjectLength = length;
  lastBlock = keep(lastBlock, raw, hdr);
  lastBlockLength = hdr;
  return lastCopy;
}

/**
 * The body of a received core message (`hdr`: its {@link rawHeaderLength}) as a plain
 * Uint8Array over the client's bytes: one view, where `plainBytes(msg.data)` makes two.
 */
export function coreBody(msg: Msg, hdr: number): Uint8Array {
  if (hdr === -1) return plainBytes(msg.data);
  const raw = rawData(msg);
  return new Uint8Array(raw.buffer, raw.byteOffset + hdr, raw.byteLength - hdr);
}

/**
 * The client hands out Buffers (views into its read buffer); brokerkit promises a plain
 * Uint8Array, so wrap the same memory without copying.
 */
export function plainBytes(data: Uint8Array): Uint8Array {
  return Buffer.isBuffer(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data;
}
