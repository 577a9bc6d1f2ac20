/**
 * The {@link Broker} users hold: validation, codec, middleware, the closed state and draining,
 * around an adapter's {@link Transport}. Composition, not inheritance: adapters never see this.
 */
import { EventEmitter } from 'node:events';
import { createDispatcher } from './delivery.js';
import { strictInspector } from './inspector.js';
import { RequestReply } from './request-reply.js';
import { writeCloudEvent } from './cloudevents.js';
import { tracingActive, tracingMiddleware } from './tracing.js';
import { assertKnownKeys, integerOption } from './option-checks.js';
import { ClosedError, DiscardedError, PayloadTooLargeError, ValidationError, toError } from './errors.js';
import { copyUserHeaders as copyHeaders } from './headers.js';
import { lastMessageIdTime, newMessageId } from './ids.js';
import { validateGroupName, validatePattern, validateQueueName, validateTopic } from './names.js';
import { resolveRetryPolicy } from './retry.js';
import { resolveBrokerSettings } from './settings.js';
import type {
  Broker,
  BrokerEvents,
  CloudEventsBinding,
  CloudEventsDefaults,
  BrokerSettings,
  BrokerStatus,
  Codec,
  ConsumeOptions,
  Handler,
  Message,
  Middleware,
  OutgoingMessage,
  PublishContext,
  PublishOptions,
  QueueInspector,
  RequestOptions,
  RespondOptions,
  Responder,
  RetryPolicy,
  SendOptions,
  SubscribeOptions,
  Subscription,
  Transport,
  TransportHooks,
  TransportPublishOptions,
  TransportSubscription,
} from './types.js';

const PUBLISH_KEYS: ReadonlySet<string> = new Set([
  'headers',
  'messageId',
  'timeoutMs',
  'confirm',
  'cloudEvent',
]);
const SEND_KEYS: ReadonlySet<string> = new Set([...PUBLISH_KEYS, 'delayMs']);
const SUBSCRIBE_KEYS: ReadonlySet<string> = new Set(['group', 'concurrency', 'prefetch', 'retry']);
const CONSUME_KEYS: ReadonlySet<string> = new Set(['concurrency', 'prefetch', 'retry']);

/** What the reused publish context points at between publishes. */
const NO_MESSAGE: OutgoingMessage = Object.freeze({
  id: '',
  destination: '',
  data: undefined,
  body: new Uint8Array(0),
  contentType: '',
  headers: Object.freeze({}),
  timestamp: new Date(0),
});

