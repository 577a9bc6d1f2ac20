/**
 * Declarations: queues, bindings, retry buckets and dead-letter queues, each declared once per
 * connection (cached) on a throwaway channel, so a refused declaration (406) closes nothing
 * anyone else uses.
 */
import type { Channel, Options } from 'amqplib';
import type { ConnectionParticipant, ConnectionSupervisor } from './connection.js';
import { mapAmqpError } from './errors.js';
import { bindingKey, deadLetterQueueName, retryQueueName, roleMarker } from './names.js';
import type { QueueRole } from './names.js';
import type { ResolvedOptions } from './options.js';
import { MOVER_GRACE_MS } from './bucket-mover.js';

/** What a queue is, as far as declaring it goes. */
export type DeclaredKind = 'group' | 'queue';

/** Arguments of a durable brokerkit queue with `role`. */
export function durableQueueOptions(role: QueueRole, queueType: 'classic' | 'quorum'): Options.AssertQueue {
  const args: Record<string, unknown> = {
    // Never used to dead-letter (brokerkit dead-letters itself): the routing key is the marker.
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': roleMarker(role),
  };
  if (queueType === 'quorum') args['x-queue-type'] = 'quorum';
  return { durable: true, arguments: args };
}

/**
 * Arguments of a retry bucket: hold for `delayMs`, then dead-letter back to `origin`.
 *
 * A quorum bucket dead-letters `at-least-once` (RabbitMQ 3.10+): an expired message stays in the
 * bucket until the origin queue confirmed it, so a node killed mid-transfer loses nothing (the
 * default, at-most-once, forgets it once sent). RabbitMQ only honours that strategy with
 * `x-overflow: reject-publish`; without a length limit nothing is ever rejected.
 */
export function bucketQueueOptions(
  origin: string,
  delayMs: number,
  durable: boolean,
  queueType: 'classic' | 'quorum',
): Options.AssertQueue {
  const args: Record<string, unknown> = {
    'x-message-ttl': delayMs,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': origin,
  };
  if (durable && queueType === 'quorum') {
    // Moved by the adapter when due (bucket-mover.ts); the broker's TTL is the fallback.
    args['x-message-ttl'] = delayMs + MOVER_GRACE_MS;
    args['x-queue-type'] = 'quorum';
    args['x-dead-letter-strategy'] = 'at-least-once';
    args['x-overflow'] = 'reject-publish';
  }
  return durable ? { durable: true, arguments: args } : { durable: false, exclusive: true, arguments: args };
}

/** Declare a group queue, its binding and its dead-letter queue on `channel`. */
export async function declareGroupQueue(
  channel: Channel,
  group: string,
  pattern: string,
  exchange: string,
  queueType: 'classic' | 'quorum',
): Promise<void> {
  await channel.assertQueue(group, durableQueueOptions({ kind: 'group', pattern }, queueType));
  await channel.assertQueue(deadLetterQueueName(group), durableQueueOptions({ kind: 'dlq' }, queueType));
  await channel.bindQueue(group, exchange, bindingKey(pattern));
}

/** Declare a work queue and its dead-letter queue on `channel`. */
export async function declareWorkQueue(
  channel: Channel,
  queue: string,
  queueType: 'classic' | 'quorum',
): Promise<void> {
  await channel.assertQueue(queue, durableQueueOptions({ kind: 'queue' }, queueType));
  await channel.assertQueue(deadLetterQueueName(queue), durableQueueOptions({ kind: 'dlq' }, queueType));
}

/** Declare an ephemeral subscription's exclusive, auto-delete queue and bind it. */
export async function declareEphemeralQueue(
  channel: Channel,
  queue: string,
  pattern: string,
  exchange: string,
): Promise<void> {
  await channel.assertQueue(queue, { exclusive: true, autoDelete: true, durable: false });
  await channel.bindQueue(queue, exchange, bindingKey(pattern));
}

/**
 * The declarations this connection has made, so hot paths (send, retry) declare once. Cleared on
 * reconnect: exclusive queues died with the old connection and durable ones may have been deleted
 * meanwhile; the first use re-declares.
 */
