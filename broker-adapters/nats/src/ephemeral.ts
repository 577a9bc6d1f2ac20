/**
 * Ephemeral subscriptions (no group): a core NATS subscription on the pattern. Subjects of broker
 * internals (`$JS…`, `_INBOX…`, brokerkit's `_bk…`) are ignored, retries are local timers, and a
 * handler that falls too far behind has messages discarded — reported, never silent.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { DeliveryLoop } from '@brokerkit/core/adapter';
import type {
  DeliverFn,
  RawDelivery,
  SubscriptionSpec,
  TransportHooks,
  TransportSubscription,
} from '@brokerkit/core';
import { rawHeaderLength } from './nats-internals.js';
import { coreBody, receivedCopy } from './wire.js';

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
  /** Deliveries waiting for or running a handler (core's dispatch loop). */
  readonly #deliveries: DeliveryLoop<RawDelivery, undefined>;
  readonly #timers = new Set<NodeJS.Timeout>();
  #dropped = 0;

  constructor(
    private readonly spec: SubscriptionSpec,
    deliver: DeliverFn,
    private readonly hooks: TransportHooks,
    private readonly maxPending: number,
  ) {
    this.#deliveries = new DeliveryLoop<RawDelivery, undefined>({
      concurrency: spec.concurrency,
      deliver,
      toDelivery: (delivery) => delivery,
      settle: (delivery, _none, outcome) => {
        if (outcome.kind === 'retry') {
          if (!this.#closing) this.#retryLater(delivery, outcome.nextAttempt, outcome.delayMs);
        } else if (outcome.kind !== 'ack' && outcome.kind !== 'discarded') {
          throw new Error(`unknown delivery outcome ${String((outcome as { kind: unknown }).kind)}`);
        }
      },
      // No broker keeps a core NATS message: the subscription itself hands it out again.
      release: (delivery) => {
        if (!this.#closing) this.#retryLater(delivery, delivery.attempt + 1, 0);
      },
      report: (error) => this.hooks.error(error),
    });
  }

  attach(sub: Subscription): void {
    this.#sub = sub;
  }

  receive(error: Error | null, msg: Msg): void {
    if (error) {
      this.hooks.error(error);
      return;
    }
    if (this.#closing) return;
    const hdr = rawHeaderLength(msg);
    const copy = receivedCopy(msg, hdr);
    if (copy.skip) return;
    if (this.#deliveries.waiting >= this.maxPending) {
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
    const meta = copy.meta;
    const delivery: RawDelivery = {
      topic: copy.subject,
      body: coreBody(msg, hdr),
      // The parse is shared by the fan-out copies of this message: each delivery gets its own
      // headers object and Date, as on every other path.
      headers: { ...meta.headers },
      contentType: meta.contentType,
      id: meta.id,
      timestamp: meta.timestamp && new Date(meta.timestamp.getTime()),
      attempt: 1,
      redelivered: false,
    };
    this.#deliveries.push(delivery, undefined);
  }

  #retryLater(delivery: RawDelivery, attempt: number, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closing) return;
      this.#deliveries.push({ ...delivery, attempt, redelivered: true }, undefined);
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
    while (this.#deliveries.size > 0) await this.#deliveries.idle();
  }
}
