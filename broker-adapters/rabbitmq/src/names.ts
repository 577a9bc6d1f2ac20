/**
 * Broker-side names, derived in one place so the whole RabbitMQ topology reads on one screen:
 *
 * | logical                  | RabbitMQ                                                        |
 * |--------------------------|-----------------------------------------------------------------|
 * | topic `orders.created`   | routing key `orders.created` on the topic exchange              |
 * | pattern `orders.>`       | binding key `orders.*.#`                                        |
 * | group / work queue `q`   | durable queue `q`                                               |
 * | ephemeral subscription   | exclusive auto-delete queue `_bk.sub.<random>`                  |
 * | retry delay of `ms`      | queue `<q>.retry.<ms>` (TTL `ms`, dead-letters back to `<q>`)   |
 * | dead letters             | queue `<q>.dlq`                                                 |
 */
import { createHash, randomBytes } from 'node:crypto';

/** Default topic exchange of events. */
export const DEFAULT_EXCHANGE = 'brokerkit.events';

/** Prefix of every marker and internal name brokerkit puts on the broker. */
const INTERNAL = '_bk.';

/**
 * AMQP binding key of a brokerkit pattern. `*` is one token in both; `>` (one or more tokens)
 * becomes `*.#` because AMQP's `#` also matches zero tokens.
 */
export function bindingKey(pattern: string): string {
  return pattern.endsWith('>') ? `${pattern.slice(0, -1)}*.#` : pattern;
}

/** Dead-letter queue of a queue or group. */
export function deadLetterQueueName(queue: string): string {
  return `${queue}.dlq`;
}

/** Retry bucket of a queue for one nominal delay. */
export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${delayMs}`;
}

const RETRY_SUFFIX = /\.retry\.(\d+)$/;

/** The origin queue and delay of a retry bucket name, or undefined for other names. */
export function parseRetryQueueName(name: string): { origin: string; delayMs: number } | undefined {
  const m = RETRY_SUFFIX.exec(name);
  return m ? { origin: name.slice(0, m.index), delayMs: Number(m[1]) } : undefined;
}

/** A fresh name for an ephemeral subscription queue (`amq.*` names cannot get retry companions). */
export function ephemeralQueueName(): string {
  return `${INTERNAL}sub.${randomBytes(8).toString('hex')}`;
}

/** True for queues brokerkit creates for itself (ephemeral subscriptions and their buckets). */
export function isInternalQueue(name: string): boolean {
  return name.startsWith(INTERNAL);
}

/**
 * What a brokerkit queue is for, recorded in its `x-dead-letter-routing-key` argument. RabbitMQ
 * compares that argument on every re-declaration (it ignores unknown `x-` arguments), so a group
 * re-subscribed with another pattern, or a group name reused as a work queue, is refused with
 * 406 PRECONDITION_FAILED instead of being silently re-bound.
 */
export type QueueRole =
  { kind: 'group'; pattern: string } | { kind: 'queue' } | { kind: 'dlq' } | { kind: 'ephemeral' };

/** The `x-dead-letter-routing-key` marker of a role. Never routes: no queue has such a name. */
export function roleMarker(role: QueueRole): string {
  switch (role.kind) {
    case 'group': {
      const marker = `${INTERNAL}group.${role.pattern}`;
      // AMQP short strings hold 255 bytes; a long pattern is represented by its hash.
      if (Buffer.byteLength(marker) <= 255) return marker;
      return `${INTERNAL}group#${createHash('sha256').update(role.pattern).digest('hex')}`;
    }
    case 'queue':
      return `${INTERNAL}queue`;
    case 'dlq':
      return `${INTERNAL}dlq`;
    case 'ephemeral':
      return `${INTERNAL}ephemeral`;
  }
}

/** The kind of a queue from its marker argument, or undefined for queues brokerkit did not create. */
export function kindOfMarker(marker: unknown): 'group' | 'queue' | 'dlq' | undefined {
  if (typeof marker !== 'string' || !marker.startsWith(INTERNAL)) return undefined;
  if (marker === `${INTERNAL}queue`) return 'queue';
  if (marker === `${INTERNAL}dlq`) return 'dlq';
  if (marker.startsWith(`${INTERNAL}group`)) return 'group';
  return undefined;
}

/**
 * The bucket a delay of `delayMs` waits in for a plain `send(..., { delayMs })`: the next power
 * of two, so arbitrary delays create few queues. A message waits at least `delayMs` (its own
 * expiration) and at most the bucket's TTL.
 */
export function sendDelayBucket(delayMs: number): number {
  if (delayMs <= 1) return 1;
  return 2 ** Math.ceil(Math.log2(delayMs));
}

/**
 * How a node is named in errors and events: scheme, host and port, never credentials (not even
 * the user name) or query, e.g. `amqp://10.0.0.2:5672`.
 */
export function nodeName(url: URL): string {
  const port = url.port || (url.protocol === 'amqps:' ? '5671' : '5672');
  return `${url.protocol}//${url.hostname}:${port}`;
}
