/**
 * The one bounded-concurrency loop every adapter feeds (the shape of rabbitmq-client's Consumer:
 * a prefetched queue and a processing count). Up to `concurrency` deliveries run at once, the
 * rest wait in arrival order; each outcome the dispatcher decides is carried out by the adapter's
 * `settle`; when a slot frees, the next waiting delivery starts.
 *
 * **A delivery whose settle fails** — `settle` throws or its promise rejects (a lost channel, a
 * dead-letter write refused), or `deliver` rejects in breach of its contract, or `toDelivery`
 * throws — is handed back to the broker with the adapter's `release` (nak / requeue / re-enqueue:
 * the broker redelivers it) and the error is reported; its slot frees either way. A delivery is
 * never settled twice and never left unaccounted: see docs/architecture.md#the-settle-failure-rule.
 */
import { toError } from './errors.js';
import type { DeliveryOutcome, RawDelivery } from './types.js';

/**
 * What a {@link DeliveryLoop} needs from its adapter. `C` is a per-delivery companion (e.g. a
 * channel). `O` is what core decides per delivery: a {@link DeliveryOutcome} for subscriptions
 * and consumers, the reply (an `OutgoingMessage`, from core's `AnswerFn`) for responders.
 */
export interface DeliveryLoopOptions<T, C = undefined, O = DeliveryOutcome> {
  /** Deliveries running at once. */
  readonly concurrency: number;
  /**
   * The subscription's dispatcher (core's `createDispatcher`), or a responder's `AnswerFn`. A
   * plain (non-promise) result is settled at once, without waiting for a microtask.
   */
  readonly deliver: (delivery: RawDelivery) => Promise<O> | O;
  /**
   * The delivery core decides on, or `undefined` when the adapter settled the item itself (a
   * message meant for someone else, a delay not yet over): its slot frees at once.
   */
  toDelivery(item: T, context: C): RawDelivery | undefined;
  /** Carry the outcome out on the broker (ack, retry, dead-letter, discard; send a reply). May be async. */
  settle(item: T, context: C, outcome: O, delivery: RawDelivery): void | Promise<void>;
  /** Give the item back to the broker for redelivery after a failed settle. Should not throw. */
  release(item: T, context: C, error: Error): void;
  /** Report an error no caller awaits (the broker's `error` event). */
  report(error: Error): void;
  /** A slot freed: e.g. ask the broker for more. */
  onFree?(): void;
}

function isThenable<O>(value: Promise<O> | O): value is Promise<O> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

/** See the module comment. */
export class DeliveryLoop<T, C = undefined, O = DeliveryOutcome> {
  #running = 0;
  #stopped = false;
  /** Waiting items and their companions, interleaved, from `#head` on: no per-item wrapper. */
  #waiting: unknown[] = [];
  #head = 0;
  #idleWaiters: Array<() => void> = [];
  /**
   * True while deliveries are being started: one settled synchronously frees its slot, and the
   * running loop starts the next one instead of a nested `#pump` (no recursion per backlog item).
   */
  #pumping = false;
  readonly #o: DeliveryLoopOptions<T, C, O>;

  constructor(options: DeliveryLoopOptions<T, C, O>) {
    this.#o = options;
  }

  /** Deliveries whose handler or settle is running. */
  get running(): number {
    return this.#running;
  }

