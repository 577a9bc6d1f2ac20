/**
 * One subscription or work-queue consumer on its own channel (so a channel error never cascades
 * to other consumers), with prefetch = the consumer's limit, up to `concurrency` handlers at once,
 * and the dispatcher's outcome carried out on the broker: ack, retry through a delay bucket,
 * dead-letter, or discard. Restores itself after a reconnection.
 */
import { ClosedError, DeliveryLoop, HEADER, reconnectDelay } from '@brokerkit/core/adapter';
import type {
  DeliverFn,
  DeliveryOutcome,
  Headers,
  RetryPolicy,
  TransportHooks,
  TransportSubscription,
} from '@brokerkit/core';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { ConnectionParticipant, ConnectionSupervisor } from './connection.js';
import { mapAmqpError } from './errors.js';
import { PUBLISHED_AT_HEADER, copyProperties, toRawDelivery } from './message.js';
import { deadLetterQueueName, ephemeralQueueName } from './names.js';
import type { ResolvedOptions } from './options.js';
import type { Publisher } from './publisher.js';
import { declareEphemeralQueue, declareGroupQueue, declareWorkQueue } from './topology.js';
import type { Topology } from './topology.js';

/** What the consumer reads from and how it declares it. */
export type ConsumerTarget =
  | { readonly kind: 'group'; readonly group: string; readonly pattern: string }
  | { readonly kind: 'queue'; readonly queue: string }
  | { readonly kind: 'ephemeral'; readonly pattern: string };

/** Shared parts of the transport a consumer uses. */
export interface ConsumerContext {
  readonly supervisor: ConnectionSupervisor;
  readonly publisher: Publisher;
  readonly topology: Topology;
  readonly options: ResolvedOptions;
  readonly hooks: TransportHooks;
}

/** Settings of one consumer. */
export interface ConsumerSettings {
  readonly concurrency: number;
  readonly prefetch: number;
  readonly retry: RetryPolicy;
}

function describeTarget(target: ConsumerTarget): string {
  switch (target.kind) {
    case 'group':
      return `group "${target.group}" (pattern "${target.pattern}")`;
    case 'queue':
      return `queue "${target.queue}"`;
    case 'ephemeral':
      return `subscription to "${target.pattern}"`;
  }
}

/** Backoff between two attempts to restore a consumer on a live connection. */
const RESTORE_BACKOFF = { initialMs: 100, maxMs: 5_000 };

/** A consumer that keeps consuming across reconnections until closed. */
export class QueueConsumer implements ConnectionParticipant, TransportSubscription {
  #channel: Channel | undefined;
  #consumerTag: string | undefined;
  /** Broker queue consumed: the group or queue name, or a fresh `_bk.sub.*` per connection. */
  #queue: string;
  #closing: Promise<void> | undefined;
  /** Deliveries of this consumer, each with the channel it came on (acks go to that channel only). */
  readonly #loop: DeliveryLoop<ConsumeMessage, Channel>;
  readonly #label: string;
  /** Failed restores in a row on the current connection (the backoff step). */
  #restoreFailures = 0;
  #restoreTimer: NodeJS.Timeout | undefined;
  /**
   * Ack coalescing on `#channel` (see {@link #ack}). Delivery tags count 1, 2, 3, … per channel,
   * and this consumer is alone on its channel: every tag below `#ackNext` is settled on the wire.
   */
  #ackNext = 1;
  /** Tags `#ackNext … #ackNext + #ackBatch - 1` are acked and wait for the end of the tick. */
  #ackBatch = 0;
  /** The batch's highest message (what the `multiple` ack names) and its channel. */
  #ackLast: ConsumeMessage | undefined;
  #ackChannel: Channel | undefined;
  /** Tags above the contiguous prefix settled out of order (async handlers); rarely any. */
  #ackAbove: Set<number> | undefined;
  readonly #flushAcks = (): void => this.#sendAcks();

