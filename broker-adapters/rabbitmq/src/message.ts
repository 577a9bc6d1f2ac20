/**
 * AMQP message properties ↔ brokerkit messages.
 *
 * Publish time: AMQP `timestamp` holds whole seconds (it stays on every message, so foreign
 * consumers see a publish time), and delivery-lag metrics need milliseconds. brokerkit's own id
 * (UUID v7) carries the publish millisecond, so a message with such an id needs nothing more: it is
 * published without a headers table when the user gave no headers (encoding and decoding that
 * table was the largest codec cost of a delivery in profiles). A user-supplied `messageId` keeps
 * the explicit millisecond header `x-brokerkit-ts`. Reading, in order: that header, the id's time
 * when it agrees with the AMQP timestamp's second (so a foreign v7 id with another time is not
 * believed), the AMQP timestamp.
 */
import { HEADER, idCarriesTime, messageIdTime } from '@brokerkit/core/adapter';
import type { Headers, OutgoingMessage, RawDelivery } from '@brokerkit/core';
import type { Message, Options } from 'amqplib';

/** Milliseconds since the epoch at publish time, as a decimal string (only when the id does not carry it). */
export const PUBLISHED_AT_HEADER = 'x-brokerkit-ts';

/** What a message without headers reads as (frozen: shared by every such delivery). */
const NO_HEADERS: Headers = Object.freeze({}) as Headers;

/** Headers RabbitMQ adds when it dead-letters (a retry bucket's TTL): bookkeeping, not the user's. */
function isBrokerBookkeeping(key: string): boolean {
  return key === 'x-death' || key.startsWith('x-first-death-') || key.startsWith('x-last-death-');
}

/** The bytes of a body as a Buffer, without copying. */
export function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** AMQP properties of a message published by brokerkit. */
export function publishProperties(message: OutgoingMessage, mandatory: boolean): Options.Publish {
  const ms = message.timestamp.getTime();
  const properties: Options.Publish = {
    persistent: true,
    mandatory,
    messageId: message.id,
    timestamp: Math.floor(ms / 1000),
    contentType: message.contentType,
  };
  const user = message.headers;
  let headers: Record<string, string> | undefined;
  for (const key in user) {
    headers ??= {};
    headers[key] = user[key]!;
  }
  if (!idCarriesTime(message.id, ms)) {
    headers ??= {};
    headers[PUBLISHED_AT_HEADER] = String(ms);
  }
  // No headers at all: leave the property out, so amqplib writes no table and readers parse none.
  if (headers !== undefined) properties.headers = headers;
  return properties;
}

/**
 * Headers as strings: brokerkit only writes strings, but other clients may send numbers or
 * booleans, and RabbitMQ adds `x-death` tables when a retry bucket dead-letters a message back.
 * Returns the same object when nothing needs converting (the common case).
 */
export function stringHeaders(raw: Record<string, unknown> | undefined): Headers {
  if (raw === undefined || raw === null) return NO_HEADERS;
  let clean = true;
  for (const key in raw) {
    if (typeof raw[key] !== 'string') {
      clean = false;
      break;
    }
  }
  if (clean) return raw as Headers;
  const out: Headers = {};
  for (const key in raw) {
    const value = raw[key];
    if (typeof value === 'string') out[key] = value;
    else if (isBrokerBookkeeping(key) || value === undefined || value === null) continue;
    else if (Buffer.isBuffer(value)) out[key] = value.toString('utf8');
    else if (typeof value === 'object') out[key] = JSON.stringify(value);
    else out[key] = String(value);
  }
  return out;
}

/**
 * Publish time: the millisecond header, else the time of a UUID v7 `id` that agrees with the AMQP
 * timestamp's second (or comes without one), else the AMQP timestamp (seconds).
 */
export function publishedAt(headers: Headers, timestamp: unknown, id?: unknown): Date | undefined {
  const ms = headers[PUBLISHED_AT_HEADER];
  if (ms !== undefined) {
    const n = Number(ms);
    if (Number.isFinite(n)) return new Date(n);
  }
  const seconds = typeof timestamp === 'number' ? timestamp : undefined;
  if (typeof id === 'string') {
    const idMs = messageIdTime(id);
    if (idMs !== undefined && (seconds === undefined || Math.floor(idMs / 1000) === seconds))
      return new Date(idMs);
  }
  return seconds === undefined ? undefined : new Date(seconds * 1000);
}

/** A delivery as core's dispatcher wants it. */
export function toRawDelivery(message: Message): RawDelivery {
  const props = message.properties;
  const headers = stringHeaders(props.headers as Record<string, unknown> | undefined);
  const attemptHeader = headers[HEADER.attempt];
  const attempt = attemptHeader === undefined ? 1 : Number(attemptHeader) || 1;
  return {
    topic: message.fields.routingKey,
    // A plain Uint8Array view (no copy): what every adapter hands out, and what users compare with.
    body: new Uint8Array(message.content.buffer, message.content.byteOffset, message.content.byteLength),
    headers,
    contentType: props.contentType as string | undefined,
    id: props.messageId as string | undefined,
    timestamp: publishedAt(headers, props.timestamp, props.messageId),
    attempt,
    redelivered: (message.fields as { redelivered?: boolean }).redelivered === true || attempt > 1,
  };
}

/**
 * Properties of a copy of a delivered message re-published by brokerkit (to a retry bucket, a
 * dead-letter queue, or back to its origin on replay): same id, timestamp and content type.
 */
export function copyProperties(message: Message, headers: Headers, expiration?: number): Options.Publish {
  const props = message.properties;
  const out: Options.Publish = {
    persistent: true,
    mandatory: true,
    messageId: props.messageId as string | undefined,
    timestamp: props.timestamp as number | undefined,
    contentType: props.contentType as string | undefined,
    headers,
  };
  if (expiration !== undefined) out.expiration = String(expiration);
  return out;
}