function nonNegative(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ValidationError(`${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

class ManagedSubscription implements Subscription {
  #closing: Promise<void> | undefined;

  constructor(
    readonly destination: string,
    readonly group: string | undefined,
    private readonly inner: TransportSubscription,
    private readonly onClosed: (sub: ManagedSubscription) => void,
  ) {}

  close(): Promise<void> {
    this.#closing ??= this.inner.close().finally(() => this.onClosed(this));
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class ManagedBroker extends EventEmitter implements Broker {
  readonly adapter: string;
  #status: BrokerStatus = 'ready';
  #accepting = true; // false once close() starts: no new subscriptions
  #publishing = true; // false once subscriptions have drained: no new publishes
  #closing: Promise<void> | undefined;
  readonly #subscriptions = new Set<ManagedSubscription>();
  readonly #middleware: Middleware[] = [];
  /** `publish` hooks around publishes and sends: middleware with `publish` and no `published`. */
  readonly #publishHooks: Middleware[] = [];
  /** `publish` hooks around requests: every middleware with `publish`. */
  readonly #requestHooks: Middleware[] = [];
  /** Middleware with `published`: told synchronously how each publish and send ended. */
  readonly #observers: Middleware[] = [];
  /** The context reused for observer-only publishes on a `confirmed` transport (see `#publish`). */
  readonly #scratch: { kind: PublishContext['kind']; message: OutgoingMessage; confirm: boolean } = {
    kind: 'publish',
    message: NO_MESSAGE,
    confirm: true,
  };
  #scratchFree = true;
  /** Core's tracing middleware (undefined with `tracing: false`), and the chains it heads. */
  readonly #tracing: Middleware | undefined;
  readonly #tracedMiddleware: Middleware[] = [];
  readonly #tracedPublishHooks: Middleware[] = [];
  readonly #tracedRequestHooks: Middleware[] = [];
  readonly #cloudEvents: CloudEventsDefaults | undefined;
  readonly #cloudEventsBinding: CloudEventsBinding;
  readonly #codec: Codec;
  readonly #retry: RetryPolicy;
  readonly #publishTimeoutMs: number;
  readonly #maxPayloadBytes: number;
  #inspector: QueueInspector | undefined;
  readonly #rpc: RequestReply;
  readonly #defaultTransportOptions: TransportPublishOptions;
  /** Errors reported while nobody listened, by code: only a few become process warnings. */
  readonly #unheardErrors = new Map<string, number>();

  constructor(
    private readonly transport: Transport,
    settings: BrokerSettings,
  ) {
    super();
    this.adapter = transport.adapter;
    this.#codec = settings.codec;
    this.#retry = settings.retry;
    this.#publishTimeoutMs = settings.publishTimeoutMs;
    this.#maxPayloadBytes = settings.maxPayloadBytes ?? Number.MAX_SAFE_INTEGER;
    this.#cloudEvents = settings.cloudEvents;
    this.#cloudEventsBinding = transport.cloudEventsBinding ?? 'ce-headers';
    if (settings.tracing !== false) {
      // First in both chains, so its spans enclose every other middleware and the handler.
      this.#tracing = tracingMiddleware(transport.adapter);
      this.#tracedMiddleware.push(this.#tracing);
      this.#tracedPublishHooks.push(this.#tracing);
      this.#tracedRequestHooks.push(this.#tracing);
    }
    this.#defaultTransportOptions = Object.freeze({
      confirm: true,
      timeoutMs: settings.publishTimeoutMs,
      delayMs: 0,
    });
    this.#rpc = new RequestReply({
      adapter: transport.adapter,
      transport: transport.requestReply,
      codec: this.#codec,
      // Asked per request and per answer, as `#publish` does: an SDK may register after connect.
      middleware: () => (this.#tracing && tracingActive() ? this.#tracedMiddleware : this.#middleware),
      publishHooks: () => (this.#tracing && tracingActive() ? this.#tracedRequestHooks : this.#requestHooks),
      timeoutMs: settings.publishTimeoutMs,
      maxPayloadBytes: this.#maxPayloadBytes,
    });
  }

  get status(): BrokerStatus {
    return this.#status;
  }

  get inspector(): QueueInspector | undefined {
    const inner = this.transport.inspector;
    if (inner === undefined) return undefined;
    this.#inspector ??= strictInspector(inner, () => !this.#publishing);
    return this.#inspector;
  }

  /** Called through {@link TransportHooks}. */
  setStatus(status: BrokerStatus, error?: Error): void {
    if (this.#status === 'closed' || status === this.#status) return;
    const previous = this.#status;
    this.#status = status;
    this.emit('status', status);
    if (status === 'reconnecting') this.emit('disconnected', error);
    // Back on a node that blocks publishing is still a reconnection; `blocked` → `ready` is not.
    else if ((status === 'ready' || status === 'blocked') && previous === 'reconnecting')
      this.emit('reconnected');
  }

  /**
   * Report an error nobody awaits. Without an `error` listener it becomes a process warning, never
   * silence — the first of each code in full, then one line per further 1 000, so a stream of
   * discards cannot flood stderr.
   */
  reportError(error: Error): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', error);
      return;
    }
    const code = (error as { code?: string }).code ?? 'ERROR';
    const seen = (this.#unheardErrors.get(code) ?? 0) + 1;
    this.#unheardErrors.set(code, seen);
    if (seen === 1) process.emitWarning(error.message, { type: 'BrokerkitWarning', code });
    else if (seen % 1000 === 0) {
      process.emitWarning(`${seen} ${code} errors so far (add a broker 'error' listener to see each)`, {
        type: 'BrokerkitWarning',
        code,
      });
    }
  }

  use(middleware: Middleware): this {
    if (middleware === null || typeof middleware !== 'object') {
      throw new ValidationError('middleware must be an object with publish / handle / settled hooks');
    }
    this.#middleware.push(middleware);
    if (middleware.published) this.#observers.push(middleware);
    // An observer's `publish` hook still wraps requests (their end is the reply, not a confirm).
    const wrapsPublishes = middleware.publish !== undefined && middleware.published === undefined;
    if (wrapsPublishes) this.#publishHooks.push(middleware);
    if (middleware.publish) this.#requestHooks.push(middleware);
    if (this.#tracing) {
      this.#tracedMiddleware.push(middleware);
      if (wrapsPublishes) this.#tracedPublishHooks.push(middleware);
      if (middleware.publish) this.#tracedRequestHooks.push(middleware);
    }
    middleware.attach?.(this);
    return this;
  }

  publish(topic: string, data: unknown, options?: PublishOptions): Promise<void> {
    try {
      this.#assertPublishing();
      validateTopic(topic);
      if (options !== undefined) assertKnownKeys(options, PUBLISH_KEYS, 'publish options');
      return this.#publish('publish', topic, data, options, 0);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  send(queue: string, data: unknown, options?: SendOptions): Promise<void> {
    try {
      this.#assertPublishing();
      validateQueueName(queue);
      if (options !== undefined) assertKnownKeys(options, SEND_KEYS, 'send options');
      const delayMs = nonNegative('delayMs', options?.delayMs, 0);
      return this.#publish('send', queue, data, options, delayMs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async subscribe<T>(
    pattern: string,
    handler: Handler<T>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    this.#assertAccepting();
    assertKnownKeys(options, SUBSCRIBE_KEYS, 'subscribe options');
    const group = options.group;
    validatePattern(pattern, { group: group !== undefined });
    if (group !== undefined) validateGroupName(group);
    if (typeof handler !== 'function') throw new ValidationError('handler must be a function');
    const concurrency = integerOption('concurrency', options.concurrency, 1);
    const prefetch = integerOption('prefetch', options.prefetch, concurrency);
    const retry = resolveRetryPolicy(options.retry, this.#retry);
    const deliver = createDispatcher({
      kind: 'subscribe',
      destination: pattern,
      group,
      handler,
      codec: this.#codec,
      retry,
      middleware: this.#middleware,
      tracedMiddleware: this.#tracing && this.#tracedMiddleware,
      deadLetter: group !== undefined,
      onDiscarded: (error, message) => this.#discarded(error, message, pattern),
    });
    const inner = await this.transport.subscribe({ pattern, group, concurrency, prefetch, retry }, deliver);
    return this.#manage(pattern, group, inner);
  }

  async consume<T>(queue: string, handler: Handler<T>, options: ConsumeOptions = {}): Promise<Subscription> {
    this.#assertAccepting();
    validateQueueName(queue);
    assertKnownKeys(options, CONSUME_KEYS, 'consume options');
    if (typeof handler !== 'function') throw new ValidationError('handler must be a function');
    const concurrency = integerOption('concurrency', options.concurrency, 1);
    const prefetch = integerOption('prefetch', options.prefetch, concurrency);
    const retry = resolveRetryPolicy(options.retry, this.#retry);
    const deliver = createDispatcher({
      kind: 'consume',
      destination: queue,
      group: undefined,
      handler,
      codec: this.#codec,
      retry,
      middleware: this.#middleware,
      tracedMiddleware: this.#tracing && this.#tracedMiddleware,
      deadLetter: true,
      onDiscarded: (error, message) => this.#discarded(error, message, queue),
    });
    const inner = await this.transport.consume({ queue, concurrency, prefetch, retry }, deliver);
    return this.#manage(queue, undefined, inner);
  }

  request<T>(topic: string, data: unknown, options?: RequestOptions): Promise<Message<T>> {
    try {
      this.#assertPublishing();
      return this.#rpc.request<T>(topic, data, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async respond<T>(
    pattern: string,
    handler: Responder<T>,
    options: RespondOptions = {},
  ): Promise<Subscription> {
    this.#assertAccepting();
    const { transport, spec, answer } = this.#rpc.responder(pattern, handler, options);
    const inner = await transport.respond(spec, answer);
    return this.#manage(pattern, spec.group, inner);
  }

  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #drain(): Promise<void> {
    this.#accepting = false;
    // Handlers still running may publish (consume → publish is common), so publishing stays
    // open until every subscription has drained.
    await Promise.allSettled([...this.#subscriptions].map((sub) => sub.close()));
    this.#publishing = false;
    try {
      await this.transport.close();
    } finally {
      this.setStatus('closed');
    }
  }

  async #manage(
    destination: string,
    group: string | undefined,
    inner: TransportSubscription,
  ): Promise<Subscription> {
    if (!this.#accepting) {
      // close() started while the broker was setting this subscription up.
      await inner.close();
      throw new ClosedError();
    }
    const sub = new ManagedSubscription(destination, group, inner, (s) => this.#subscriptions.delete(s));
    this.#subscriptions.add(sub);
    return sub;
  }

  #discarded(error: Error, message: Message, destination: string): void {
    const report = new DiscardedError(
      `message ${message.id} on ${destination} discarded after ${message.attempt} attempt(s): ${error.message}`,
      { cause: error },
    );
    this.reportError(report);
  }

  #assertAccepting(): void {
    if (!this.#accepting) throw new ClosedError();
  }

  #assertPublishing(): void {
    if (!this.#publishing) throw new ClosedError();
  }

  #publish(
    kind: 'publish' | 'send',
    destination: string,
    data: unknown,
    options: PublishOptions | undefined,
    delayMs: number,
  ): Promise<void> {
    const encoded = this.#codec.encode(data);
    if (encoded.body.byteLength > this.#maxPayloadBytes) {
      throw new PayloadTooLargeError(
        `payload of ${encoded.body.byteLength} bytes exceeds maxPayloadBytes ${this.#maxPayloadBytes}`,
      );
    }
    const messageId = options?.messageId;
    if (
      messageId !== undefined &&
      (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > 255)
    ) {
      throw new ValidationError('messageId must be a non-empty string of at most 255 characters');
    }
    const id = messageId ?? newMessageId();
    const message: OutgoingMessage = {
      id,
      destination,
      data,
      body: encoded.body,
      contentType: encoded.contentType,
      headers: copyHeaders(options?.headers),
      // brokerkit's own id carries the publish time: the timestamp is exactly that millisecond, so
      // adapters can leave out a separate time header (see `idCarriesTime`).
      timestamp: new Date(messageId === undefined ? lastMessageIdTime() : Date.now()),
    };
    if (this.#cloudEvents !== undefined || options?.cloudEvent !== undefined) {
      writeCloudEvent(
        message.headers,
        options?.cloudEvent,
        this.#cloudEvents,
        message,
        this.#cloudEventsBinding,
      );
    }
    // The common call (no options, no delay) shares one frozen options object: nothing to allocate.
    const transportOptions: TransportPublishOptions =
      options === undefined && delayMs === 0
        ? this.#defaultTransportOptions
        : {
            confirm: options?.confirm ?? true,
            timeoutMs: integerOption('timeoutMs', options?.timeoutMs, this.#publishTimeoutMs),
            delayMs,
          };
    // One check per call: an SDK may register a TracerProvider after connect.
    const hooks = this.#tracing && tracingActive() ? this.#tracedPublishHooks : this.#publishHooks;
    const observed = this.#observers.length > 0;
    if (hooks.length === 0 && !observed) {
      return kind === 'publish'
        ? this.transport.publish(message, transportOptions)
        : this.transport.send(message, transportOptions);
    }
    if (hooks.length === 0) {
      // Observers only, on a transport that settles within the call: they are told before this
      // returns, so one context object serves every publish (`published` keeps no reference).
      const scratch = this.#scratch;
      if (this.transport.confirmed !== undefined && this.#scratchFree) {
        this.#scratchFree = false; // an observer that publishes gets a fresh one
        scratch.kind = kind;
        scratch.message = message;
        scratch.confirm = transportOptions.confirm;
        try {
          return this.#observedCall(scratch, transportOptions);
        } finally {
          scratch.message = NO_MESSAGE; // keep no body alive
          this.#scratchFree = true;
        }
      }
      return this.#observedCall({ kind, message, confirm: transportOptions.confirm }, transportOptions);
    }
    const context: PublishContext = { kind, message, confirm: transportOptions.confirm };
    const run = (index: number): Promise<void> => {
      if (index === hooks.length) {
        if (observed) return this.#observedCall(context, transportOptions);
        return kind === 'publish'
          ? this.transport.publish(message, transportOptions)
          : this.transport.send(message, transportOptions);
      }
      return hooks[index]!.publish!(context, () => run(index + 1));
    };
    return run(0);
  }

  /**
   * The transport call, with `published` observers told how it ended. A transport with a shared
   * `confirmed` promise is settled when the call returns: observers are told at once (or on the
   * rejection), with no clock read and no `then` for a confirmed publish.
   */
  #observedCall(context: PublishContext, options: TransportPublishOptions): Promise<void> {
    const confirmed = this.transport.confirmed;
    const start = confirmed === undefined ? performance.now() : 0;
    let result: Promise<void>;
    try {
      result =
        context.kind === 'publish'
          ? this.transport.publish(context.message, options)
          : this.transport.send(context.message, options);
    } catch (error) {
      // Transports reject rather than throw; should one throw, observers still hear of it.
      this.#tellObservers(context, toError(error), confirmed === undefined ? performance.now() - start : 0);
      throw error;
    }
    if (confirmed !== undefined) {
      if (result === confirmed) {
        this.#tellObservers(context, undefined, 0);
        return result;
      }
      // A rejection: observers hear of it later, so not through the reused context.
      if (context === this.#scratch)
        context = { kind: context.kind, message: context.message, confirm: context.confirm };
      return result.then(
        () => this.#tellObservers(context, undefined, 0),
        (error: unknown) => {
          this.#tellObservers(context, toError(error), 0);
          throw error;
        },
      );
    }
    return result.then(
      () => this.#tellObservers(context, undefined, performance.now() - start),
      (error: unknown) => {
        this.#tellObservers(context, toError(error), performance.now() - start);
        throw error;
      },
    );
  }

  #tellObservers(context: PublishContext, error: Error | undefined, publishMs: number): void {
    const observers = this.#observers;
    for (let i = 0; i < observers.length; i++) {
      try {
        observers[i]!.published!(context, error, publishMs);
      } catch {
        // A faulty observer must not change what happens to the publish.
      }
    }
  }
}

export type { BrokerEvents };

/**
 * Create a {@link Broker} around a transport produced by `factory`, with `settings` from
 * `resolveBrokerSettings`. `connect()` calls this; adapters' tests may call it directly.
 */
export async function createBroker(
  factory: (hooks: TransportHooks) => Promise<Transport>,
  settings: BrokerSettings = resolveBrokerSettings([], {}, new Set()),
): Promise<Broker> {
  // The transport reports status from its first moment; the broker exists only afterwards.
  const relay: {
    broker?: ManagedBroker;
    early?: { status: BrokerStatus; error?: Error };
    earlyErrors: Error[];
  } = { earlyErrors: [] };
  const hooks: TransportHooks = {
    status: (status, error) => {
      if (relay.broker) relay.broker.setStatus(status, error);
      else relay.early = { status, error };
    },
    // Errors before the broker exists are kept and reported once it does: never dropped.
    error: (error) => {
      if (relay.broker) relay.broker.reportError(error);
      else relay.earlyErrors.push(error);
    },
  };
  const transport = await factory(hooks);
  const broker = new ManagedBroker(transport, settings);
  relay.broker = broker;
  if (relay.early && relay.early.status !== 'connecting')
    broker.setStatus(relay.early.status, relay.early.error);
  if (relay.earlyErrors.length > 0) {
    // After connect() has resolved, so a listener the caller adds right away hears them.
    const errors = relay.earlyErrors;
    setImmediate(() => errors.forEach((error) => broker.reportError(error)));
  }
  return broker;
}
