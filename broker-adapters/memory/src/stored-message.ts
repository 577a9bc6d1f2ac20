import type { Headers, RawDelivery } from '@brokerkit/core';
import { privateCopy } from '@brokerkit/core/adapter';

/**
 * A message as the memory broker keeps it: the {@link RawDelivery} core receives, with a body
 * nobody else holds. One object serves every queue a fan-out publish reaches, so it is never
 * handed out as is: each delivery gets its own copy of the body ({@link deliveryOf}).
 */
export interface StoredMessage extends RawDelivery {
  readonly timestamp: Date;
  /**
   * `timestamp` as a number, read once at publish: each delivery gets its own `Date` made from it
   * ({@link deliveryOf}), so a handler changing its `msg.timestamp` changes no other message, and
   * the Date a delivery observer reads is a new (cache-warm) object rather than one allocated a
   * backlog ago (reading that was ~0.1 µs of the metrics middleware's per-delivery cost).
   */
  readonly timeMs: number;
}

/**
 * Default `maxPayloadBytes` of `memory://`: NATS' default `max_payload` (1 MiB), so a payload that
 * works in tests on memory:// does not start failing on a real broker.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/**
 * A private copy of `body`. A real broker copies the bytes onto the wire, so a publisher reusing
 * its buffer, or a consumer writing to `msg.data`, changes no other message; memory:// must not
 * behave differently.
 */
export function copyBody(body: Uint8Array): Uint8Array {
  // Core's slab copies: 65 B – 1 KiB bodies without an ArrayBuffer each (see private-bytes.ts).
  return privateCopy(body);
}

/** What one handler receives: the stored message with its own copy of the body. */
export function deliveryOf(message: StoredMessage): RawDelivery {
  return {
    topic: message.topic,
    body: copyBody(message.body),
    headers: message.headers,
    contentType: message.contentType,
    id: message.id,
    timestamp: new Date(message.timeMs),
    attempt: message.attempt,
    redelivered: message.redelivered,
  };
}

/** The same message as attempt `attempt` (a retry or a replay). */
export function withAttempt(message: StoredMessage, attempt: number, headers?: Headers): StoredMessage {
  return {
    topic: message.topic,
    body: message.body,
    headers: headers ?? message.headers,
    contentType: message.contentType,
    id: message.id,
    timestamp: message.timestamp,
    timeMs: message.timeMs,
    attempt,
    redelivered: attempt > 1,
  };
}
