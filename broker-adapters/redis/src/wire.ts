/**
 * How a message is laid out as the fields of a stream entry. Named fields with plain values, so
 * `XRANGE` shows what was published and any client can `XADD` a message brokerkit understands:
 *
 * | field       | value                                                                      |
 * | ----------- | -------------------------------------------------------------------------- |
 * | `topic`     | the topic (events; a work-queue message has none: its topic is the queue)   |
 * | `id`        | the message id (default: the entry id)                                     |
 * | `type`      | the content type (default `application/octet-stream`)                      |
 * | `time`      | publish time in ms; absent when `id` is a v7 id of that ms (brokerkit's own) |
 * |             | default: the time of a v7 `id`, else the entry id's time                   |
 * | `attempt`   | the attempt a retried copy starts at (absent = 1)                           |
 * | `h:<name>`  | one per header                                                             |
 * | `body`      | the encoded payload, raw bytes                                             |
 */
import type { Headers, OutgoingMessage, RawDelivery } from '@brokerkit/core';
import { idCarriesTime, messageIdTime } from '@brokerkit/core/adapter';

/** Field names (see the module comment). */
export const FIELD = Object.freeze({
  topic: 'topic',
  id: 'id',
  type: 'type',
  time: 'time',
  attempt: 'attempt',
  body: 'body',
});

/** Prefix of a header's field name. */
export const HEADER_FIELD_PREFIX = 'h:';

/** Arguments of an `XADD` after the id: field, value, field, value, … */
export type FieldArgs = (string | Buffer)[];

const EMPTY = Buffer.alloc(0);

/** The bytes as a Buffer over the same memory (no copy). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Fields of an outgoing message; `topic` is left out for work-queue messages. They are appended
 * to `into` when given (a command's leading arguments: one array per message, not two).
 */
export function messageFields(
  message: OutgoingMessage,
  topic: string | undefined,
  into?: FieldArgs,
): FieldArgs {
  const fields: FieldArgs = into ?? [];
  if (topic !== undefined) fields.push(FIELD.topic, topic);
  fields.push(FIELD.id, message.id, FIELD.type, message.contentType);
  // The publish time travels in brokerkit's own ids (docs/architecture.md#message-flow): one field
  // less to send, store and read. A user's messageId keeps an explicit time.
  const ms = message.timestamp.getTime();
  if (!idCarriesTime(message.id, ms)) fields.push(FIELD.time, String(ms));
  const headers = message.headers;
  for (const key in headers) fields.push(HEADER_FIELD_PREFIX + key, headers[key]!);
  fields.push(FIELD.body, asBuffer(message.body));
  return fields;
}

