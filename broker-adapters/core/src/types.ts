/**
 * The brokerkit contract. Every public interface lives in this one file, so a reader learns the
 * whole API here: what users call ({@link Broker}), what they receive ({@link Message}), and the
 * small {@link Transport} interface an adapter implements to plug a broker in.
 *
 * @packageDocumentation
 */

/**
 * Lifecycle of a broker connection as reported by {@link Broker.status}:
 * - `connecting`: before `connect` resolved;
 * - `ready`: connected, every subscription live;
 * - `blocked`: connected and consuming, but the broker refuses publishes for now (a RabbitMQ
 *   memory or disk alarm, `connection.blocked`). Publishes wait, bounded by their `timeoutMs`,
 *   then reject with `BK_UNAVAILABLE`; back to `ready` when the alarm clears (not a reconnect).
 *   Only the RabbitMQ adapter reports it;
 * - `reconnecting`: the connection was lost; publishes wait (bounded) and subscriptions are
 *   restored when it is back;
 * - `closed`: after `close()`.
 */
export type BrokerStatus = 'connecting' | 'ready' | 'blocked' | 'reconnecting' | 'closed';

/** Message headers. Keys are case-sensitive; values are strings on every broker. */
export type Headers = Record<string, string>;

/** A message as a handler receives it. */
export interface Message<T = unknown> {
  /** Message id: the publisher's `messageId` or a UUID v7 (time-sortable). */
  readonly id: string;
  /** The topic it was published to; for work queues, the queue name. */
  readonly topic: string;
  /** The decoded payload (see {@link Codec}). */
  readonly data: T;
  /** The raw payload bytes. */
  readonly body: Uint8Array;
  /** User headers (brokerkit's own `x-brokerkit-attempt` bookkeeping header is not included). */
  readonly headers: Readonly<Headers>;
  /** When the message was first published. */
  readonly timestamp: Date;
  /** Delivery attempt, 1-based: `2` is the first retry. */
  readonly attempt: number;
  /** True when the broker delivered this message before (a retry or a redelivery after a crash). */
  readonly redelivered: boolean;
  /** MIME type the body was encoded with, e.g. `application/json`. */
  readonly contentType: string;
  /** The CloudEvents 1.0 attributes, when the message is a CloudEvent (binary content mode). */
  readonly cloudEvent?: CloudEventAttributes;
}

/** A CloudEvent's context attributes as a delivery carries them (CloudEvents 1.0). */
export interface CloudEventAttributes {
  /** Always `1.0`. */
  readonly specversion: string;
  readonly id: string;
  /** URI reference of the producer, e.g. `/orders-service` or `urn:svc:orders`. */
  readonly source: string;
  /** E.g. `com.example.order.created`. */
  readonly type: string;
  /** RFC 3339 timestamp, as sent. */
  readonly time?: string;
  readonly subject?: string;
  readonly dataschema?: string;
  /** The body's media type (the message's content type). */
  readonly datacontenttype?: string;
  /** Extension attributes, by name. */
  readonly extensions?: Readonly<Record<string, string>>;
}

/**
 * The `cloudEvent` option of publish/send: the message becomes a CloudEvent in binary content mode,
 * its attributes mapped to the broker's protocol binding. Missing or malformed required attributes
 * reject with `BK_VALIDATION` before anything is sent.
 */
export interface CloudEventOptions {
  /** Required, unless the broker has `cloudEvents` defaults: then the topic or queue. */
  type?: string;
  /** Required, unless the broker has `cloudEvents` defaults (its `source`). A URI reference. */
  source?: string;
  subject?: string;
  /** An absolute URI. */
  dataschema?: string;
  /** Default: the message id. */
  id?: string;
  /** Default: the message timestamp. A `Date` or an RFC 3339 string. */
  time?: Date | string;
  /** Extension attributes: names of lower-case letters and digits, at most 20. */
  extensions?: Record<string, string>;
}

/** The `cloudEvents` connect option: every publish and send of the broker is a CloudEvent. */
export interface CloudEventsDefaults {
  /** The `source` of every event. Each event's `type` defaults to its topic or queue. */
  source: string;
}

/**
 * How CloudEvents attributes travel in a transport's headers: `ce-headers` as `ce-<name>` headers
 * with percent-encoded values (the NATS and HTTP bindings; also memory), `amqp` as
 * `cloudEvents_<name>` application properties (AMQP headers table) with the body's type in the
 * content-type property.
 */
