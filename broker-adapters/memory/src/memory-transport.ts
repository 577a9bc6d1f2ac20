/**
 * The memory adapter's {@link Transport}: one connection to a shared {@link MemoryBroker}.
 * Publishing is enqueueing, so "confirmed" means "in the queue" and nothing waits on I/O.
 */
import type {
  ConsumerSpec,
  DeliverFn,
  OutgoingMessage,
  QueueInspector,
  SubscriptionSpec,
  Transport,
  TransportPublishOptions,
  TransportSubscription,
} from '@brokerkit/core';
import type { MemoryBroker } from './memory-broker.js';
import { QueueConsumer, type MemoryQueue } from './memory-queue.js';
import { MemoryRequestReply } from './memory-rpc.js';
import type { StoredMessage } from './stored-message.js';

function toStored(message: OutgoingMessage): StoredMessage {
  return {
    topic: message.destination,
    body: message.body,
    headers: message.headers,
    contentType: message.contentType,
    id: message.id,
    timestamp: message.timestamp,
    attempt: 1,
    redelivered: false,
  };
}

/** Detach a consumer from its queue on close; ephemeral queues go away with their subscription. */
class MemorySubscription implements TransportSubscription {
  #closing: Promise<void> | undefined;

  constructor(
    private readonly broker: MemoryBroker,
    private readonly queue: MemoryQueue,
    private readonly consumer: QueueConsumer,
  ) {}

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Unroute an ephemeral queue first so nothing new arrives, let running handlers finish, then drop it.
    if (this.queue.kind === 'ephemeral') this.broker.removeEphemeralRoute(this.queue);
    await this.queue.detach(this.consumer);
    if (this.queue.kind === 'ephemeral') this.broker.removeEphemeral(this.queue);
  }
}

/** See the module comment. */
export class MemoryTransport implements Transport {
  readonly adapter = 'memory';
  readonly requestReply: MemoryRequestReply;

  constructor(
    private readonly broker: MemoryBroker,
    readonly inspector: QueueInspector,
    private readonly report: (error: Error) => void,
  ) {
    this.requestReply = new MemoryRequestReply(broker, report);
  }

  async publish(message: OutgoingMessage, _options: TransportPublishOptions): Promise<void> {
    this.broker.publish(toStored(message));
  }

  async send(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    this.broker.send(toStored(message), options.delayMs);
  }

  async subscribe(spec: SubscriptionSpec, deliver: DeliverFn): Promise<TransportSubscription> {
    const queue =
      spec.group === undefined
        ? this.broker.addEphemeral(spec.pattern)
        : this.broker.group(spec.group, spec.pattern);
    return this.#attach(queue, spec.concurrency, deliver);
  }

  async consume(spec: ConsumerSpec, deliver: DeliverFn): Promise<TransportSubscription> {
    return this.#attach(this.broker.workQueue(spec.queue), spec.concurrency, deliver);
  }

  /**
   * Nothing to flush: every confirmed message is already in its queue, which outlives this
   * connection. Requests still waiting for a reply end with `BK_CLOSED`.
   */
  async close(): Promise<void> {
    this.requestReply.close();
  }

  #attach(queue: MemoryQueue, concurrency: number, deliver: DeliverFn): MemorySubscription {
    const consumer = new QueueConsumer(deliver, concurrency, this.report);
    queue.attach(consumer);
    return new MemorySubscription(this.broker, queue, consumer);
  }
}
