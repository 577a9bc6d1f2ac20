/**
 * One queue of the memory broker: ready messages, competing consumers with concurrency limits,
 * retry timers and the dead-letter companion. Groups, work queues, dead-letter queues and the
 * private queue of each ephemeral subscription are all instances of it.
 */
import { DeliveryLoop } from '@brokerkit/core/adapter';
import type { DeliverFn, DeliveryOutcome, QueueKind } from '@brokerkit/core';
import type { TopicMatcher } from '@brokerkit/core/adapter';
import { Fifo } from './fifo.js';
import { deliveryOf, withAttempt, type StoredMessage } from './stored-message.js';

/**
 * A consumer attached to a queue: one `subscribe` / `consume` call, running its deliveries on
 * core's dispatch loop. The queue hands it a message only while it has a free slot, so its loop
 * never holds waiting messages: the queue's ready list is the prefetch buffer.
 */
export class QueueConsumer {
  closed = false;
  readonly loop: DeliveryLoop<StoredMessage, MemoryQueue>;

  constructor(
    deliver: DeliverFn,
    /** Handlers running at once. */
    readonly limit: number,
    report: (error: Error) => void,
  ) {
    this.loop = new DeliveryLoop<StoredMessage, MemoryQueue>({
      concurrency: limit,
      deliver,
      // Every handler gets its own bytes: a fan-out or a retry never sees another's writes.
      toDelivery: deliveryOf,
      settle: (message, queue, outcome) => queue.settle(message, outcome),
      // A failed settle keeps the message: back to the queue as the next attempt.
      release: (message, queue) => queue.release(message),
      report,
      onFree: () => this.onFree?.(),
    });
  }

  /** Set by the queue the consumer is attached to. */
  onFree: (() => void) | undefined;
}

/** Deliveries one drain starts before it yields to the event loop (`setImmediate`). */
const DRAIN_BATCH = 1024;

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
  /** True while `#drain` hands out messages: a slot freed meanwhile is filled by that same loop. */
  #draining = false;
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
    consumer.onFree = this.#onFree;
    this.consumers.push(consumer);
    this.#schedule();
  }

  // A slot frees only when a delivery settles, which is never inside the `publish` that queued a
  // message (those dispatch on a microtask), so the next message can start right here: no
  // microtask per delivery. Inside `#drain` (a synchronous settle) its own loop goes on.
  readonly #onFree = () => {
    if (!this.#draining && this.ready.length > 0) this.#drain();
  };

  /** Stop handing `consumer` messages; resolves once its running handlers have settled. */
  detach(consumer: QueueConsumer): Promise<void> {
    consumer.closed = true;
    const index = this.consumers.indexOf(consumer);
    if (index >= 0) this.consumers.splice(index, 1);
    return consumer.loop.idle();
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
    if (this.#draining) return;
    this.#draining = true;
    try {
      let budget = DRAIN_BATCH;
      while (this.ready.length > 0) {
        if (budget-- === 0) {
          // Synchronous handlers can empty a long backlog in one go: let timers and I/O in.
          this.#scheduled = true;
          setImmediate(this.#pump);
          return;
        }
        const consumer = this.#freeConsumer();
        if (consumer === undefined) return;
        this.#dispatch(consumer, this.ready.shift()!);
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Round robin over consumers with a free handler slot. */
  #freeConsumer(): QueueConsumer | undefined {
    const count = this.consumers.length;
    for (let i = 0; i < count; i++) {
      const index = (this.#next + i) % count;
      const consumer = this.consumers[index]!;
      if (consumer.loop.running < consumer.limit) {
        this.#next = (index + 1) % count;
        return consumer;
      }
    }
    return undefined;
  }

  #dispatch(consumer: QueueConsumer, message: StoredMessage): void {
    this.inFlight++;
    consumer.loop.push(message, this);
  }

  /** Carry out what core decided for a delivery of this queue. */
  settle(message: StoredMessage, outcome: DeliveryOutcome): void {
    const kind = outcome.kind; // read first: an outcome that cannot be read changes nothing
    if (kind !== 'ack' && kind !== 'discarded' && kind !== 'retry' && kind !== 'dead_letter')
      throw new Error(`unknown delivery outcome ${String(kind)}`);
    this.inFlight--;
    if (outcome.kind === 'retry')
      this.enqueueLater(withAttempt(message, outcome.nextAttempt), outcome.delayMs);
    else if (outcome.kind === 'dead_letter')
      this.deadLetters?.enqueue(withAttempt(message, message.attempt, outcome.headers));
  }

  /** A delivery whose settle failed: keep it, as the next attempt. */
  release(message: StoredMessage): void {
    this.inFlight--;
    this.enqueue(withAttempt(message, message.attempt + 1));
  }
}
