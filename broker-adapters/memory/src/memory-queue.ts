/**
 * One queue of the memory broker: ready messages, competing consumers with concurrency limits,
 * retry timers and the dead-letter companion. Groups, work queues, dead-letter queues and the
 * private queue of each ephemeral subscription are all instances of it.
 */
import { InFlightTracker } from '@brokerkit/core';
import type { DeliverFn, DeliveryOutcome, QueueKind, TopicMatcher } from '@brokerkit/core';
import { Fifo } from './fifo.js';
import { withAttempt, type StoredMessage } from './stored-message.js';

/** A consumer attached to a queue: one `subscribe` / `consume` call. */
export class QueueConsumer {
  active = 0;
  closed = false;
  readonly tracker = new InFlightTracker();

  constructor(
    readonly deliver: DeliverFn,
    /** Handlers running at once. */
    readonly limit: number,
  ) {}
}

/** `ephemeral` queues belong to one subscription and are never listed or inspected. */
export type MemoryQueueKind = QueueKind | 'ephemeral';

/** See the module comment. */
export class MemoryQueue {
  readonly ready = new Fifo<StoredMessage>();
  readonly consumers: QueueConsumer[] = [];
  /** Delivered, handler not yet settled. */
  inFlight = 0;
  /** Waiting for a retry or `delayMs` timer. */
  delayed = 0;
  deleted = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  #next = 0;
  #scheduled = false;
  readonly #pump = () => {
    this.#scheduled = false;
    this.#drain();
  };

  constructor(
    readonly name: string,
    readonly kind: MemoryQueueKind,
    /** Groups: the bound pattern and its matcher. */
    readonly pattern?: string,
    readonly matcher?: TopicMatcher,
    /** Where messages out of attempts go (groups and work queues). */
    readonly deadLetters?: MemoryQueue,
  ) {}

  /** Add a ready message. Dispatch happens on a microtask so `publish` never runs a handler inline. */
  enqueue(message: StoredMessage): void {
    if (this.deleted) return;
    this.ready.push(message);
    this.#schedule();
  }

  /** Add a message after `delayMs` (a retry, or `send` with `delayMs`). Counted as in flight meanwhile. */
  enqueueLater(message: StoredMessage, delayMs: number): void {
    if (delayMs <= 0) return this.enqueue(message);
    this.delayed++;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.delayed--;
      this.enqueue(message);
    }, delayMs);
    // A pending retry must not keep a finished process alive; the message lives in memory only anyway.
    timer.unref();
    this.#timers.add(timer);
  }

  attach(consumer: QueueConsumer): void {
    this.consumers.push(consumer);
    this.#schedule();
  }

  /** Stop handing `consumer` messages; resolves once its running handlers have settled. */
  detach(consumer: QueueConsumer): Promise<void> {
    consumer.closed = true;
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.consumers.splice(index, 1);
    return consumer.tracker.idle();
  }

  /** Drop ready messages; returns how many. */
  purge(): number {
    return this.ready.clear();
  }

  /** Forget everything: ready messages, timers and consumers. */
  delete(): void {
    this.deleted = true;
    this.ready.clear();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.delayed = 0;
    for (const consumer of this.consumers) consumer.closed = true;
    this.consumers.length = 0;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#pump);
  }

  #drain(): void {
    while (this.ready.length > 0) {
      const consumer = this.#freeConsumer();
      if (consumer === undefined) return;
      this.#dispatch(consumer, this.ready.shift()!);
    }
  }

  /** Round robin over consumers with a free handler slot. */
  #freeConsumer(): QueueConsumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i++) {
      const index = (this.#next + i) % count;
      const consumer = this.consumers[index]!;
      if (consumer.active < consumer.limit) {
        this.#next = (index + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }

  #dispatch(consumer: QueueConsumer, message: StoredMessage): void {
    consumer.active++;
    consumer.tracker.add();
    this.inFlight++;
    consumer.deliver(message).then(
      (outcome) => this.#settle(consumer, message, outcome),
      // deliver never rejects by contract; if it does anyway, keep the message rather than lose it.
      () => this.#settle(consumer, message, undefined),
    );
  }

  #settle(consumer: QueueConsumer, message: StoredMessage, outcome: DeliveryOutcome | undefined): void {
    this.inFlight--;
    if (outcome === undefined) this.enqueue(withAttempt(message, message.attempt + 1));
    else if (outcome.kind === 'retry')
      this.enqueueLater(withAttempt(message, outcome.nextAttempt), outcome.delayMs);
    else if (outcome.kind === 'dead_letter')
      this.deadLetters?.enqueue(withAttempt(message, message.attempt, outcome.headers));
    consumer.active--;
    consumer.tracker.done();
    if (this.ready.length > 0) this.#schedule();
  }
}
