/**
 * The memory adapter's {@link Transport}: one connection to a shared {@link MemoryBroker}.
 * Publishing is enqueueing, so "confirmed" means "in the queue" and nothing waits on I/O. Like a
 * real broker it copies the body and has a payload limit (memory/README.md#payloads).
 */
import { PayloadTooLargeError } from '@brokerkit/core';
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
import { copyBody, type StoredMessage } from './stored-message.js';

/**
 * The message as the broker keeps it, with bytes nobody else holds. The default codec encodes
 * JSON and text into a new buffer, so only a `Uint8Array` payload (the body is the caller's own
 * `data`) needs copying; a custom codec's body is always copied, since it may reuse its buffers.
 */
function toStored(message: OutgoingMessage, bodyIsFresh: boolean): StoredMessage {
  return {
    topic: message.destination,
    body: bodyIsFresh && message.body !== message.data ? message.body : copyBody(message.body),
    headers: message.headers,
    contentType: message.contentType,
    id: message.id,
    timestamp: message.timestamp,
    timeMs: message.timestamp.getTime(),
    attempt: 1,
    redelivered: false,
  };
}

/** What `publish` and `send` resolve with: nothing to wait for once the message is queued. */
const ENQUEUED: Promise<void> = Promise.resolve();

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
  /** Every accepted publish is queued (confirmed) when `publish` returns: core may tell so at once. */
  readonly confirmed = ENQUEUED;

  constructor(
    private readonly broker: MemoryBroker,
    readonly inspector: QueueInspector,
    private readonly report: (error: Error) => void,
    /** Largest body accepted: the user's `maxPayloadBytes`, else `DEFAULT_MAX_PAYLOAD_BYTES`. */
    private readonly maxPayloadBytes: number,
    /** True with the default codec, whose JSON and text bodies are new buffers (see `toStored`). */
    private readonly codecBodiesAreFresh: boolean,
  ) {
    this.requestReply = new MemoryRequestReply(broker, report);
  }

  // Not `async`: enqueueing is done when the call returns, so every publish can share one
  // resolved promise instead of making its own; failures still arrive as rejections.
  publish(message: OutgoingMessage, _options: TransportPublishOptions): Promise<void> {
    try {
      this.#checkSize(message);
      this.broker.publish(toStored(message, this.codecBodiesAreFresh));
      return ENQUEUED;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  send(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    try {
      this.#checkSize(message);
      this.broker.send(toStored(message, this.codecBodiesAreFresh), options.delayMs);
      return ENQUEUED;
    } catch (error) {
      return Promise.reject(error);
    }
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

  /**
   * Core checks a `maxPayloadBytes` the user set; without one the adapter's own limit applies, as
   * NATS' `max_payload` does there (rejected inside `publish`, so as a rejection, never a throw).
   */
  #checkSize(message: OutgoingMessage): void {
    const size = message.body.byteLength;
    if (size > this.maxPayloadBytes) {
      throw new PayloadTooLargeError(
        `payload of ${size} bytes to ${message.destination} exceeds memory://'s limit of ${this.maxPayloadBytes} bytes (maxPayloadBytes)`,
      );
    }
  }

  #attach(queue: MemoryQueue, concurrency: number, deliver: DeliverFn): MemorySubscription {
    const consumer = new QueueConsumer(deliver, concurrency, this.report);
    queue.attach(consumer);
    return new MemorySubscription(this.broker, queue, consumer);
  }
}
