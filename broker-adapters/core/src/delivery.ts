/**
 * One delivery, decided in one place for every adapter: decode, run middleware and the handler,
 * apply the retry policy, and return what the adapter must do ({@link DeliveryOutcome}).
 */
import { hasCloudEvent, readCloudEvent } from './cloudevents.js';
import { DecodeError, isBrokerkitError, toError } from './errors.js';
import { HEADER, deadLetterHeaders, userHeaders } from './headers.js';
import { messageIdTime } from './ids.js';
import { nominalDelay, retryDelay } from './retry.js';
import { tracingActive } from './tracing.js';
import type {
  Codec,
  DeliverFn,
  DeliveryOutcome,
  HandleContext,
  Handler,
  Message,
  Middleware,
  RawDelivery,
  RetryPolicy,
} from './types.js';

const ACK: DeliveryOutcome = Object.freeze({ kind: 'ack' });
const EPOCH_UNKNOWN = new Date(0);

/**
 * `Date.now() - performance.now()`, refreshed at most once a second: turns the one monotonic read
 * a delivery takes into the wall-clock `startedAt` that `settled` observers get, without a
 * second clock read per delivery (a clock read costs ~0.1 µs on a loaded VM).
 */
let epochOffset = Date.now() - performance.now();
let offsetCheckedAt = performance.now();

/**
 * `globalThis.performance` is an accessor in Node: reading it costs a getter call per clock read
 * (~8 ns of the ~45 a `performance.now()` takes here), and a delivery with middleware takes two.
 */
const perf = performance;

/** The wall-clock (Unix ms) time of a `performance.now()` reading taken just now. */
function wallClock(monotonicMs: number): number {
  if (monotonicMs - offsetCheckedAt > 1000) {
    offsetCheckedAt = monotonicMs;
    epochOffset = Date.now() - perf.now();
  }
  return monotonicMs + epochOffset;
}

/** The creation time in a UUID v7 id, else the epoch (unknown). */
function timeFromId(id: string | undefined): Date {
  const ms = messageIdTime(id);
  return ms === undefined ? EPOCH_UNKNOWN : new Date(ms);
}

/** What a dispatcher needs to know about its subscription. */
export interface DispatcherOptions {
  readonly kind: 'subscribe' | 'consume';
  /** Pattern or queue. */
  readonly destination: string;
  readonly group: string | undefined;
  readonly handler: Handler<never>;
  readonly codec: Codec;
  readonly retry: RetryPolicy;
  /** Live list: middleware added later with `use` applies to later deliveries. */
  readonly middleware: readonly Middleware[];
  /**
   * Live list used instead of `middleware` while an OpenTelemetry SDK is registered: core's
   * tracing middleware, then the same middleware. Undefined: never traced.
   */
  readonly tracedMiddleware?: readonly Middleware[] | undefined;
  /** False for ephemeral subscriptions: out of attempts means discarded, not dead-lettered. */
  readonly deadLetter: boolean;
  /** Told about every discarded message (core emits the broker's `error` event). */
  readonly onDiscarded: (error: Error, message: Message) => void;
}

function isPermanent(error: unknown): boolean {
  return isBrokerkitError(error, 'BK_PERMANENT') || isBrokerkitError(error, 'BK_DECODE');
}

