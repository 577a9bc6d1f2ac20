/**
 * The RabbitMQ {@link Transport}: composes the connection supervisors, the publisher, the topology
 * cache, one consumer per subscription and the inspector. Core does validation, codec,
 * middleware, retry decisions and the closed state; this file only maps them onto AMQP.
 *
 * Two connections, to the same node while both can: one publishes, the other consumes and
 * declares. A memory or disk alarm blocks publishing connections (RabbitMQ stops reading them),
 * and consumers must keep acking meanwhile, which is what drains the broker (RabbitMQ's own
 * advice: separate connections for publishers and consumers).
 */
import { PayloadTooLargeError } from '@brokerkit/core/adapter';
import type {
  BrokerSettings,
  ConsumerSpec,
  DeliverFn,
  OutgoingMessage,
  SubscriptionSpec,
  Transport,
  TransportHooks,
  TransportPublishOptions,
  TransportSubscription,
} from '@brokerkit/core';
import { BucketMover } from './bucket-mover.js';
import { ConnectionSupervisor } from './connection.js';
import { QueueConsumer } from './consumer.js';
import type { ConsumerContext, ConsumerTarget } from './consumer.js';
import { RabbitInspector } from './inspector.js';
import { ManagementClient, vhostOf } from './management.js';
import { asBuffer, publishProperties } from './message.js';
import { sendDelayBucket } from './names.js';
import { resolveOptions } from './options.js';
import type { ResolvedOptions } from './options.js';
import { Publisher } from './publisher.js';
import { RabbitRequestReply } from './rpc.js';
import { CombinedStatus } from './status.js';
import { Topology } from './topology.js';

class RabbitMqTransport implements Transport {
  readonly adapter = 'rabbitmq';
  /** CloudEvents attributes as `cloudEvents_*` entries of the AMQP headers table (README). */
  readonly cloudEventsBinding = 'amqp';
  readonly inspector: RabbitInspector;
  readonly requestReply: RabbitRequestReply;
  /** Consumers, declarations and inspection. */
  readonly #supervisor: ConnectionSupervisor;
  /** Publishes (and the retries and dead letters consumers publish). */
  readonly #publishing: ConnectionSupervisor;
  readonly #publisher: Publisher;
  readonly #topology: Topology;
  readonly #mover: BucketMover;
  readonly #context: ConsumerContext;
  readonly #consumers = new Set<QueueConsumer>();