/** One stream entry, parsed. */
export interface StreamEntry {
  /** The stream entry id (`<ms>-<seq>`). */
  readonly entryId: string;
  readonly topic: string | undefined;
  readonly messageId: string | undefined;
  readonly contentType: string | undefined;
  readonly timestamp: Date | undefined;
  /** The attempt this copy starts at (the `attempt` field; 1 when absent). */
  readonly attempt: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

/** The time part of an entry id, or undefined when it is not one. */
function entryTime(entryId: string): Date | undefined {
  const ms = Number(entryId.slice(0, entryId.indexOf('-')));
  return Number.isFinite(ms) && ms > 0 ? new Date(ms) : undefined;
}

const enum Name {
  Other,
  Topic,
  Id,
  Type,
  Time,
  Attempt,
  Body,
  Header,
}

/** Which field a name is, from its bytes: no string is made for the names brokerkit writes. */
function nameOf(b: Buffer): Name {
  switch (b.length) {
    case 2:
      return b[0] === 0x69 && b[1] === 0x64
        ? Name.Id
        : b[0] === 0x68 && b[1] === 0x3a
          ? Name.Header
          : Name.Other;
    case 4:
      if (b[0] === 0x62) return b[1] === 0x6f && b[2] === 0x64 && b[3] === 0x79 ? Name.Body : Name.Other;
      if (b[0] === 0x74 && b[1] === 0x79) return b[2] === 0x70 && b[3] === 0x65 ? Name.Type : Name.Other;
      if (b[0] === 0x74 && b[1] === 0x69) return b[2] === 0x6d && b[3] === 0x65 ? Name.Time : Name.Other;
      break;
    case 5:
      if (b.toString('latin1', 0, 5) === FIELD.topic) return Name.Topic;
      break;
    case 7:
      if (b.toString('latin1', 0, 7) === FIELD.attempt) return Name.Attempt;
      break;
  }
  return b.length > 2 && b[0] === 0x68 && b[1] === 0x3a ? Name.Header : Name.Other; // 'h:'
}

/** The `time` field, else the time of a v7 message id, else the entry id's (server) time. */
function timestampOf(
  time: number | undefined,
  messageId: string | undefined,
  entryId: string,
): Date | undefined {
  if (time !== undefined && Number.isFinite(time)) return new Date(time);
  const idMs = messageIdTime(messageId);
  return idMs === undefined ? entryTime(entryId) : new Date(idMs);
}

/** Parse the fields of an entry as Redis returns them (Buffers, name and value interleaved). */
export function parseEntry(entryId: string, fields: readonly Buffer[]): StreamEntry {
  let topic: string | undefined;
  let messageId: string | undefined;
  let contentType: string | undefined;
  let time: number | undefined;
  let attempt = 1;
  let body: Buffer = EMPTY;
  const headers: Headers = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    switch (nameOf(name)) {
      case Name.Body:
        body = value;
        break;
      case Name.Topic:
        topic = value.toString('utf8');
        break;
      case Name.Id:
        messageId = value.toString('utf8');
        break;
      case Name.Type:
        contentType = value.toString('latin1');
        break;
      case Name.Time:
        time = Number(value.toString('latin1'));
        break;
      case Name.Attempt:
        attempt = Math.max(1, Number(value.toString('latin1')) || 1);
        break;
      case Name.Header:
        headers[name.toString('utf8', HEADER_FIELD_PREFIX.length)] = value.toString('utf8');
        break;
      default:
        break;
    }
  }
  return {
    entryId,
    topic,
    messageId,
    contentType,
    timestamp: timestampOf(time, messageId, entryId),
    attempt,
    headers,
    body,
  };
}

/**
 * The delivery core decides on. `deliveryCount` is how often Redis handed this copy out (1 for a
 * fresh read; more once claimed from a member that died): each counts as an attempt.
 */
export function toRawDelivery(entry: StreamEntry, topic: string, deliveryCount: number): RawDelivery {
  const attempt = entry.attempt + Math.max(0, deliveryCount - 1);
  return {
    topic: entry.topic ?? topic,
    body: entry.body,
    headers: entry.headers,
    contentType: entry.contentType,
    id: entry.messageId ?? entry.entryId,
    timestamp: entry.timestamp,
    attempt,
    redelivered: attempt > 1,
  };
}

/**
 * Fields of a stored copy of `entry` (a dead letter, a replay) with other headers: its topic,
 * id, content type, time and body are kept; `attempt` is left out (a copy starts at 1).
 */
export function copyFields(entry: StreamEntry, headers: Readonly<Headers>): FieldArgs {
  const fields: FieldArgs = [];
  if (entry.topic !== undefined) fields.push(FIELD.topic, entry.topic);
  fields.push(FIELD.id, entry.messageId ?? entry.entryId);
  if (entry.contentType !== undefined) fields.push(FIELD.type, entry.contentType);
  if (entry.timestamp !== undefined) fields.push(FIELD.time, String(entry.timestamp.getTime()));
  for (const key in headers) fields.push(HEADER_FIELD_PREFIX + key, headers[key]!);
  fields.push(FIELD.body, entry.body);
  return fields;
}
