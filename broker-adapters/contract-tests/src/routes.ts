/**
 * The three ways a message reaches a handler (docs/architecture.md#message-flow), behind one shape so a
 * behaviour that must hold for each of them is written once.
 */
import type { Broker, ConsumeOptions, Handler, PublishOptions, Subscription } from '@brokerkit/core';
import type { Inbox, Payload, Scope } from './harness.js';

/** `send`+`consume`, `publish`+`subscribe` with a group, `publish`+`subscribe` without. */
export type RouteKind = 'queue' | 'group' | 'ephemeral';

/** One destination of one kind, with unique names. */
export interface Route {
  readonly kind: RouteKind;
  /** Queue, group, or (ephemeral) the topic: what dead letters are named after. */
  readonly origin: string;
  /** The topic messages carry: the topic, or the queue name for work queues. */
  readonly topic: string;
  /** Start a consumer / subscription. */
  listen(broker: Broker, handler: Handler<Payload>, options?: ConsumeOptions): Promise<Subscription>;
  /** Send / publish one message. */
  emit(broker: Broker, data: unknown, options?: PublishOptions): Promise<void>;
}

/** A fresh destination of `kind` with names unique to the scope's test. */
export function route(scope: Scope, kind: RouteKind): Route {
  if (kind === 'queue') {
    const queue = scope.queue();
    return {
      kind,
      origin: queue,
      topic: queue,
      listen: (broker, handler, options) => broker.consume(queue, handler, options),
      emit: (broker, data, options) => broker.send(queue, data, options),
    };
  }
  const topic = scope.topic('ev');
  const group = kind === 'group' ? scope.group() : undefined;
  return {
    kind,
    origin: group ?? topic,
    topic,
    listen: (broker, handler, options) => broker.subscribe(topic, handler, { ...options, group }),
    emit: (broker, data, options) => broker.publish(topic, data, options),
  };
}

/** Kinds with a durable queue behind them (dead-letter queue, depth, inspection). */
export const DURABLE_KINDS: readonly RouteKind[] = ['queue', 'group'];
/** Every kind. */
export const ALL_KINDS: readonly RouteKind[] = ['queue', 'group', 'ephemeral'];

/** Emit `{ k }` for every key, pipelined (all calls issued in order, awaited together). */
export async function emitKeys(
  route: Route,
  broker: Broker,
  keys: readonly string[],
  options?: PublishOptions,
): Promise<void> {
  await Promise.all(keys.map((k) => route.emit(broker, { k }, options)));
}

/**
 * A barrier instead of a sleep: emit one sentinel and wait until every inbox received it. On an
 * ordered route (concurrency 1) everything emitted before it has then arrived, so late
 * duplicates or stray deliveries would already be counted. Resolves with the sentinel's key.
 */
export async function flush(
  scope: Scope,
  route: Route,
  broker: Broker,
  inboxes: readonly Inbox[],
): Promise<string> {
  const k = scope.key('sentinel');
  await route.emit(broker, { k });
  await scope.waitFor(
    () => inboxes.every((inbox) => inbox.has(k)),
    () =>
      `sentinel ${k} on ${route.kind} ${route.origin} (deliveries so far: ${inboxes.map((i) => i.tally.total).join(', ')})`,
  );
  return k;
}
