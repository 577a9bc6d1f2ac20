/**
 * Request / reply, decided once for every adapter: what `broker.request` and `broker.respond`
 * validate and encode, the reply a responder's return value or thrown error becomes, and the
 * `RemoteError` a requester gets for the latter. Adapters only carry requests and replies
 * (`RequestReplyTransport`); the design is in docs/architecture.md#request-and-reply.
 *
 * On the wire a reply is an ordinary message: the encoded value with its content type, or, when
 * the handler threw, the header `x-brokerkit-reply: error` and a JSON body
 * `{ "message", "code"?, "name" }` — never the stack, which would leak the responder's internals.
 */
import { BYTES_TYPE, JSON_TYPE } from './codec.js';
import {
  ConfigurationError,
  DecodeError,
  PayloadTooLargeError,
  RemoteError,
  UnsupportedError,
  ValidationError,
  isBrokerkitError,
  toError,
} from './errors.js';
import { HEADER, copyUserHeaders, userHeaders } from './headers.js';
import { lastMessageIdTime, newMessageId } from './ids.js';
import { validateGroupName, validatePattern, validateTopic } from './names.js';
import { assertKnownKeys, integerOption } from './option-checks.js';
import type {
  AnswerFn,
  Codec,
  HandleContext,
  Headers,
  Message,
  Middleware,
  OutgoingMessage,
  PublishContext,
  RawDelivery,
  ReplyOutcome,
  RequestOptions,
  RequestReplyTransport,
  RespondOptions,
  Responder,
  ResponderSpec,
  TransportRequestOptions,
} from './types.js';

const REQUEST_KEYS: ReadonlySet<string> = new Set(['headers', 'timeoutMs']);
const RESPOND_KEYS: ReadonlySet<string> = new Set(['group', 'concurrency']);

/** Value of the {@link HEADER.reply} header on a reply that carries the responder's error. */
export const ERROR_REPLY = 'error';
/** An error message longer than this is cut: it travels in one message, next to nothing else. */
const MAX_REMOTE_MESSAGE = 10_000;
const EPOCH_UNKNOWN = new Date(0);
const REPLIED: ReplyOutcome = Object.freeze({ kind: 'reply' });
// Replies carry no user headers; adapters only read them, so one frozen object serves all.
const NO_HEADERS = Object.freeze({}) as Headers;
const ERROR_HEADERS = Object.freeze({ [HEADER.reply]: ERROR_REPLY }) as Headers;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What core's request/reply needs from the broker it belongs to. */
export interface RequestReplyOptions {
  /** Adapter name, for the error when it has no request/reply. */
  readonly adapter: string;
  readonly transport: RequestReplyTransport | undefined;
  readonly codec: Codec;
  /**
   * The middleware around handlers and the ones with a `publish` hook, asked per request and
   * per delivery: middleware added later with `use` applies to later requests and deliveries.
   */
  readonly middleware: () => readonly Middleware[];
  readonly publishHooks: () => readonly Middleware[];
  /** Default `timeoutMs` of a request (the broker's `publishTimeoutMs`). */
  readonly timeoutMs: number;
  readonly maxPayloadBytes: number;
}

/** A responder ready for the transport: its spec and the function that answers each request. */
export interface PreparedResponder {
  readonly transport: RequestReplyTransport;
  readonly spec: ResponderSpec;
  readonly answer: AnswerFn;
}

/** `broker.request` and the preparation of `broker.respond`, once the broker checked it is open. */
export class RequestReply {
  readonly #o: RequestReplyOptions;
  readonly #defaultOptions: TransportRequestOptions;

  constructor(options: RequestReplyOptions) {
    this.#o = options;
    this.#defaultOptions = Object.freeze({ timeoutMs: options.timeoutMs });
  }