  /** Deliveries waiting for a free slot. */
  get waiting(): number {
    return (this.#waiting.length - this.#head) >> 1;
  }

  /** Running plus waiting: what the adapter has taken from the broker and not yet settled. */
  get size(): number {
    return this.#running + this.waiting;
  }

  /** Take one delivery: it starts now when a slot is free, else waits its turn. */
  push(item: T, context: C): void {
    if (
      this.#running < this.#o.concurrency &&
      this.#head === this.#waiting.length &&
      !this.#stopped &&
      !this.#pumping
    ) {
      // Start it without the waiting list; what a synchronous settle makes startable (a push
      // from `onFree`) waits for the loop below rather than nesting a call per delivery.
      this.#pumping = true;
      try {
        this.#start(item, context);
        this.#startWaiting();
      } finally {
        this.#pumping = false;
      }
      return;
    }
    this.#waiting.push(item, context);
    this.#pump();
  }

  /**
   * Stop starting deliveries (closing, or the connection they came on is gone) and hand back the
   * waiting ones; running ones still finish and settle.
   */
  stop(): Array<[T, C]> {
    this.#stopped = true;
    return this.takeWaiting();
  }

  /** Start deliveries again after {@link stop} (the connection is back). */
  resume(): void {
    this.#stopped = false;
    this.#pump();
  }

  /** Remove and return the waiting deliveries (e.g. their channel died: the broker redelivers them). */
  takeWaiting(): Array<[T, C]> {
    const out: Array<[T, C]> = [];
    const w = this.#waiting;
    for (let i = this.#head; i < w.length; i += 2) out.push([w[i] as T, w[i + 1] as C]);
    this.#waiting = [];
    this.#head = 0;
    return out;
  }

  /** Resolves once no delivery is running. */
  idle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      this.#startWaiting();
    } finally {
      this.#pumping = false;
    }
  }

  #startWaiting(): void {
    const limit = this.#o.concurrency;
    while (this.#running < limit && !this.#stopped && this.#head < this.#waiting.length) {
      const w = this.#waiting;
      const h = this.#head;
      const item = w[h] as T;
      const context = w[h + 1] as C;
      w[h] = w[h + 1] = undefined;
      this.#head = h + 2;
      if (this.#head === w.length) {
        w.length = 0;
        this.#head = 0;
      } else if (this.#head >= 2048 && this.#head * 2 >= w.length) {
        // Compact now and then so a long backlog does not keep its consumed prefix.
        this.#waiting = w.slice(this.#head);
        this.#head = 0;
      }
      this.#start(item, context);
    }
  }

  // Plain callbacks rather than async functions: at most one promise per delivery (the
  // dispatcher's), none when it decided synchronously (a synchronous handler).
  #start(item: T, context: C): void {
    this.#running++;
    let delivery: RawDelivery | undefined;
    let result: Promise<O> | O | undefined;
    try {
      delivery = this.#o.toDelivery(item, context);
      if (delivery !== undefined) result = this.#o.deliver(delivery);
    } catch (error) {
      // A throwing toDelivery, or a deliver that throws instead of rejecting: not settled.
      this.#failed(item, context, error);
      return;
    }
    if (delivery === undefined) {
      this.#free();
      return;
    }
    if (isThenable(result)) {
      const delivered = delivery;
      result.then(
        (outcome) => this.#settle(item, context, outcome, delivered),
        (error: unknown) => this.#failed(item, context, error),
      );
      return;
    }
    this.#settle(item, context, result as O, delivery);
  }

  #settle(item: T, context: C, outcome: O, delivery: RawDelivery): void {
    let result: void | Promise<void>;
    try {
      result = this.#o.settle(item, context, outcome, delivery);
    } catch (error) {
      this.#failed(item, context, error);
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).then(
        () => this.#free(),
        (error: unknown) => this.#failed(item, context, error),
      );
      return;
    }
    this.#free();
  }

  #failed(item: T, context: C, thrown: unknown): void {
    let releaseError: unknown;
    try {
      this.#o.release(item, context, toError(thrown));
    } catch (error) {
      // The broker still redelivers an unsettled message on its own (ack wait, channel close).
      releaseError = error;
    }
    try {
      this.#o.report(toError(thrown));
      if (releaseError !== undefined) this.#o.report(toError(releaseError));
    } catch {
      // A throwing `error` listener must not leak the slot.
    } finally {
      this.#free();
    }
  }

  #free(): void {
    this.#running--;
    if (this.#running === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
    this.#pump();
    const onFree = this.#o.onFree;
    if (onFree !== undefined) {
      try {
        onFree();
      } catch (error) {
        this.#o.report(toError(error));
      }
    }
  }
}
