/**
 * Broker-side names, derived from logical names by pure functions so the whole topology reads in
 * one screen. NATS stream and consumer names cannot contain `.`, `*` or `>`, so logical names are
 * encoded reversibly: `.` → `-`, `-` → `_-`, `_` → `__`.
 */
import { firstToken } from '@brokerkit/core/adapter';

/** Prefix of event streams: one per first topic token. */
export const EVENT_STREAM_PREFIX = 'BK_EV_';
/** Prefix of work-queue streams. */
export const QUEUE_STREAM_PREFIX = 'BK_Q_';
/** Prefix of dead-letter streams (queues and groups). */
export const DLQ_STREAM_PREFIX = 'BK_DLQ_';

/** Encode a logical name into a valid stream or consumer name (reversible, see module doc). */
export function encodeName(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '_') out += '__';
    else if (c === '-') out += '_-';
    else if (c === '.') out += '-';
    else out += c;
  }
  return out;
}

/** Reverse {@link encodeName}. */
export function decodeName(encoded: string): string {
  let out = '';
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded[i]!;
    if (c === '_') {
      const next = encoded[i + 1];
      out += next === '-' ? '-' : '_';
      i++;
    } else if (c === '-') out += '.';
    else out += c;
  }
  return out;
}

/** The stream that keeps events whose first token is `token`. */
export function eventStreamName(token: string): string {
  return EVENT_STREAM_PREFIX + encodeName(token);
}

/** The event stream a topic or (group) pattern belongs to. */
export function eventStreamFor(topicOrPattern: string): string {
  return eventStreamName(firstToken(topicOrPattern));
}

/** Subjects an event stream captures: the bare token and everything below it (never `>`). */
export function eventStreamSubjects(token: string): string[] {
  return [token, `${token}.>`];
}

/** The work-queue stream of queue `queue`. */
export function queueStreamName(queue: string): string {
  return QUEUE_STREAM_PREFIX + encodeName(queue);
}

/** The subject work-queue messages are published to. */
export function queueSubject(queue: string): string {
  return `_bk.q.${queue}`;
}

/** The dead-letter stream of a queue or group. */
export function dlqStreamName(origin: string): string {
  return DLQ_STREAM_PREFIX + encodeName(origin);
}

/** The subject dead letters of a queue or group are published to. */
export function dlqSubject(origin: string): string {
  return `_bk.dlq.${origin}`;
}

/** The durable consumer of a group or work queue. */
export function consumerName(groupOrQueue: string): string {
  return encodeName(groupOrQueue);
}

/** Logical name of the dead-letter queue of `origin`, as the inspector shows it. */
export function dlqLogicalName(origin: string): string {
  return `${origin}.dlq`;
}

/** `orders.dlq` → `orders`; undefined for a name that is not a dead-letter queue name. */
export function dlqOrigin(name: string): string | undefined {
  return name.endsWith('.dlq') ? name.slice(0, -4) : undefined;
}

/** Members of a group or workers of a queue answer requests on this subject (member count). */
export function presenceSubject(origin: string): string {
  return `_bk.presence.${origin}`;
}
