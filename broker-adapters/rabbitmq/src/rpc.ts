/**
 * Request / reply on RabbitMQ.
 *
 * **Requests** use direct reply-to: one channel of its own on the publishing connection consumes
 * the pseudo-queue `amq.rabbitmq.reply-to` (no acks) and publishes every request with
 * `replyTo: amq.rabbitmq.reply-to` and a `correlationId` (RabbitMQ wants both on one channel);
 * replies are matched by that id, so any number of requests in flight share the channel. Requests
 * go to the topic exchange `<exchange>.rpc`, apart from events, published `mandatory`: with no
 * responder queue bound to the topic RabbitMQ returns the request (`basic.return`), which is
 * `BK_NO_RESPONDERS` at once. Their `expiration` is the request's timeout, so a request nobody
 * took in time is dropped by the broker rather than answered for nobody. A lost connection ends
 * every waiting request with `BK_UNAVAILABLE` (its reply would go to the dead channel); the
 * reply consumer is restored with the connection (`connected`).
 *
 * **Responders** are consumers on the consuming connection, one channel each, prefetch =
 * concurrency, on a queue bound to the pattern on `<exchange>.rpc`: without a group an exclusive
 * auto-delete queue `_bk.rpc.<random>` (new per connection); with a group a shared, non-durable,
 * auto-delete queue `_bk.rpc.g.<group>.<hash of the pattern>` whose members take turns. Neither
 * is durable: a request is worth nothing once its requester stopped waiting, and a queue that goes
 * with its last responder keeps "nobody responds" detectable. Replies go through the publisher's
 * unconfirmed path to the default exchange, routing key = the request's `replyTo`; the request is
 * acked after its reply was written.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  BrokerUnavailableError,
  ClosedError,
  DeliveryLoop,
  NoRespondersError,
  PayloadTooLargeError,
  TimeoutError,
  errorReply,
  idCarriesTime,
} from '@brokerkit/core/adapter';
import type {
  AnswerFn,
  OutgoingMessage,
  RawDelivery,
  RequestReplyTransport,
  ResponderSpec,
  TransportHooks,
  TransportRequestOptions,
  TransportSubscription,
} from '@brokerkit/core';
import type { Channel, ChannelModel, ConsumeMessage, Message, Options } from 'amqplib';
import type { ConnectionParticipant, ConnectionSupervisor } from './connection.js';
import { mapAmqpError } from './errors.js';
import { PUBLISHED_AT_HEADER, asBuffer, toRawDelivery } from './message.js';
import { bindingKey } from './names.js';
import type { ResolvedOptions } from './options.js';
import type { Publisher } from './publisher.js';

/** RabbitMQ's pseudo-queue for direct reply-to. */
const REPLY_TO = 'amq.rabbitmq.reply-to';

/** The topic exchange requests go through: the events exchange's name plus `.rpc`. */
export function rpcExchangeName(eventsExchange: string): string {
  return `${eventsExchange}.rpc`;
}

/** The queue of a responder: exclusive per connection without a group, shared by a group's members. */
export function responderQueueName(pattern: string, group: string | undefined): string {
  if (group === undefined) return `_bk.rpc.${randomBytes(8).toString('hex')}`;
  // The pattern is part of a group's identity (as for NATS queue groups): its hash keeps the name short.
  const hash = createHash('sha256').update(pattern).digest('hex').slice(0, 16);
  return `_bk.rpc.g.${group}.${hash}`;
}

/**
 * The headers table of a request or reply: the user's headers (a request's; a reply carries at
 * most the error marker), plus the millisecond publish time only when the id does not carry it
 * (brokerkit's own ids always do). `undefined` when there is nothing to say, as for events.
 */
function headersOf(message: OutgoingMessage): Options.Publish['headers'] {
  const ms = message.timestamp.getTime();
  if (!idCarriesTime(message.id, ms)) return { ...message.headers, [PUBLISHED_AT_HEADER]: String(ms) };
  for (const _ in message.headers) return message.headers;
  return undefined;
}