  /** Send a request; throws synchronously on bad input (the broker turns that into a rejection). */
  request<T>(topic: string, data: unknown, options: RequestOptions | undefined): Promise<Message<T>> {
    const transport = this.#transport();
    validateTopic(topic);
    if (options !== undefined) assertKnownKeys(options, REQUEST_KEYS, 'request options');
    const timeoutMs = integerOption('timeoutMs', options?.timeoutMs, this.#o.timeoutMs);
    const message = this.#outgoing(topic, data, copyUserHeaders(options?.headers));
    const transportOptions = timeoutMs === this.#o.timeoutMs ? this.#defaultOptions : { timeoutMs };
    const codec = this.#o.codec;
    const hooks = this.#o.publishHooks();
    if (hooks.length === 0) {
      return transport.request(message, transportOptions).then((raw) => replyMessage<T>(raw, topic, codec));
    }
    const context: PublishContext = { kind: 'request', message, confirm: true };
    let reply: RawDelivery | undefined;
    const run = (index: number): Promise<void> => {
      if (index === hooks.length) {
        return transport.request(message, transportOptions).then((raw) => {
          reply = raw;
        });
      }
      return hooks[index]!.publish!(context, () => run(index + 1));
    };
    return run(0).then(() => {
      if (reply === undefined)
        throw new ConfigurationError(`a publish middleware resolved the request to ${topic} without next()`);
      return replyMessage<T>(reply, topic, codec);
    });
  }

  /** Validate `broker.respond`'s arguments and build what the transport needs. */
  responder<T>(pattern: string, handler: Responder<T>, options: RespondOptions): PreparedResponder {
    const transport = this.#transport();
    assertKnownKeys(options, RESPOND_KEYS, 'respond options');
    // Not a group's rule: responders need no stream per first token, any pattern will do.
    validatePattern(pattern);
    const group = options.group;
    if (group !== undefined) validateGroupName(group);
    if (typeof handler !== 'function') throw new ValidationError('handler must be a function');
    const concurrency = integerOption('concurrency', options.concurrency, 1);
    const answer = createAnswer({
      destination: pattern,
      group,
      handler: handler as Responder,
      codec: this.#o.codec,
      middleware: this.#o.middleware,
      maxPayloadBytes: this.#o.maxPayloadBytes,
    });
    return { transport, spec: { pattern, group, concurrency }, answer };
  }

  #transport(): RequestReplyTransport {
    const transport = this.#o.transport;
    if (transport === undefined)
      throw new UnsupportedError(`the ${this.#o.adapter} adapter does not support request/reply`);
    return transport;
  }

  #outgoing(topic: string, data: unknown, headers: Headers): OutgoingMessage {
    const encoded = this.#o.codec.encode(data);
    if (encoded.body.byteLength > this.#o.maxPayloadBytes) {
      throw new PayloadTooLargeError(
        `request of ${encoded.body.byteLength} bytes exceeds maxPayloadBytes ${this.#o.maxPayloadBytes}`,
      );
    }
    const id = newMessageId();
    return {
      id,
      destination: topic,
      data,
      body: encoded.body,
      contentType: encoded.contentType,
      headers,
      // The id's own millisecond (read, not parsed): no separate time header.
      timestamp: new Date(lastMessageIdTime()),
    };
  }
}

/** The reply as the requester receives it, or the responder's error as a {@link RemoteError}. */
function replyMessage<T>(raw: RawDelivery, topic: string, codec: Codec): Message<T> {
  if (raw.headers[HEADER.reply] === ERROR_REPLY) throw remoteError(raw.body);
  const contentType = raw.contentType ?? BYTES_TYPE;
  let data: unknown;
  try {
    data = codec.decode(raw.body, contentType);
  } catch (thrown) {
    if (isBrokerkitError(thrown, 'BK_DECODE')) throw thrown;
    throw new DecodeError(`cannot decode the ${contentType} reply to ${topic}`, { cause: thrown });
  }
  return {
    id: raw.id ?? '',
    topic,
    data: data as T,
    body: raw.body,
    headers: userHeaders(raw.headers),
    timestamp: raw.timestamp ?? EPOCH_UNKNOWN,
    attempt: 1,
    redelivered: false,
    contentType,
  };
}

/** The {@link RemoteError} an error reply's body describes. */
export function remoteError(body: Uint8Array): RemoteError {
  let details: { message?: unknown; code?: unknown; name?: unknown } | undefined;
  try {
    details = JSON.parse(decoder.decode(body)) as typeof details;
  } catch {
    details = undefined;
  }
  const message =
    typeof details?.message === 'string' ? details.message : 'the responder failed (no details in its reply)';
  return new RemoteError(message, {
    code: typeof details?.code === 'string' ? details.code : undefined,
    name: typeof details?.name === 'string' ? details.name : undefined,
  });
}

/**
 * The reply carrying `error` back to the requester of `destination`: its message (bounded), its
 * `code` and class name — not its stack. Adapters use it too, when a value reply cannot be sent
 * (larger than the broker takes).
 */
