import type { Headers, RawDelivery } from '@brokerkit/core';

/**
 * A message as the memory broker keeps it. It is the {@link RawDelivery} handed to core as is:
 * immutable, so one object serves every queue a fan-out publish reaches.
 */
export type StoredMessage = RawDelivery;

/** The same message as attempt `attempt` (a retry or a replay). */
export function withAttempt(message: StoredMessage, attempt: number, headers?: Headers): StoredMessage {
  return {
    topic: message.topic,
    body: message.body,
    headers: headers ?? message.headers,
    contentType: message.contentType,
    id: message.id,
    timestamp: message.timestamp,
    attempt,
    redelivered: attempt > 1,
  };
}