  constructor(
    private readonly options: ResolvedOptions,
    hooks: TransportHooks,
  ) {
    const url = options.urls[0]!;
    const status = new CombinedStatus(hooks, 2);
    // Both start on the same node, picked at random (see connection.ts), and fail over in the same order.
    const startAt = Math.floor(Math.random() * options.urls.length);
    this.#supervisor = new ConnectionSupervisor(options.urls, options, status.hooksFor(0), { startAt });
    this.#publishing = new ConnectionSupervisor(options.urls, options, status.hooksFor(1), {
      startAt,
      connectionName: `${options.connectionName} publish`,
      reportBlocked: true,
    });
    this.#publisher = new Publisher(
      this.#publishing,
      options.exchange,
      options.maxBufferedPublishes,
      hooks,
      options.queueType === 'quorum',
    );
    this.#topology = new Topology(this.#supervisor, options);
    this.#publishing.join(this.#publisher);
    // Quorum retry buckets are emptied by the adapter itself, the broker's TTL as a fallback (bucket-mover.ts).
    this.#mover = new BucketMover(this.#supervisor, this.#publisher, options.publishTimeoutMs, hooks);
    if (options.queueType === 'quorum') this.#topology.bucketWatcher = this.#mover;
    // A bucket the mover found deleted is declared again by the next retry to it.
    this.#mover.onGone = (bucket) => this.#topology.forget(bucket);
    // Requests publish on the reply channel: it lives on the publishing connection (rpc.ts).
    this.requestReply = new RabbitRequestReply({
      publishing: this.#publishing,
      consuming: this.#supervisor,
      publisher: this.#publisher,
      options,
      hooks,
    });
    this.#publishing.join(this.requestReply);
    // Restored in this order after a reconnection: the declaration cache, the bucket mover, consumers.
    this.#supervisor.join(this.#topology);
    this.#supervisor.join(this.#mover);
    this.#context = {
      supervisor: this.#supervisor,
      publisher: this.#publisher,
      topology: this.#topology,
      options,
      hooks,
    };
    const management =
      options.managementUrls.length > 0
        ? new ManagementClient(options.managementUrls, vhostOf(url))
        : undefined;
    this.inspector = new RabbitInspector(
      this.#supervisor,
      this.#topology,
      options,
      options.codec,
      management,
    );
  }

  async start(): Promise<void> {
    const started = await Promise.allSettled([this.#supervisor.start(), this.#publishing.start()]);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed === undefined) return;
    await Promise.allSettled([this.#publisher.close(), this.#supervisor.close(), this.#publishing.close()]);
    throw failed.reason;
  }

  /** The nodes the two connections are on right now (no credentials), for tests and diagnostics. */
  get nodes(): { consuming: string | undefined; publishing: string | undefined } {
    return { consuming: this.#supervisor.node, publishing: this.#publishing.node };
  }

  publish(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    const size = message.body.byteLength;
    if (size > this.options.maxMessageBytes) return Promise.reject(this.#tooLarge(size));
    return this.#publisher.publish(
      {
        exchange: this.options.exchange,
        routingKey: message.destination,
        content: asBuffer(message.body),
        properties: publishProperties(message, false),
      },
      options.confirm,
      options.timeoutMs,
    );
  }

  send(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    const size = message.body.byteLength;
    if (size > this.options.maxMessageBytes) return Promise.reject(this.#tooLarge(size));
    const queue = message.destination;
    if (options.delayMs > 0) return this.#sendDelayed(message, options);
    const topology = this.#topology;
    const request = {
      exchange: '',
      routingKey: queue,
      content: asBuffer(message.body),
      // mandatory: a queue deleted behind our back is re-declared instead of silently dropping.
      properties: publishProperties(message, true),
      redeclare: () => {
        topology.forget(queue);
        return topology.ensureWorkQueue(queue, options.timeoutMs);
      },
    };
    if (topology.isDeclared(queue))
      return this.#publisher.publish(request, options.confirm, options.timeoutMs);
    return topology
      .ensureWorkQueue(queue, options.timeoutMs)
      .then(() => this.#publisher.publish(request, options.confirm, options.timeoutMs));
  }

  async #sendDelayed(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    const queue = message.destination;
    const topology = this.#topology;
    await topology.ensureWorkQueue(queue, options.timeoutMs);
    const bucketMs = sendDelayBucket(options.delayMs);
    const bucket = await topology.ensureBucket(queue, bucketMs, true, options.timeoutMs);
    const properties = publishProperties(message, true);
    properties.expiration = String(Math.ceil(options.delayMs));
    await this.#publisher.publish(
      {
        exchange: '',
        routingKey: bucket,
        content: asBuffer(message.body),
        properties,
        redeclare: async () => {
          topology.forget(bucket);
          await topology.ensureBucket(queue, bucketMs, true, options.timeoutMs);
        },
      },
      options.confirm,
      options.timeoutMs,
    );
  }

  subscribe(spec: SubscriptionSpec, deliver: DeliverFn): Promise<TransportSubscription> {
    const target: ConsumerTarget =
      spec.group === undefined
        ? { kind: 'ephemeral', pattern: spec.pattern }
        : { kind: 'group', group: spec.group, pattern: spec.pattern };
    return this.#startConsumer(target, spec, deliver);
  }

  consume(spec: ConsumerSpec, deliver: DeliverFn): Promise<TransportSubscription> {
    return this.#startConsumer({ kind: 'queue', queue: spec.queue }, spec, deliver);
  }

  async close(): Promise<void> {
    // Subscriptions are closed by core first; what is left are publishes to flush.
    await Promise.allSettled([...this.#consumers].map((c) => c.close()));
    await this.requestReply.close();
    await this.#mover.close();
    await this.#publisher.idle();
    await this.#publisher.close();
    await Promise.all([this.#supervisor.close(), this.#publishing.close()]);
  }

  async #startConsumer(
    target: ConsumerTarget,
    spec: SubscriptionSpec | ConsumerSpec,
    deliver: DeliverFn,
  ): Promise<TransportSubscription> {
    const consumer = new QueueConsumer(this.#context, target, spec, deliver);
    await consumer.start(this.options.connectTimeoutMs);
    this.#consumers.add(consumer);
    return {
      close: () => consumer.close().finally(() => this.#consumers.delete(consumer)),
    };
  }

  #tooLarge(size: number): PayloadTooLargeError {
    return new PayloadTooLargeError(
      `message of ${size} bytes exceeds the RabbitMQ limit of ${this.options.maxMessageBytes} bytes (rabbitmq.maxMessageBytes)`,
    );
  }
}

/** Create and connect a RabbitMQ transport. */
export async function createRabbitMqTransport(
  settings: BrokerSettings,
  hooks: TransportHooks,
): Promise<Transport> {
  const transport = new RabbitMqTransport(resolveOptions(settings), hooks);
  await transport.start();
  return transport;
}