/**
 * AMQP properties of a request. Each is there for a reason (docs/architecture.md#request-and-reply):
 * `replyTo` + `correlationId` are direct reply-to itself; `mandatory` makes an unbound topic come
 * back as `basic.return`, i.e. `BK_NO_RESPONDERS` at once; `expiration` (the time left) lets the
 * broker drop a request nobody took before its requester gave up, so an overloaded responder
 * does not work through a backlog nobody waits for; `messageId` and `timestamp` are the request's
 * `id` and publish time (SPEC §2: the native properties carry them); `contentType` tells the
 * responder, brokerkit's or a plain client's, how to decode the body. No `deliveryMode`: a
 * request lives at most as long as its timeout in a non-durable queue, and leaving it out is
 * AMQP's transient default (persistence would cost a disk write for nothing).
 * One object literal, always the same shape: what amqplib reads on every publish.
 */
function requestProperties(
  message: OutgoingMessage,
  correlationId: string,
  remainingMs: number,
): Options.Publish {
  return {
    mandatory: true,
    replyTo: REPLY_TO,
    correlationId,
    expiration: String(remainingMs),
    messageId: message.id,
    timestamp: Math.floor(message.timestamp.getTime() / 1000),
    contentType: message.contentType,
    headers: headersOf(message),
  };
}

/**
 * AMQP properties of a reply: the request's `correlationId`, the reply's own id, time and content
 * type (the error marker header when the handler threw). Not `mandatory`: a reply whose requester
 * is gone has nobody to be returned to. Transient, as its request.
 */
function replyProperties(reply: OutgoingMessage, correlationId: string | undefined): Options.Publish {
  return {
    correlationId,
    messageId: reply.id,
    timestamp: Math.floor(reply.timestamp.getTime() / 1000),
    contentType: reply.contentType,
    headers: headersOf(reply),
  };
}

interface PendingRequest {
  readonly topic: string;
  readonly resolve: (reply: RawDelivery) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** What the request/reply parts share with the rest of the transport. */
export interface RpcContext {
  /** Publishes, and requests (their channel lives on this connection). */
  readonly publishing: ConnectionSupervisor;
  /** Responders consume on this one. */
  readonly consuming: ConnectionSupervisor;
  readonly publisher: Publisher;
  readonly options: ResolvedOptions;
  readonly hooks: TransportHooks;
}

/** The request/reply capability of the RabbitMQ transport. Join it to the publishing supervisor. */
export class RabbitRequestReply implements RequestReplyTransport, ConnectionParticipant {
  readonly #exchange: string;
  readonly #pending = new Map<string, PendingRequest>();
  readonly #responders = new Set<RabbitResponder>();
  #channel: Channel | undefined;
  #opening: Promise<Channel> | undefined;
  /** Set by the first request: from then on the reply consumer is restored with the connection. */
  #used = false;
  #next = 0;
  #closed = false;

  constructor(private readonly ctx: RpcContext) {
    this.#exchange = rpcExchangeName(ctx.options.exchange);
  }

  async connected(model: ChannelModel): Promise<void> {
    if (!this.#used || this.#closed) return;
    try {
      await this.#open(model);
    } catch (error) {
      // The next request opens it again; nothing else depends on it.
      if (this.ctx.publishing.current === model)
        this.ctx.hooks.error(toMapped(error, 'restoring the reply consumer'));
    }
  }

  lost(error: Error | undefined): void {
    this.#channel = undefined;
    this.#opening = undefined;
    this.#failAll(
      new BrokerUnavailableError(
        'the connection was lost before the reply came (the request may or may not have been handled)',
        { cause: error },
      ),
    );
  }