export function errorReply(error: Error, destination: string): OutgoingMessage {
  const code = (error as { code?: unknown }).code;
  const text = String(error.message);
  const details: { message: string; code?: string; name: string } = {
    message: text.length > MAX_REMOTE_MESSAGE ? `${text.slice(0, MAX_REMOTE_MESSAGE - 1)}…` : text,
    name: error.name,
  };
  if (typeof code === 'string' || typeof code === 'number') details.code = String(code);
  const id = newMessageId();
  return {
    id,
    destination,
    data: details,
    body: encoder.encode(JSON.stringify(details)),
    contentType: JSON_TYPE,
    headers: ERROR_HEADERS,
    timestamp: new Date(lastMessageIdTime()),
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

interface AnswerOptions {
  /** The responder's pattern. */
  readonly destination: string;
  readonly group: string | undefined;
  readonly handler: Responder;
  readonly codec: Codec;
  readonly middleware: () => readonly Middleware[];
  readonly maxPayloadBytes: number;
}

/** The {@link AnswerFn} of one responder: decode, middleware, handler, reply. */
function createAnswer(options: AnswerOptions): AnswerFn {
  const { destination, group, handler, codec, maxPayloadBytes } = options;

  function valueReply(result: unknown, topic: string): OutgoingMessage {
    // A handler that returns nothing answers `null`: the codec cannot encode `undefined`.
    const value = result === undefined ? null : result;
    const encoded = codec.encode(value);
    if (encoded.body.byteLength > maxPayloadBytes) {
      throw new PayloadTooLargeError(
        `reply of ${encoded.body.byteLength} bytes exceeds maxPayloadBytes ${maxPayloadBytes}`,
      );
    }
    const id = newMessageId();
    return {
      id,
      destination: topic,
      data: value,
      body: encoded.body,
      contentType: encoded.contentType,
      headers: NO_HEADERS,
      timestamp: new Date(lastMessageIdTime()),
    };
  }

  function runHandle(
    middleware: readonly Middleware[],
    context: HandleContext,
    index: number,
    call: () => Promise<void>,
  ): Promise<void> {
    while (index < middleware.length && !middleware[index]!.handle) index++;
    if (index >= middleware.length) return call();
    const next = index + 1;
    return middleware[index]!.handle!(context, () => runHandle(middleware, context, next, call));
  }

  return async function answer(raw: RawDelivery): Promise<OutgoingMessage> {
    const contentType = raw.contentType ?? BYTES_TYPE;
    let failure: Error | undefined;
    let data: unknown;
    try {
      data = codec.decode(raw.body, contentType);
    } catch (thrown) {
      failure = isBrokerkitError(thrown, 'BK_DECODE')
        ? (thrown as Error)
        : new DecodeError(`cannot decode a ${contentType} request`, { cause: thrown });
    }
    const message: Message = {
      id: raw.id ?? '',
      topic: raw.topic,
      data,
      body: raw.body,
      headers: userHeaders(raw.headers),
      timestamp: raw.timestamp ?? EPOCH_UNKNOWN,
      attempt: raw.attempt,
      redelivered: raw.redelivered,
      contentType,
    };
    const middleware = options.middleware();
    const observed = middleware.length > 0;
    const context: HandleContext | undefined = observed
      ? { kind: 'respond', destination, group, message }
      : undefined;
    let result: unknown;
    let handlerMs: number | undefined;
    if (failure === undefined) {
      const start = observed ? performance.now() : 0;
      try {
        if (context !== undefined && middleware.some((m) => m.handle)) {
          await runHandle(middleware, context, 0, async () => {
            const r = handler(message);
            result = isThenable(r) ? await r : r;
          });
        } else {
          result = handler(message);
          if (isThenable(result)) result = await result;
        }
      } catch (thrown) {
        failure = toError(thrown);
      }
      if (observed) handlerMs = performance.now() - start;
    }
    let reply: OutgoingMessage | undefined;
    if (failure === undefined) {
      try {
        reply = valueReply(result, raw.topic);
      } catch (thrown) {
        failure = toError(thrown);
      }
    }
    if (reply === undefined) reply = errorReply(failure!, raw.topic);
    if (context !== undefined) {
      const outcome: ReplyOutcome = failure === undefined ? REPLIED : { kind: 'reply_error', error: failure };
      for (let i = 0; i < middleware.length; i++) {
        const settled = middleware[i]!.settled;
        if (!settled) continue;
        try {
          settled.call(middleware[i], context, outcome, handlerMs);
        } catch {
          // A faulty observer must not change the reply.
        }
      }
    }
    return reply;
  };
}
