import { hasCloudEvent, readCloudEvent } from './cloudevents.js';
import { HEADER, userHeaders } from './headers.js';
import type { Codec, DeadLetter, Headers } from './types.js';

/** A stored dead letter as an adapter reads it back from its broker. */
export interface StoredDeadLetter {
  readonly id: string | undefined;
  readonly body: Uint8Array;
  readonly headers: Readonly<Headers>;
  readonly contentType: string | undefined;
  readonly timestamp: Date | undefined;
  /** Where the broker says it was stored (topic / subject); the origin topic header wins. */
  readonly topic: string;
}

/**
 * Turn a stored dead letter into the {@link DeadLetter} the inspector returns. An undecodable
 * body (which is often why it is here) is shown as its raw bytes.
 */
export function toDeadLetter(stored: StoredDeadLetter, codec: Codec): DeadLetter {
  const contentType = stored.contentType ?? 'application/octet-stream';
  let data: unknown;
  try {
    data = codec.decode(stored.body, contentType);
  } catch {
    data = stored.body;
  }
  const h = stored.headers;
  const attempts = Number(h[HEADER.attempts] ?? '0');
  const failedAt = h[HEADER.failedAt] ? new Date(h[HEADER.failedAt]) : new Date(0);
  return {
    id: stored.id ?? '',
    topic: h[HEADER.topic] ?? stored.topic,
    data,
    body: stored.body,
    headers: userHeaders(h),
    timestamp: stored.timestamp ?? new Date(0),
    attempt: attempts,
    redelivered: true,
    contentType,
    cloudEvent: hasCloudEvent(h) ? readCloudEvent(h, stored.contentType) : undefined,
    error: h[HEADER.error] ?? '',
    failedAt,
    attempts,
    origin: h[HEADER.origin] ?? '',
  };
}

/**
 * Headers of a replayed dead letter: the user's headers plus the original topic, without the
 * dead-letter record, so the message starts again at attempt 1.
 */
export function replayHeaders(headers: Readonly<Headers>): Headers {
  const out = { ...userHeaders(headers) };
  const topic = headers[HEADER.topic];
  if (topic !== undefined) out[HEADER.topic] = topic;
  return out;
}