export type CloudEventsBinding = 'ce-headers' | 'amqp';

/** A handler: resolve = ack; throw = retry; throw {@link PermanentError} = straight to the DLQ. */
export type Handler<T = unknown> = (message: Message<T>) => Promise<void> | void;

/** Exponential backoff between delivery attempts. */
export interface BackoffOptions {
  /** Delay after the first failed attempt. Default 200 ms. */
  initialMs?: number;
  /** Multiplier per further attempt. Default 2. */
  factor?: number;
  /** Upper bound of one delay. Default 30 000 ms. */
  maxMs?: number;
  /** Randomise each delay within [delay / 2, delay] so retries of a burst spread out. Default true. */
  jitter?: boolean;
}

/** Retry policy of a subscription or consumer. */
export interface RetryOptions {
  /** Total delivery attempts, including the first. Default 5. `1` means no retry. */
  attempts?: number;
  backoff?: BackoffOptions;
}

/** A fully resolved retry policy (defaults applied, validated). */
export interface RetryPolicy {
  readonly attempts: number;
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
  readonly jitter: boolean;
}

/** Options of {@link Broker.publish}. */
export interface PublishOptions {
  headers?: Headers;
  /** Message id; also the de-duplication key where the broker supports one (NATS). */
  messageId?: string;
  /** How long to wait for confirmation, including time spent waiting out an outage. Default 30 s. */
  timeoutMs?: number;
  /**
   * `true` (default): resolve once the broker has taken responsibility (publisher confirm, PubAck).
   * `false`: resolve once written to the connection — for data that may be lost on a crash.
   */
  confirm?: boolean;
  /** Publish as a CloudEvent with these attributes; `false`: not an event despite broker defaults. */
  cloudEvent?: CloudEventOptions | false;
}

/** Options of {@link Broker.send}. */
export interface SendOptions extends PublishOptions {
  /** Deliver no earlier than this many milliseconds from now. Default 0. */
  delayMs?: number;
}

/** Options of {@link Broker.subscribe}. */
export interface SubscribeOptions {
  /**
   * Durable group: one member of each group gets each message, every group gets every message,
   * and messages are kept while no member is connected. Without a group the subscription is
   * ephemeral (fan-out to live subscribers only).
   */
  group?: string;
  /** Handlers running at once for this subscription. Default 1 (ordered). */
  concurrency?: number;
  /** Messages the broker may push ahead of the handlers. Default: `concurrency`. */
  prefetch?: number;
  retry?: RetryOptions;
}

/** Options of {@link Broker.consume}. */
export interface ConsumeOptions {
  /** Handlers running at once for this consumer. Default 1 (ordered). */
  concurrency?: number;
  /** Messages the broker may push ahead of the handlers. Default: `concurrency`. */
  prefetch?: number;
  retry?: RetryOptions;
}

/** Options of {@link Broker.request}. */
export interface RequestOptions {
  headers?: Headers;
  /**
   * How long to wait for the reply, including time spent waiting out an outage. Default: the
   * broker's `publishTimeoutMs` (30 s).
   */
  timeoutMs?: number;
}

/** Options of {@link Broker.respond}. */
export interface RespondOptions {
  /**
   * Responders with the same group and pattern share the requests: each request goes to one of
   * them. Without a group every responder whose pattern matches receives each request and the
   * first reply wins.
   */
  group?: string;
  /** Requests handled at once by this responder. Default 1. */
  concurrency?: number;
}

/**
 * A responder: what it returns (or resolves with) is the reply, encoded by the codec like a
 * payload (`undefined` replies `null`); what it throws reaches the requester as a `RemoteError`
 * (`BK_REMOTE`) with the message and code, never the stack.
 */
export type Responder<T = unknown> = (request: Message<T>) => unknown;

/** A live subscription or consumer. */
export interface Subscription extends AsyncDisposable {
  /** The pattern (subscriptions) or queue name (consumers). */
  readonly destination: string;
  /** The group, for group subscriptions. */
  readonly group?: string;
  /** Stop receiving; resolves once in-flight handlers have finished and settled. Idempotent. */
  close(): Promise<void>;
}