/** Build the {@link DeliverFn} an adapter calls for each delivery of one subscription. */
export function createDispatcher(options: DispatcherOptions): DeliverFn {
  const { kind, destination, group, codec, retry, tracedMiddleware } = options;
  const handler = options.handler as Handler;
  const origin = group ?? destination;

  function failed(error: Error, message: Message): DeliveryOutcome {
    if (!isPermanent(error) && message.attempt < retry.attempts) {
      return {
        kind: 'retry',
        delayMs: retryDelay(retry, message.attempt),
        nominalDelayMs: nominalDelay(retry, message.attempt),
        nextAttempt: message.attempt + 1,
        error,
      };
    }
    if (!options.deadLetter) return { kind: 'discarded', error };
    const headers = deadLetterHeaders(message.headers, {
      error,
      origin,
      attempts: message.attempt,
      topic: message.topic,
    });
    return { kind: 'dead_letter', error, headers };
  }

  /** The middleware list is live (`use` after subscribing applies), so this is asked per delivery. */
  function hasHandleHook(middleware: readonly Middleware[]): boolean {
    for (let i = 0; i < middleware.length; i++) if (middleware[i]!.handle) return true;
    return false;
  }

  function runHandle(
    middleware: readonly Middleware[],
    context: HandleContext,
    index: number,
  ): Promise<void> {
    while (index < middleware.length && !middleware[index]!.handle) index++;
    if (index >= middleware.length) {
      // A handler that throws synchronously must reach middleware as a rejection, like an async one.
      try {
        return Promise.resolve(handler(context.message));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const next = index + 1;
    return middleware[index]!.handle!(context, () => runHandle(middleware, context, next));
  }

  /** Settled hooks and the discard report: the end of every delivery, sync or not. */
  function finish(
    message: Message,
    middleware: readonly Middleware[],
    context: HandleContext | undefined,
    outcome: DeliveryOutcome,
    start: number | undefined,
  ): DeliveryOutcome {
    if (context !== undefined) {
      // One clock read at the end, one at the start: shared by every observer.
      const handlerMs = start === undefined ? undefined : perf.now() - start;
      const startedAt = start === undefined ? undefined : wallClock(start);
      for (let i = 0; i < middleware.length; i++) {
        const observer = middleware[i]!;
        if (!observer.settled) continue;
        try {
          // A method call, not `settled.call(...)`: its call site then has feedback for the
          // observer itself, so the optimiser can inline it (and not box the two times it is passed).
          observer.settled(context, outcome, handlerMs, startedAt);
        } catch {
          // A faulty observer must not change what happens to the message.
        }
      }
    }
    if (outcome.kind === 'discarded') options.onDiscarded(outcome.error, message);
    return outcome;
  }

  /** The handler (or a `handle` hook chain) returned a promise: wait for it, then finish. */
  async function finishLater(
    pending: PromiseLike<unknown>,
    message: Message,
    middleware: readonly Middleware[],
    context: HandleContext | undefined,
    start: number,
  ): Promise<DeliveryOutcome> {
    let outcome: DeliveryOutcome;
    try {
      await pending;
      outcome = ACK;
    } catch (thrown) {
      outcome = failed(toError(thrown), message);
    }
    return finish(message, middleware, context, outcome, start);
  }

  // Not `async`: a synchronous handler (and settled-only middleware such as metrics) is decided
  // at once, so the DeliveryLoop settles it without a promise or a microtask per delivery.
  return function deliver(raw: RawDelivery): DeliveryOutcome | Promise<DeliveryOutcome> {
    // One check per delivery: an SDK may register a TracerProvider after subscribing.
    const middleware =
      tracedMiddleware !== undefined && tracingActive() ? tracedMiddleware : options.middleware;
    // A few header lookups; the attributes are parsed only for messages that are CloudEvents.
    const cloudEvent = hasCloudEvent(raw.headers) ? readCloudEvent(raw.headers, raw.contentType) : undefined;
    const contentType = raw.contentType ?? cloudEvent?.datacontenttype ?? 'application/octet-stream';
    let data: unknown;
    let decodeError: Error | undefined;
    try {
      data = codec.decode(raw.body, contentType);
    } catch (thrown) {
      decodeError = isBrokerkitError(thrown, 'BK_DECODE')
        ? (thrown as Error)
        : new DecodeError(`cannot decode a ${contentType} body`, { cause: thrown });
    }
    const message: Message = {
      id: raw.id ?? '',
      topic: raw.headers[HEADER.topic] ?? raw.topic,
      data,
      body: raw.body,
      headers: userHeaders(raw.headers),
      // No time from the adapter (no header or property): a UUID v7 id carries its creation time.
      timestamp: raw.timestamp ?? timeFromId(raw.id),
      attempt: raw.attempt,
      redelivered: raw.redelivered,
      contentType,
      cloudEvent,
    };
    const context: HandleContext | undefined =
      middleware.length === 0 ? undefined : { kind, destination, group, message };
    if (decodeError) return finish(message, middleware, context, failed(decodeError, message), undefined);
    const start = context === undefined ? 0 : perf.now();
    let result: unknown;
    try {
      result =
        context !== undefined && hasHandleHook(middleware)
          ? runHandle(middleware, context, 0)
          : handler(message);
    } catch (thrown) {
      return finish(message, middleware, context, failed(toError(thrown), message), start);
    }
    if (result !== undefined && typeof (result as PromiseLike<unknown>).then === 'function')
      return finishLater(result as PromiseLike<unknown>, message, middleware, context, start);
    return finish(message, middleware, context, ACK, start);
  };
}