  constructor(
    private readonly ctx: ConsumerContext,
    private readonly target: ConsumerTarget,
    private readonly settings: ConsumerSettings,
    deliver: DeliverFn,
  ) {
    this.#queue = target.kind === 'group' ? target.group : target.kind === 'queue' ? target.queue : '';
    this.#label = describeTarget(target);
    this.#loop = new DeliveryLoop<ConsumeMessage, Channel>({
      concurrency: settings.concurrency,
      deliver,
      toDelivery: (message) => toRawDelivery(message),
      settle: (message, channel, outcome) => this.#settle(channel, message, outcome),
      release: (message, channel) => this.#requeue(channel, message),
      report: (error) => this.ctx.hooks.error(error),
    });
  }

  /** Declare and start consuming; rejects with a typed error (e.g. `BK_CONFIG` on a conflict). */
  async start(timeoutMs: number): Promise<void> {
    const model = await this.ctx.supervisor.whenReady(timeoutMs);
    await this.#consumeOn(model);
    this.ctx.supervisor.join(this);
  }

  /**
   * Restore on a (new) connection. A failure (the queue's leader not elected yet, a channel error,
   * a conflicting declaration) is reported and tried again with backoff (100 ms → 5 s) for as long
   * as this connection lives and the consumer is open; a new connection starts over.
   */
  async connected(model: ChannelModel): Promise<void> {
    this.#cancelRestore();
    this.#restoreFailures = 0;
    await this.#restore(model);
  }

  async #restore(model: ChannelModel): Promise<void> {
    if (this.#closing || this.#channel !== undefined) return;
    try {
      await this.#consumeOn(model);
      this.#restoreFailures = 0;
    } catch (error) {
      // A connection lost again while restoring is the supervisor's business, not an error to report.
      if (this.ctx.supervisor.current !== model || this.#closing) return;
      const delayMs = reconnectDelay(++this.#restoreFailures, RESTORE_BACKOFF);
      this.ctx.hooks.error(mapAmqpError(error, `restoring ${this.#label}`));
      this.#restoreTimer = setTimeout(() => {
        this.#restoreTimer = undefined;
        if (this.ctx.supervisor.current === model) void this.#restore(model);
      }, delayMs);
    }
  }

  #cancelRestore(): void {
    if (this.#restoreTimer !== undefined) clearTimeout(this.#restoreTimer);
    this.#restoreTimer = undefined;
  }

  lost(): void {
    this.#cancelRestore();
    // Unacked messages of the dead channel go back to the queue; handlers still running finish
    // but their acks have nowhere to go (the broker redelivers: at-least-once).
    this.#channel = undefined;
    this.#consumerTag = undefined;
    // Prefetched messages no handler started went back to the queue with their channel.
    this.#loop.takeWaiting();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.ctx.supervisor.leave(this);
    this.#cancelRestore();
    // At once, not after the cancel round trip: a handler finishing meanwhile must not start the
    // next prefetched message. Those go back to the queue when the channel closes.
    this.#loop.stop();
    const channel = this.#channel;
    const tag = this.#consumerTag;
    if (channel && tag) await channel.cancel(tag).catch(() => {});
    await this.#loop.idle();
    // The last handlers' acks may still wait for the end of their tick: out before the close.
    this.#sendAcks();
    this.#channel = undefined;
    if (channel) await channel.close().catch(() => {});
    if (this.target.kind === 'ephemeral') await this.#deleteEphemeral();
  }

  async #deleteEphemeral(): Promise<void> {
    const buckets = this.ctx.topology.buckets.get(this.#queue);
    if (!buckets || !this.ctx.supervisor.model) return;
    const names = [...buckets];
    this.ctx.topology.forgetQueue(this.#queue);
    await this.ctx.supervisor
      .withChannel(this.ctx.options.connectTimeoutMs, async (channel) => {
        for (const name of names) await channel.deleteQueue(name);
      })
      .catch(() => {});
  }

  async #consumeOn(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', () => {
      // Followed by 'close'; the failing call reports the cause.
    });
    try {
      await channel.prefetch(this.settings.prefetch);
      await this.#declare(channel);
      // Current before consume: deliveries can arrive in the same read as consume-ok, before the
      // awaited promise resumes. A new channel numbers its deliveries from 1 again.
      this.#channel = channel;
      this.#resetAcks();
      const ok = await channel.consume(this.#queue, (message) => this.#onMessage(channel, message), {
        noAck: false,
      });
      if (this.#closing) throw new ClosedError('the subscription was closed while starting');
      this.#consumerTag = ok.consumerTag;
      channel.on('close', () => this.#channelClosed(channel, model));
    } catch (error) {
      if (this.#channel === channel) this.lost();
      channel.close().catch(() => {});
      throw mapAmqpError(error, `subscribing ${this.#label}`);
    }
  }

  async #declare(channel: Channel): Promise<void> {
    const { exchange, queueType } = this.ctx.options;
    const target = this.target;
    const topology = this.ctx.topology;
    switch (target.kind) {
      case 'group':
        await declareGroupQueue(channel, target.group, target.pattern, exchange, queueType);
        topology.declared(target.group, 'group');
        topology.declared(deadLetterQueueName(target.group));
        return;
      case 'queue':
        await declareWorkQueue(channel, target.queue, queueType);
        topology.declared(target.queue, 'queue');
        topology.declared(deadLetterQueueName(target.queue));
        return;
      case 'ephemeral':
        // A new name per connection: the old exclusive queue may not be gone yet on the server.
        this.#queue = ephemeralQueueName();
        await declareEphemeralQueue(channel, this.#queue, target.pattern, exchange);
        return;
    }
  }

  /** A channel closed by the broker while the connection lives (consumer-side channel error). */
  #channelClosed(channel: Channel, model: ChannelModel): void {
    if (channel !== this.#channel) return;
    this.lost();
    setImmediate(() => {
      if (this.#closing || this.#channel !== undefined || this.ctx.supervisor.current !== model) return;
      void this.#restore(model);
    });
  }

  #onMessage(channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      // Cancelled by the broker (the queue was deleted): declare it again and carry on.
      if (channel !== this.#channel || this.#closing) return;
      this.ctx.hooks.error(mapAmqpError(new Error('consumer cancelled by the broker'), this.#label));
      const model = this.ctx.supervisor.model;
      this.lost();
      channel.close().catch(() => {});
      if (model) void this.#restore(model);
      return;
    }
    // Closing: no new handler starts; the message returns to the queue with the channel.
    if (channel !== this.#channel || this.#closing) return;
    this.#loop.push(message, channel);
  }

  /** Carry out core's outcome; a throw or rejection makes the loop requeue the message and report it. */
  #settle(channel: Channel, message: ConsumeMessage, outcome: DeliveryOutcome): void | Promise<void> {
    switch (outcome.kind) {
      case 'ack':
      case 'discarded':
        return this.#ack(channel, message);
      case 'retry':
        return this.#moveThenAck(channel, message, () =>
          this.#retry(message, outcome.delayMs, outcome.nominalDelayMs, outcome.nextAttempt),
        );
      case 'dead_letter':
        return this.#moveThenAck(channel, message, () => this.#deadLetter(message, outcome.headers));
      default:
        throw new Error(`unknown delivery outcome ${String((outcome as { kind: unknown }).kind)}`);
    }
  }

  /** A settle failed: back to the queue at once (on a dead channel the broker does it anyway). */
  #requeue(channel: Channel, message: ConsumeMessage): void {
    if (channel !== this.#channel) return;
    this.#settledAlone(message.fields.deliveryTag);
    try {
      channel.nack(message, false, true);
    } catch {
      // Closed meanwhile: the broker redelivers.
    }
  }

  /**
   * Ack, coalesced: acks of consecutive deliveries settled in the same tick (a read's worth of
   * deliveries to a synchronous handler, or handlers that finish together) go out at the end of
   * the tick as one `basic.ack` with `multiple`, instead of one frame each — the broker's channel
   * handles one frame instead of dozens. `multiple` acks every unacked tag up to the one named,
   * so a batch only ever holds the tags right above the settled prefix (`#ackNext`): a delivery
   * still in its handler, requeued or moved stays out of it, and one settled out of order is
   * acked alone at once. The batch goes out with `process.nextTick`, before amqplib's write mux
   * (a `setImmediate`) takes the frames to the socket, so an ack reaches the broker no later than
   * before; it is sent before the channel is closed (`#close`), and dropped with a dead channel
   * like any ack (the broker redelivers: at-least-once, as before).
   */
  #ack(channel: Channel, message: ConsumeMessage): void {
    if (channel !== this.#channel) return; // dead channel: the broker redelivers
    const tag = message.fields.deliveryTag;
    if (tag === this.#ackNext + this.#ackBatch && (this.#ackBatch === 0 || channel === this.#ackChannel)) {
      if (this.#ackBatch++ === 0) {
        this.#ackChannel = channel;
        process.nextTick(this.#flushAcks);
      }
      this.#ackLast = message;
      return;
    }
    this.#settledAlone(tag);
    try {
      channel.ack(message);
    } catch {
      // Closed meanwhile: same as above.
    }
  }

  /** Send the waiting acks: one frame for the batch (`multiple` when it holds more than one). */
  #sendAcks(): void {
    const count = this.#ackBatch;
    if (count === 0) return;
    const channel = this.#ackChannel;
    const last = this.#ackLast!;
    this.#ackBatch = 0;
    this.#ackLast = undefined;
    this.#ackChannel = undefined;
    if (channel !== this.#channel) return; // dead channel: the broker redelivers
    this.#ackNext += count;
    this.#advanceAcks();
    try {
      channel!.ack(last, count > 1);
    } catch {
      // Closed meanwhile: the broker redelivers.
    }
  }

  /** A delivery settled with a frame of its own (out of order, a nack): note it for the prefix. */
  #settledAlone(tag: number): void {
    if (tag === this.#ackNext && this.#ackBatch === 0) {
      this.#ackNext++;
      this.#advanceAcks();
    } else if (tag >= this.#ackNext + this.#ackBatch) {
      (this.#ackAbove ??= new Set()).add(tag);
    }
  }

  /** Move the settled prefix over tags settled out of order that are now contiguous with it. */
  #advanceAcks(): void {
    const above = this.#ackAbove;
    if (above === undefined || this.#ackBatch !== 0) return;
    while (above.delete(this.#ackNext)) this.#ackNext++;
    if (above.size === 0) this.#ackAbove = undefined;
  }

  #resetAcks(): void {
    this.#ackNext = 1;
    this.#ackBatch = 0;
    this.#ackLast = undefined;
    this.#ackChannel = undefined;
    this.#ackAbove = undefined;
  }

  /** Publish the copy (confirmed) before acking the original: a crash in between duplicates, never loses. */
  async #moveThenAck(channel: Channel, message: ConsumeMessage, move: () => Promise<void>): Promise<void> {
    try {
      await move();
    } catch (error) {
      throw mapAmqpError(error, `${this.#label}: moving message ${String(message.properties.messageId)}`);
    }
    this.#ack(channel, message);
  }

  async #retry(
    message: ConsumeMessage,
    delayMs: number,
    nominal: number,
    nextAttempt: number,
  ): Promise<void> {
    const headers: Headers = { ...toRawDelivery(message).headers };
    headers[HEADER.attempt] = String(nextAttempt);
    headers[HEADER.topic] ??= message.fields.routingKey;
    const origin = this.#queue;
    const timeoutMs = this.ctx.options.publishTimeoutMs;
    if (nominal <= 0 || delayMs <= 0) {
      const properties = copyProperties(message, headers);
      await this.ctx.publisher.publish(
        { exchange: '', routingKey: origin, content: message.content, properties },
        true,
        timeoutMs,
      );
      return;
    }
    const durable = this.target.kind !== 'ephemeral';
    const topology = this.ctx.topology;
    const bucket = await topology.ensureBucket(origin, nominal, durable, timeoutMs);
    // Jitter as per-message expiration: never above the bucket TTL, so the head never blocks longer.
    const properties = copyProperties(message, headers, Math.min(delayMs, nominal));
    const redeclare = async () => {
      topology.forget(bucket);
      await topology.ensureBucket(origin, nominal, durable, timeoutMs);
    };
    await this.ctx.publisher.publish(
      { exchange: '', routingKey: bucket, content: message.content, properties, redeclare },
      true,
      timeoutMs,
    );
  }

  async #deadLetter(message: ConsumeMessage, deadLetterHeaders: Headers): Promise<void> {
    const headers: Headers = { ...deadLetterHeaders };
    const raw = message.properties.headers as Record<string, unknown> | undefined;
    const ts = raw?.[PUBLISHED_AT_HEADER];
    if (typeof ts === 'string') headers[PUBLISHED_AT_HEADER] = ts;
    const origin = this.#queue;
    const dlq = deadLetterQueueName(origin);
    const timeoutMs = this.ctx.options.publishTimeoutMs;
    const topology = this.ctx.topology;
    await topology.ensureDeadLetterQueue(origin, timeoutMs);
    const redeclare = async () => {
      topology.forget(dlq);
      await topology.ensureDeadLetterQueue(origin, timeoutMs);
    };
    const properties = copyProperties(message, headers);
    await this.ctx.publisher.publish(
      { exchange: '', routingKey: dlq, content: message.content, properties, redeclare },
      true,
      timeoutMs,
    );
  }
}