/** Events a {@link Broker} emits. */
export interface BrokerEvents {
  /** The connection was lost; the broker is reconnecting. */
  disconnected: [error?: Error];
  /** The connection is back and every subscription has been restored. */
  reconnected: [];
  /** An error no call can report: a discarded message, a failed restore, a broker-side fault. */
  error: [error: Error];
  /** Every status change. */
  status: [status: BrokerStatus];
}

/** The one API over every broker. Created by `connect(url)`. */
export interface Broker extends AsyncDisposable {
  /** Adapter name (`memory`, `rabbitmq`, `nats`): the `broker` label of metrics. */
  readonly adapter: string;
  /** Connection state; `'ready'` once `connect` resolved and while connected. */
  readonly status: BrokerStatus;
  /** Queue inspection, where the adapter supports it (every built-in adapter does). */
  readonly inspector: QueueInspector | undefined;

  /** Publish an event to every subscriber of the topic. Resolves once confirmed. */
  publish(topic: string, data: unknown, options?: PublishOptions): Promise<void>;
  /** Subscribe to a pattern (`*` = one token, trailing `>` = one or more tokens). */
  subscribe<T = unknown>(
    pattern: string,
    handler: Handler<T>,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  /** Send a command to a work queue: exactly one consumer handles it. Resolves once confirmed. */
  send(queue: string, data: unknown, options?: SendOptions): Promise<void>;
  /** Consume a work queue (competing consumers). */
  consume<T = unknown>(queue: string, handler: Handler<T>, options?: ConsumeOptions): Promise<Subscription>;
  /**
   * Ask and wait for the answer: resolves with the reply of one responder of the topic. Rejects
   * with `BK_REMOTE` (`RemoteError`) when the responder threw, `BK_NO_RESPONDERS` when the broker
   * can tell nobody responds, else `BK_TIMEOUT` after `timeoutMs`. Requests and events are kept
   * apart: a request does not reach `subscribe` handlers, nor an event `respond` handlers.
   */
  request<T = unknown>(topic: string, data: unknown, options?: RequestOptions): Promise<Message<T>>;
  /** Answer requests to a pattern; resolves once live on the broker. */
  respond<T = unknown>(
    pattern: string,
    handler: Responder<T>,
    options?: RespondOptions,
  ): Promise<Subscription>;
  /** Add a middleware around publish and handle. Applies to later calls and deliveries. */
  use(middleware: Middleware): this;
  /** Drain: stop consumers, let in-flight handlers finish, flush publishes, disconnect. Idempotent. */
  close(): Promise<void>;

  on<E extends keyof BrokerEvents>(event: E, listener: (...args: BrokerEvents[E]) => void): this;
  once<E extends keyof BrokerEvents>(event: E, listener: (...args: BrokerEvents[E]) => void): this;
  off<E extends keyof BrokerEvents>(event: E, listener: (...args: BrokerEvents[E]) => void): this;
}

// ---------------------------------------------------------------------------------------------
// Codec

/** An encoded payload. */
export interface Encoded {
  body: Uint8Array;
  contentType: string;
}

/** Turns payloads into bytes and back. The default handles JSON, text and raw bytes. */
export interface Codec {
  encode(data: unknown): Encoded;
  /** Throw to mark the message undecodable: it then goes straight to the dead-letter queue. */
  decode(body: Uint8Array, contentType: string): unknown;
}

// ---------------------------------------------------------------------------------------------
// Middleware

/** A message on its way to the broker. Middleware may add headers. */
export interface OutgoingMessage {
  readonly id: string;
  /** Topic (publish, request; a reply: the topic of its request) or queue (send). */
  readonly destination: string;
  readonly data: unknown;
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly headers: Headers;
  readonly timestamp: Date;
}

/**
 * What a publish middleware sees. For a `request`, `next()` resolves once the reply arrived (a
 * reply carrying the responder's error included) and rejects when none came.
 */
export interface PublishContext {
  readonly kind: 'publish' | 'send' | 'request';
  readonly message: OutgoingMessage;
  readonly confirm: boolean;
}

/** What a handle middleware sees. */
export interface HandleContext {
  readonly kind: 'subscribe' | 'consume' | 'respond';
  /** Pattern (subscriptions, responders) or queue (consumers). */
  readonly destination: string;
  readonly group: string | undefined;
  readonly message: Message;
}

/** How a delivery ended; the adapter carries it out. */
export type DeliveryOutcome =
  | { readonly kind: 'ack' }
  /** Redeliver after `delayMs` as attempt `nextAttempt`. */
  | {
      readonly kind: 'retry';
      /** The delay to wait, jitter applied (≤ `nominalDelayMs`). */
      readonly delayMs: number;
      /** The policy's delay for this attempt before jitter: what delay buckets are sized by. */
      readonly nominalDelayMs: number;
      readonly nextAttempt: number;
      readonly error: Error;
    }
  /** Move to the dead-letter queue with `headers` (the original headers plus `x-brokerkit-*`). */
  | { readonly kind: 'dead_letter'; readonly error: Error; readonly headers: Headers }
  /** Ephemeral subscription out of attempts: dropped, and reported through the `error` event. */
  | { readonly kind: 'discarded'; readonly error: Error };

/** How a request ended at its responder: what `settled` middleware sees for responders. */
export type ReplyOutcome =
  /** The handler's value went back as the reply. */
  | { readonly kind: 'reply' }
  /** The handler threw (or its value could not be encoded): the error went back instead. */
  | { readonly kind: 'reply_error'; readonly error: Error };

/** The kinds of {@link DeliveryOutcome} and {@link ReplyOutcome}: the `outcome` label of metrics. */
export type OutcomeKind = DeliveryOutcome['kind'] | ReplyOutcome['kind'];

/**
 * Cross-cutting behaviour (metrics, tracing, logging) around publish and handle. Every hook is
 * optional; `next()` must be called exactly once by `publish` and `handle`.
 */
export interface Middleware {
  /** Called once by {@link Broker.use}, e.g. to read status or register collectors. */
  attach?(broker: Broker): void;
  /**
   * Wraps each publish, send and request: call `next()` once and return (or await) its promise.
   * For a middleware that also has {@link Middleware.published}, core calls this one only for
   * requests: publishes and sends are observed through `published` instead.
   */
  publish?(context: PublishContext, next: () => Promise<void>): Promise<void>;
  /**
   * Observes each publish and send once the transport has confirmed it (`error` undefined) or
   * failed it, with `publishMs` measured by core from the transport call to that moment (0 on a
   * transport that confirms within the call, see `Transport.confirmed`). It
   * cannot change the message or the result, and it is not awaited. An observer that only counts
   * and times should use this instead of `publish`: core then wraps no async chain around the
   * transport, and a transport that confirms within the call (memory://) is observed without a
   * promise. A throw is ignored. Requests still go through `publish` (their end is the reply).
   * `context` is valid during the call only: core may reuse the object for the next publish, so
   * keep what you need from it, not the object.
   */
  published?(context: PublishContext, error: Error | undefined, publishMs: number): void;
  handle?(context: HandleContext, next: () => Promise<void>): Promise<void>;
  /**
   * Called once per delivery when its outcome is decided (also for undecodable messages).
   * `handlerMs` is how long the handler (with any `handle` middleware) ran, measured by core;
   * `undefined` when the message never reached the handler (undecodable). An observer that only
   * needs timing and outcome should use this instead of a `handle` hook: without `handle` hooks
   * core calls the handler directly. Responders (`context.kind === 'respond'`) end in a
   * {@link ReplyOutcome}. `startedAt` is the Unix-millisecond time the handler started, from
   * the same clock read as `handlerMs` (so an observer needs no clock read of its own); it is
   * `undefined` where `handlerMs` is, and for responders.
   */
  settled?(
    context: HandleContext,
    outcome: DeliveryOutcome | ReplyOutcome,
    handlerMs: number | undefined,
    startedAt?: number | undefined,
  ): void;
}

// ---------------------------------------------------------------------------------------------
// Inspection capability

/** What a named queue is for. */
export type QueueKind = 'group' | 'queue' | 'dlq';

/** Numbers of one queue, under its logical name. */
export interface QueueInfo {
  readonly name: string;
  readonly kind: QueueKind;
  /** Messages ready for delivery. */
  readonly depth: number;
  /** Delivered but not yet acked, plus waiting for a retry delay; `null` where the broker can't tell. */
  readonly inFlight: number | null;
  readonly consumers: number;
}

/** A dead letter as {@link QueueInspector.peekDeadLetters} shows it. */
export interface DeadLetter extends Message {
  /** The error of the last attempt (`x-brokerkit-error`). */
  readonly error: string;
  readonly failedAt: Date;
  readonly attempts: number;
  /** The queue or group it came from (`x-brokerkit-origin`). */
  readonly origin: string;
}

/** Queue inspection and repair. Names are logical names (`orders`, `orders.dlq`). */
export interface QueueInspector {
  listQueues(): Promise<QueueInfo[]>;
  /** Rejects with `BK_NOT_FOUND` for a name that does not exist. */
  queueInfo(name: string): Promise<QueueInfo>;
  /** Remove every ready message; resolves with how many were removed. */
  purge(name: string): Promise<number>;
  /** Delete a queue or group with its retry and dead-letter companions. */
  deleteQueue(name: string): Promise<void>;
  /** Read up to `limit` dead letters of a queue or group without consuming them. */
  peekDeadLetters(queue: string, limit?: number): Promise<DeadLetter[]>;
  /** Move up to `limit` dead letters back to their origin, each once; resolves with the count moved. */
  replayDeadLetters(queue: string, options?: { limit?: number }): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Options

/** Reconnection backoff. */
export interface ReconnectOptions {
  /** First delay. Default 100 ms. */
  initialMs?: number;
  /** Upper bound. Default 5 000 ms. */
  maxMs?: number;
  /** Multiplier per failed attempt. Default 2. */
  factor?: number;
}

/** {@link ReconnectOptions} with defaults applied. */
export interface ReconnectPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
}

/**
 * Adapter-specific options, one key per adapter. Adapters add their key by declaration merging:
 * `declare module '@brokerkit/core' { interface AdapterOptions { rabbitmq?: RabbitMqOptions } }`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface AdapterOptions {}

/** Options of `connect`. */
export interface BrokerOptions extends AdapterOptions {
  /** Payload codec. Default: JSON / text / bytes by type. */
  codec?: Codec;
  /** Default retry policy of subscriptions and consumers. */
  retry?: RetryOptions;
  /** Default `timeoutMs` of publish and send. Default 30 000. */
  publishTimeoutMs?: number;
  /** Publishes allowed to wait during an outage before further ones reject at once. Default 10 000. */
  maxBufferedPublishes?: number;
  /** How long `connect` may take. Default 10 000 ms. */
  connectTimeoutMs?: number;
  reconnect?: ReconnectOptions;
  /** Largest encoded body accepted by publish/send, checked before anything is sent. Adapter default. */
  maxPayloadBytes?: number;
  /** Make every publish and send a CloudEvent from this source (per call: `cloudEvent`). */
  cloudEvents?: CloudEventsDefaults;
  /**
   * OpenTelemetry spans and trace-context headers. Default true: on while an SDK has registered a
   * TracerProvider (`@opentelemetry/api`), free while none has. `false`: never.
   */
  tracing?: boolean;
}

// ---------------------------------------------------------------------------------------------
// The adapter side

/** A delivery as the adapter hands it to core. */
export interface RawDelivery {
  readonly topic: string;
  readonly body: Uint8Array;
  /** Headers as received, brokerkit's own included. */
  readonly headers: Headers;
  readonly contentType: string | undefined;
  readonly id: string | undefined;
  readonly timestamp: Date | undefined;
  /** 1-based attempt number as tracked by the adapter. */
  readonly attempt: number;
  readonly redelivered: boolean;
}

/**
 * Runs middleware, decoding, the handler and the retry policy for one delivery and tells the
 * adapter what to do. Never rejects.
 */
/** A synchronous handler is decided at once: the outcome itself, not a promise of it. */
export type DeliverFn = (delivery: RawDelivery) => Promise<DeliveryOutcome> | DeliveryOutcome;

/** A group or ephemeral subscription as the adapter receives it (names already validated). */
export interface SubscriptionSpec {
  readonly pattern: string;
  readonly group: string | undefined;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly retry: RetryPolicy;
}

/** A work-queue consumer as the adapter receives it (name already validated). */
export interface ConsumerSpec {
  readonly queue: string;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly retry: RetryPolicy;
}

/** Options of one transport publish/send, defaults applied. */
export interface TransportPublishOptions {
  readonly confirm: boolean;
  readonly timeoutMs: number;
  /** Only for send. */
  readonly delayMs: number;
}

/** A transport-side subscription: stop it and wait for its in-flight deliveries to settle. */
export interface TransportSubscription {
  close(): Promise<void>;
}

/** A responder as the adapter receives it (pattern and group already validated). */
export interface ResponderSpec {
  readonly pattern: string;
  /** Responders with the same group and pattern share the requests (load-balanced). */
  readonly group: string | undefined;
  readonly concurrency: number;
}

/** Options of one transport request, defaults applied. */
export interface TransportRequestOptions {
  /** How long to wait for the reply, outage included: then `BK_TIMEOUT` (or `BK_UNAVAILABLE`). */
  readonly timeoutMs: number;
}

/**
 * Answers one request: decodes it, runs middleware and the responder's handler, and resolves
 * with the reply to send back (a handler's error becomes an error reply). Never rejects.
 */
export type AnswerFn = (request: RawDelivery) => Promise<OutgoingMessage>;

/**
 * Capability: request/reply (see `Broker.request`). Many requests in flight share one reply
 * channel or inbox, never one each.
 */
export interface RequestReplyTransport {
  /**
   * Send a request and resolve with the first reply. Rejects with `BK_NO_RESPONDERS` where the
   * broker tells at once that nobody listens, `BK_TIMEOUT` when no reply came within
   * `timeoutMs`, `BK_CLOSED` when the transport closed first.
   */
  request(message: OutgoingMessage, options: TransportRequestOptions): Promise<RawDelivery>;
  /**
   * Receive requests matching the pattern (resolving once live on the broker), run up to
   * `concurrency` `answer` calls at once on core's `DeliveryLoop`, and send each reply back.
   */
  respond(spec: ResponderSpec, answer: AnswerFn): Promise<TransportSubscription>;
}

/** Callbacks a transport uses to report connection state to core. */
export interface TransportHooks {
  status(status: BrokerStatus, error?: Error): void;
  error(error: Error): void;
}

/**
 * What an adapter implements: broker operations only. Validation, codec, middleware, retry
 * decisions and the closed state are core's (see `createBroker`).
 */
export interface Transport {
  readonly adapter: string;
  readonly inspector?: QueueInspector;
  /** How CloudEvents attributes map onto this broker's headers. Default `ce-headers`. */
  readonly cloudEventsBinding?: CloudEventsBinding;
  /** Request/reply, where the adapter supports it (every built-in adapter does; else `BK_UNSUPPORTED`). */
  readonly requestReply?: RequestReplyTransport;
  /**
   * Set only by a transport whose `publish` and `send` are settled when the call returns
   * (memory://): the one promise they return for every confirmed message. Core recognises it to
   * tell {@link Middleware.published} observers at once, without a `then` or a clock read per
   * publish (`publishMs` is then 0: nothing was waited for).
   */
  readonly confirmed?: Promise<void>;
  publish(message: OutgoingMessage, options: TransportPublishOptions): Promise<void>;
  send(message: OutgoingMessage, options: TransportPublishOptions): Promise<void>;
  subscribe(spec: SubscriptionSpec, deliver: DeliverFn): Promise<TransportSubscription>;
  consume(spec: ConsumerSpec, deliver: DeliverFn): Promise<TransportSubscription>;
  /** Flush pending publishes and disconnect; subscriptions are already closed. */
  close(): Promise<void>;
}

/**
 * What an adapter receives from `connect`: every shared option validated, defaulted and frozen,
 * so adapters never re-validate or re-default them.
 */
export interface BrokerSettings {
  /**
   * The broker's nodes: one URL, or several of one scheme for a cluster (credentials, vhost and
   * query of the first URL filled into later URLs that have none).
   */
  readonly urls: readonly URL[];
  readonly codec: Codec;
  /** Default retry policy of subscriptions and consumers. */
  readonly retry: RetryPolicy;
  readonly publishTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxBufferedPublishes: number;
  readonly reconnect: ReconnectPolicy;
  /** The user's `maxPayloadBytes`; `undefined` = the adapter's own default. */
  readonly maxPayloadBytes: number | undefined;
  /** The adapter-specific keys of the options (`rabbitmq`, `nats`, …), for the adapter to validate. */
  readonly adapterOptions: Readonly<AdapterOptions>;
  /** The `cloudEvents` defaults, validated; undefined when not set. */
  readonly cloudEvents?: CloudEventsDefaults;
  /** False when the user turned tracing off; undefined or true: on while an SDK is registered. */
  readonly tracing?: boolean;
}

/** Creates a connected transport. Registered per scheme with `registerAdapter`. */
export type AdapterFactory = (settings: BrokerSettings, hooks: TransportHooks) => Promise<Transport>;
