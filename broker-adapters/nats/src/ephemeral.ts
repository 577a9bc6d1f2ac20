/**
 * Ephemeral subscriptions (no group): a core NATS subscription on the pattern. Subjects of broker
 * internals (`$JS…`, `_INBOX…`, brokerkit's `_bk…`) are ignored, retries are local timers, and a
 * handler that falls too far behind has messages discarded — reported, never silent.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { InFlightTracker, toError } from '@brokerkit/core';
import type {
  DeliverFn,
  RawDelivery,
  SubscriptionSpec,
  TransportHooks,
  TransportSubscription,
} from '@brokerkit/core';
import { WIRE, plainBytes, receivedHeaders } from './wire.js';

const DOLLAR = 36; // '$'
const UNDERSCORE = 95; // '_'

/** Subscribe; resolves once the server has the subscription (after a flush). */
export async function startEphemeral(
  nc: NatsConnection,
  spec: SubscriptionSpec,
  deliver: DeliverFn,
  hooks: TransportHooks,
  maxPending: number,
): Promise<TransportSubscription> {
  const sub = new EphemeralSubscription(spec, deliver, hooks, maxPending);
  sub.attach(nc.subscribe(spec.pattern, { callback: (error, msg) => sub.receive(error, msg) }));
  await nc.flush();
  return sub;
}

class EphemeralSubscription implements TransportSubscription {
  #sub: Subscription | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  readonly #queue: RawDelivery[] = [];
  #running = 0;
  readonly #inFlight = new InFlightTracker();
  readonly #timers = new Set<NodeJS.Timeout>();
  #dropped = 0;

  constructor(
    private readonly spec: SubscriptionSpec,
    private readonly deliver: DeliverFn,
    private readonly hooks: TransportHooks,
    private readonly maxPending: number,
  ) {}

  attach(sub: Subscription): void {
    this.#sub = sub;
  }

  receive(error: Error | null, msg: Msg): void {
    if (error) {
      this.hooks.error(error);
      return;
    }
    if (this.#closing) return;
    const first = msg.subject.charCodeAt(0);
    if (first === DOLLAR || first === UNDERSCORE) return;
    const meta = receivedHeaders(msg, true);
    // A replayed group dead letter is meant for that group alone.
    if (meta.headers[WIRE.replayTo] !== undefined) return;
    if (this.#queue.length >= this.maxPending) {
      if (this.#dropped++ === 0) {
        this.hooks.error(
          new Error(
            `ephemeral subscription ${this.spec.pattern}: more than ${this.maxPending} messages waiting for the handler; discarding (use a group to keep them)`,
          ),
        );
      }
      return;
    }
    this.#dropped = 0;
    const delivery: RawDelivery = {
      topic: msg.subject,
      body: plainBytes(msg.data),
      // The parse is shared by the fan-out copies of this message: each delivery gets its own
      // headers object and Date, as on every other path.
      headers: { ...meta.headers },
      contentType: meta.contentType,
      id: meta.id,
      timestamp: meta.timestamp && new Date(meta.timestamp.getTime()),
      attempt: 1,
      redelivered: false,
    };
    if (this.#running < this.spec.concurrency && this.#queue.length === 0) this.#start(delivery);
    else {
      this.#queue.push(delivery);
      this.#pump();
    }
  }

  #pump(): void {
    while (this.#running < this.spec.concurrency && this.#queue.length > 0) this.#start(this.#queue.shift()!);
  }

  /** Run one delivery: one promise per message (the dispatcher's), settled by plain callbacks. */
  #start(delivery: RawDelivery): void {
    this.#running++;
    this.#inFlight.add();
    this.deliver(delivery).then(
      (outcome) => {
        if (outcome.kind === 'retry' && !this.#closing)
          this.#retryLater(delivery, outcome.nextAttempt, outcome.delayMs);
        this.#finish();
      },
      (error: unknown) => {
        try {
          this.hooks.error(toError(error));
        } finally {
          this.#finish(); // also when an `error` listener throws
        }
      },
    );
  }

  #finish(): void {
    this.#running--;
    this.#inFlight.done();
    this.#pump();
  }

  #retryLater(delivery: RawDelivery, attempt: number, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closing) return;
      this.#queue.push({ ...delivery, attempt, redelivered: true });
      this.#pump();
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#sub?.unsubscribe();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    // Messages received while subscribed are still handled (at-least-once while subscribed).
    await this.#inFlight.idle();
    while (this.#queue.length > 0 || this.#running > 0) {
      this.#pump();
      await this.#inFlight.idle();
    }
  }
}