  request(message: OutgoingMessage, options: TransportRequestOptions): Promise<RawDelivery> {
    if (this.#closed) return Promise.reject(new ClosedError());
    const size = message.body.byteLength;
    if (size > this.ctx.options.maxMessageBytes) {
      return Promise.reject(
        new PayloadTooLargeError(
          `request of ${size} bytes exceeds the RabbitMQ limit of ${this.ctx.options.maxMessageBytes} bytes (rabbitmq.maxMessageBytes)`,
        ),
      );
    }
    this.#used = true;
    const channel = this.#channel;
    // The common case, the reply channel open: no async function around the request (one returning
    // a promise costs a second promise and two more microtask turns per round trip).
    if (channel !== undefined) return this.#send(channel, message, options.timeoutMs, options.timeoutMs);
    return this.#requestWhenReady(message, options.timeoutMs);
  }

  /** The first request, or one during an outage: wait for the reply channel, within the timeout. */
  async #requestWhenReady(message: OutgoingMessage, timeoutMs: number): Promise<RawDelivery> {
    const deadline = Date.now() + timeoutMs;
    let channel: Channel;
    try {
      channel = await this.#ready(timeoutMs);
    } catch (error) {
      if (this.#closed) throw new ClosedError('the broker was closed before the request was sent');
      throw error;
    }
    if (this.#closed) throw new ClosedError('the broker was closed before the request was sent');
    return this.#send(channel, message, timeoutMs, Math.max(1, deadline - Date.now()));
  }

  #send(
    channel: Channel,
    message: OutgoingMessage,
    timeoutMs: number,
    remainingMs: number,
  ): Promise<RawDelivery> {
    const topic = message.destination;
    const id = (this.#next++).toString(36);
    const properties = requestProperties(message, id, remainingMs);
    return new Promise<RawDelivery>((resolve, reject) => {
      const pending: PendingRequest = { topic, resolve, reject, timer: undefined };
      pending.timer = setTimeout(() => {
        if (this.#pending.get(id) !== pending) return;
        this.#pending.delete(id);
        reject(new TimeoutError(`no reply to ${topic} within ${timeoutMs} ms`));
      }, remainingMs);
      this.#pending.set(id, pending);
      try {
        channel.publish(this.#exchange, topic, asBuffer(message.body), properties);
      } catch (error) {
        // The channel closed between the check and the write.
        this.#settle(id, undefined, toMapped(error, `requesting ${topic}`));
      }
    });
  }

  async respond(spec: ResponderSpec, answer: AnswerFn): Promise<TransportSubscription> {
    if (this.#closed) throw new ClosedError();
    const responder = new RabbitResponder(this.ctx, this.#exchange, spec, answer);
    await responder.start(this.ctx.options.connectTimeoutMs);
    this.#responders.add(responder);
    return {
      close: () => responder.close().finally(() => this.#responders.delete(responder)),
    };
  }

  /** Requests still waiting end with `BK_CLOSED`; the reply channel closes. Responders first. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#responders].map((r) => r.close()));
    this.#failAll(new ClosedError('the broker was closed while the request waited for its reply'));
    const channel = this.#channel;
    this.#channel = undefined;
    await channel?.close().catch(() => undefined);
  }

  /** The reply channel, opened (once) on the live connection, waiting out an outage. */
  async #ready(timeoutMs: number): Promise<Channel> {
    const model = await this.ctx.publishing.whenReady(timeoutMs);
    return this.#channel ?? (await this.#open(model));
  }

  #open(model: ChannelModel): Promise<Channel> {
    this.#opening ??= this.#openOn(model).finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #openOn(model: ChannelModel): Promise<Channel> {
    const channel = await model.createChannel();
    channel.on('error', () => {
      // Followed by 'close'.
    });
    try {
      channel.on('return', (returned: Message) => this.#returned(returned));
      await channel.assertExchange(this.#exchange, 'topic', { durable: true });
      await channel.consume(REPLY_TO, (reply) => this.#reply(channel, reply), { noAck: true });
    } catch (error) {
      channel.close().catch(() => undefined);
      if (this.ctx.publishing.current !== model) {
        throw new BrokerUnavailableError('the connection was lost while the reply channel opened', {
          cause: error,
        });
      }
      throw toMapped(error, 'opening the reply channel');
    }
    channel.on('close', () => this.#channelClosed(channel));
    if (this.#closed || this.ctx.publishing.current !== model) {
      channel.close().catch(() => undefined);
      throw new BrokerUnavailableError('the connection changed while the reply channel opened');
    }
    this.#channel = channel;
    return channel;
  }

  #reply(channel: Channel, reply: ConsumeMessage | null): void {
    if (reply === null) {
      // Cancelled by the broker: the next request opens a new channel.
      this.#channelClosed(channel);
      channel.close().catch(() => undefined);
      return;
    }
    const id = reply.properties.correlationId as string | undefined;
    if (id === undefined) return;
    // A late reply (the requester timed out) or a second responder's: nobody waits for it.
    if (!this.#pending.has(id)) return;
    this.#settle(id, toRawDelivery(reply), undefined);
  }

  #returned(request: Message): void {
    const id = request.properties.correlationId as string | undefined;
    if (id === undefined) return;
    this.#settle(id, undefined, new NoRespondersError(`no responder for ${request.fields.routingKey}`));
  }

  /**
   * The channel died (with its connection, which closes channels first, or alone): what waited on
   * it cannot be answered any more.
   */
  #channelClosed(channel: Channel): void {
    if (this.#channel !== channel) return;
    this.#channel = undefined;
    this.#failAll(
      new BrokerUnavailableError(
        'the reply channel closed before the reply came (the request may or may not have been handled)',
      ),
    );
  }

  #settle(id: string, reply: RawDelivery | undefined, error: Error | undefined): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(reply!);
  }

  #failAll(error: Error): void {
    if (this.#pending.size === 0) return;
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const pending of all) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}

function toMapped(error: unknown, what: string): Error {
  return mapAmqpError(error, what);
}

/** One `respond` call: a consumer that answers each request and acks it once the reply is out. */
class RabbitResponder implements ConnectionParticipant {
  #channel: Channel | undefined;
  #consumerTag: string | undefined;
  #queue: string;
  #closing: Promise<void> | undefined;
  readonly #loop: DeliveryLoop<ConsumeMessage, Channel, OutgoingMessage>;
  readonly #label: string;

  constructor(
    private readonly ctx: RpcContext,
    private readonly exchange: string,
    private readonly spec: ResponderSpec,
    answer: AnswerFn,
  ) {
    this.#queue = responderQueueName(spec.pattern, spec.group);
    this.#label = `responder to "${spec.pattern}"${spec.group === undefined ? '' : ` (group "${spec.group}")`}`;
    this.#loop = new DeliveryLoop<ConsumeMessage, Channel, OutgoingMessage>({
      concurrency: spec.concurrency,
      deliver: answer,
      toDelivery: (message, channel) => {
        // Nobody to answer: not a request (published by hand without replyTo).
        if (!message.properties.replyTo) {
          this.#ack(channel, message);
          return undefined;
        }
        return toRawDelivery(message);
      },
      settle: (message, channel, reply) => this.#reply(channel, message, reply),
      release: (message, channel) => this.#requeue(channel, message),
      report: (error) => this.ctx.hooks.error(error),
    });
  }

  /** Declare, bind and start consuming; resolves once live on the broker. */
  async start(timeoutMs: number): Promise<void> {
    const model = await this.ctx.consuming.whenReady(timeoutMs);
    await this.#consumeOn(model);
    this.ctx.consuming.join(this);
  }

  async connected(model: ChannelModel): Promise<void> {
    if (this.#closing) return;
    try {
      await this.#consumeOn(model);
    } catch (error) {
      if (this.ctx.consuming.current === model)
        this.ctx.hooks.error(toMapped(error, `restoring the ${this.#label}`));
    }
  }

  lost(): void {
    // Unacked requests of the dead channel go back to the queue (a group's other members take them).
    this.#channel = undefined;
    this.#consumerTag = undefined;
    this.#loop.takeWaiting();
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.ctx.consuming.leave(this);
    const waiting = this.#loop.stop();
    const channel = this.#channel;
    const tag = this.#consumerTag;
    if (channel && tag) await channel.cancel(tag).catch(() => undefined);
    // Taken but not started: back to the queue, for a group's other members.
    for (const [message, on] of waiting) this.#requeue(on, message);
    await this.#loop.idle();
    this.#channel = undefined;
    if (channel) {
      // Deleted now rather than by auto-delete later: a request right after close must already
      // find no queue bound (BK_NO_RESPONDERS). A group's queue only once its last member left.
      await channel
        .deleteQueue(this.#queue, { ifUnused: this.spec.group !== undefined })
        .catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  }

  async #consumeOn(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', () => {
      // Followed by 'close'; the failing call reports the cause.
    });
    try {
      await channel.prefetch(this.spec.concurrency);
      await channel.assertExchange(this.exchange, 'topic', { durable: true });
      if (this.spec.group === undefined) {
        // A new name per connection: the old exclusive queue may not be gone yet on the server.
        this.#queue = responderQueueName(this.spec.pattern, undefined);
        await channel.assertQueue(this.#queue, { exclusive: true, autoDelete: true, durable: false });
      } else {
        await channel.assertQueue(this.#queue, { exclusive: false, autoDelete: true, durable: false });
      }
      await channel.bindQueue(this.#queue, this.exchange, bindingKey(this.spec.pattern));
      // Current before consume: requests can arrive in the same read as consume-ok.
      this.#channel = channel;
      const ok = await channel.consume(this.#queue, (message) => this.#onMessage(channel, message), {
        noAck: false,
      });
      if (this.#closing) throw new ClosedError('the responder was closed while starting');
      this.#consumerTag = ok.consumerTag;
      channel.on('close', () => this.#channelClosed(channel, model));
    } catch (error) {
      if (this.#channel === channel) this.lost();
      channel.close().catch(() => undefined);
      // A closed channel's error with a 406 (a queue of that name with other arguments) is BK_CONFIG.
      throw toMapped(error, `starting the ${this.#label}`);
    }
  }

  #channelClosed(channel: Channel, model: ChannelModel): void {
    if (channel !== this.#channel) return;
    this.lost();
    setImmediate(() => {
      if (this.#closing || this.#channel !== undefined || this.ctx.consuming.current !== model) return;
      this.connected(model).catch(() => undefined);
    });
  }

  #onMessage(channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      // Cancelled by the broker (the queue was deleted): declare it again and carry on.
      if (channel !== this.#channel || this.#closing) return;
      const model = this.ctx.consuming.model;
      this.lost();
      channel.close().catch(() => undefined);
      if (model) this.connected(model).catch(() => undefined);
      return;
    }
    if (channel !== this.#channel || this.#closing) return;
    this.#loop.push(message, channel);
  }

  /** Publish the reply (unconfirmed: direct reply-to has no confirms to give), then ack the request. */
  #reply(channel: Channel, request: ConsumeMessage, reply: OutgoingMessage): Promise<void> {
    const replyTo = request.properties.replyTo as string;
    const limit = this.ctx.options.maxMessageBytes;
    const sent =
      reply.body.byteLength > limit
        ? errorReply(
            new PayloadTooLargeError(
              `the reply to ${request.fields.routingKey} of ${reply.body.byteLength} bytes exceeds the RabbitMQ limit of ${limit} bytes`,
            ),
            reply.destination,
          )
        : reply;
    const properties = replyProperties(sent, request.properties.correlationId as string | undefined);
    return this.ctx.publisher
      .publish(
        { exchange: '', routingKey: replyTo, content: asBuffer(sent.body), properties },
        false,
        this.ctx.options.publishTimeoutMs,
      )
      .then(() => this.#ack(channel, request));
  }

  #ack(channel: Channel, message: ConsumeMessage): void {
    if (channel !== this.#channel) return; // a dead channel: the broker redelivers the request
    try {
      channel.ack(message);
    } catch {
      // Closed meanwhile: same.
    }
  }

  /** A reply that could not be sent: the request goes back to the queue, another attempt answers. */
  #requeue(channel: Channel, message: ConsumeMessage): void {
    if (channel !== this.#channel) return;
    try {
      channel.nack(message, false, true);
    } catch {
      // Closed meanwhile: the broker redelivers.
    }
  }
}