export class Topology implements ConnectionParticipant {
  readonly #done = new Set<string>();
  readonly #inProgress = new Map<string, Promise<void>>();
  /** Every queue (logical names) this process declared, with its kind: `listQueues` without the management API. */
  readonly known = new Map<string, DeclaredKind>();
  /** Retry buckets declared by this process, by origin queue. */
  readonly buckets = new Map<string, Set<string>>();
  /** Told about every durable quorum bucket declared, and every bucket forgotten (the {@link BucketMover}). */
  bucketWatcher:
    { add(bucket: string, origin: string, ttlMs: number): void; remove(bucket: string): void } | undefined;

  constructor(
    private readonly supervisor: ConnectionSupervisor,
    private readonly options: ResolvedOptions,
  ) {}

  async connected(): Promise<void> {
    this.#done.clear();
    this.#inProgress.clear();
  }

  lost(): void {}

  /** True once `name` was declared on this connection. */
  isDeclared(name: string): boolean {
    return this.#done.has(name);
  }

  /** Declare a work queue (and its DLQ) once. */
  ensureWorkQueue(queue: string, timeoutMs: number): Promise<void> {
    return this.#once(queue, timeoutMs, `declaring queue "${queue}"`, async (channel) => {
      await declareWorkQueue(channel, queue, this.options.queueType);
      this.known.set(queue, 'queue');
    });
  }

  /** Declare the retry bucket of `origin` for `delayMs` once; resolves with its name. */
  async ensureBucket(origin: string, delayMs: number, durable: boolean, timeoutMs: number): Promise<string> {
    const name = retryQueueName(origin, delayMs);
    if (this.#done.has(name)) return name;
    await this.#once(name, timeoutMs, `declaring retry queue "${name}"`, async (channel) => {
      await channel.assertQueue(name, bucketQueueOptions(origin, delayMs, durable, this.options.queueType));
      let set = this.buckets.get(origin);
      if (!set) this.buckets.set(origin, (set = new Set()));
      set.add(name);
      if (durable && this.options.queueType === 'quorum') this.bucketWatcher?.add(name, origin, delayMs);
    });
    return name;
  }

  /** Declare the dead-letter queue of `origin` once. */
  ensureDeadLetterQueue(origin: string, timeoutMs: number): Promise<void> {
    const name = deadLetterQueueName(origin);
    return this.#once(name, timeoutMs, `declaring dead-letter queue "${name}"`, (channel) =>
      channel.assertQueue(name, durableQueueOptions({ kind: 'dlq' }, this.options.queueType)).then(() => {}),
    );
  }

  /** Record a declaration made elsewhere (a consumer declares its own queue). */
  declared(name: string, kind?: DeclaredKind): void {
    this.#done.add(name);
    if (kind) this.known.set(name, kind);
  }

  /** Forget `name` (deleted, or returned as unroutable): the next use declares it again. */
  forget(name: string): void {
    this.#done.delete(name);
    this.#inProgress.delete(name);
  }

  /** Forget a queue entirely, with its companions (after deleteQueue). */
  forgetQueue(name: string): void {
    this.forget(name);
    this.forget(deadLetterQueueName(name));
    for (const bucket of this.buckets.get(name) ?? []) {
      this.forget(bucket);
      this.bucketWatcher?.remove(bucket);
    }
    this.buckets.delete(name);
    this.known.delete(name);
  }

  #once(
    name: string,
    timeoutMs: number,
    what: string,
    declare: (channel: Channel) => Promise<void>,
  ): Promise<void> {
    if (this.#done.has(name)) return Promise.resolve();
    let running = this.#inProgress.get(name);
    if (!running) {
      running = this.supervisor
        .withChannel(timeoutMs, declare)
        .then(
          () => {
            this.#done.add(name);
          },
          (error: unknown) => {
            throw mapAmqpError(error, what);
          },
        )
        .finally(() => this.#inProgress.delete(name));
      this.#inProgress.set(name, running);
    }
    return running;
  }
}
