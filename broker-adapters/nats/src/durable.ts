/**
 * A group member or work-queue worker on a durable pull consumer: pulls sized to its free
 * prefetch slots ({@link PullLoop}), at most `concurrency` handlers at once, and the outcome core
 * decided carried out with ack / nak(delay) / dead-letter-then-term.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { DeliveryLoop, toError } from '@brokerkit/core/adapter';
import type {
  DeliverFn,
  DeliveryOutcome,
  RawDelivery,
  TransportHooks,
  TransportSubscription,
} from '@brokerkit/core';
import type { Connection } from './connection.js';
import type { DeadLetterWriter } from './dead-letter-writer.js';
import type { LingeringPulls } from './lingering.js';
import { presenceSubject } from './names.js';
import { PullLoop } from './pull-loop.js';
import type { PulledMessage } from './pulled.js';
import type { ConsumerRef } from './topology.js';
import { WIRE, plainBytes, receivedHeaders } from './wire.js';

/** What one durable subscription needs. */
export interface DurableSpec {
  readonly ref: ConsumerRef;
  /** The group (group subscriptions): replayed dead letters of other groups are skipped. */
  readonly group: string | undefined;
  /** Work queues report the queue as the topic; groups the subject. */
  readonly queue: string | undefined;
  /** Queue or group: where dead letters go. */
  readonly origin: string;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly heartbeatMs: number;
  readonly ackWaitMs: number;
  /** Where a closing member leaves its open pulls (see {@link LingeringPulls}). */
  readonly lingering: LingeringPulls;
}

/** Start consuming; resolves once the member is announced and its first pull is on its way. */
export async function startDurable(
  conn: Connection,
  spec: DurableSpec,
  deliver: DeliverFn,
  deadLetters: DeadLetterWriter,
  hooks: TransportHooks,
): Promise<TransportSubscription> {
  const durable = new DurableSubscription(conn, spec, deliver, deadLetters, hooks);
  await conn.nc.flush();
  durable.pull();
  return durable;
}

class DurableSubscription implements TransportSubscription {
  #closing = false;
  #closed: Promise<void> | undefined;
  readonly #loop: PullLoop;
  /** Pulled messages waiting for or running a handler (core's dispatch loop). */
  readonly #deliveries: DeliveryLoop<PulledMessage, undefined>;
  /** Messages whose handler is running: kept alive with progress acks past the ack wait. */
  readonly #active = new Set<PulledMessage>();
  readonly #keepAlive: NodeJS.Timeout;
  readonly #presence: Subscription;
  readonly #onReconnect = () => {
    this.#loop.reset();
    this.pull();
  };
  readonly #expiresMs: number;

  constructor(
    private readonly conn: Connection,
    private readonly spec: DurableSpec,
    deliver: DeliverFn,
    private readonly deadLetters: DeadLetterWriter,
    private readonly hooks: TransportHooks,
  ) {
    const nc: NatsConnection = conn.nc;
    this.#deliveries = new DeliveryLoop<PulledMessage, undefined>({
      concurrency: spec.concurrency,
      deliver,
      toDelivery: (m) => {
        const delivery = this.#prepare(m);
        if (delivery !== undefined) this.#active.add(m);
        return delivery;
      },
      settle: (m, _none, outcome, delivery) => this.#settle(m, outcome, delivery),
      // Redeliver later rather than at once: a settle that failed may fail again right away.
      release: (m) => {
        this.#active.delete(m);
        m.nak(1_000);
      },
      report: (error) => this.hooks.error(error),
      onFree: () => this.#freed(),
    });
    this.#expiresMs = Math.max(1_000, spec.heartbeatMs * 2);
    this.#loop = new PullLoop(
      nc,
      {
        stream: spec.ref.stream,
        consumer: spec.ref.consumer,
        heartbeatMs: spec.heartbeatMs,
        expiresMs: this.#expiresMs,
      },
      (m) => this.#receive(m),
      () => this.pull(),
    );
    conn.onReconnect.add(this.#onReconnect);
    // Presence probes let the inspector count members across processes.
    this.#presence = nc.subscribe(presenceSubject(spec.origin), {
      callback: (_error, msg) => {
        if (msg.reply) msg.respond();
      },
    });
    this.#keepAlive = setInterval(
      () => {
        for (const m of this.#active) m.working();
      },
      Math.max(500, Math.floor(spec.ackWaitMs / 3)),
    );
    this.#keepAlive.unref();
  }

  /** Ask for as many messages as there are free prefetch slots (batched to at least half of them). */
  pull(): void {
    if (this.#closing || !this.conn.connected) return;
    const { prefetch } = this.spec;
    const free = prefetch - this.#deliveries.size - this.#loop.requested;
    if (free <= 0) return;
    if (this.#loop.openRequests > 0 && (free < Math.ceil(prefetch / 2) || this.#loop.openRequests >= 2))
      return;
    this.#loop.pull(free);
  }

  #receive(m: PulledMessage): void {
    if (this.#closing) {
      // Arrived after close began: straight back to the stream for another member.
      this.spec.lingering.touch();
      m.nak();
      return;
    }
    this.#deliveries.push(m, undefined);
  }

  /** A message is settled: keep the pipeline full. */
  #freed(): void {
    if (this.#closing) return;
    try {
      this.pull();
    } catch (error) {
      // The client closed the connection itself (e.g. gave up reconnecting): nothing to pull from.
      this.hooks.error(toError(error));
    }
  }

  /**
   * The delivery for the handler, or undefined when the message was settled here: a replayed
   * dead letter meant for another group (acked), a `send` delay not yet over (nak'd for the rest).
   */
  #prepare(m: PulledMessage): RawDelivery | undefined {
    const meta = receivedHeaders(m.msg);
    const h = meta.headers;
    const replayTo = h[WIRE.replayTo];
    if (replayTo !== undefined && replayTo !== this.spec.group) {
      m.ack();
      return undefined;
    }
    let attempt = m.deliveryCount;
    const notBefore = h[WIRE.notBefore];
    if (notBefore !== undefined) {
      const wait = Number(notBefore) - Date.now();
      if (wait > 0) {
        m.nak(wait);
        return undefined;
      }
      // The early delivery that waited for `notBefore` was not an attempt.
      if (attempt > 1 && m.storedAt.getTime() < Number(notBefore)) attempt--;
    }
    return {
      topic: this.spec.queue ?? m.subject,
      body: plainBytes(m.msg.data),
      headers: h,
      contentType: meta.contentType,
      id: meta.id,
      timestamp: meta.timestamp ?? m.storedAt,
      attempt,
      redelivered: m.deliveryCount > 1,
    };
  }

  /** Carry out core's outcome; a throw or rejection makes the loop nak the message and report it. */
  #settle(m: PulledMessage, outcome: DeliveryOutcome, delivered: RawDelivery): void | Promise<void> {
    switch (outcome.kind) {
      case 'ack':
        m.ack();
        break;
      case 'retry':
        m.nak(outcome.delayMs);
        break;
      case 'dead_letter':
        // Stored in the dead-letter stream first, then ended: a crash in between duplicates, never
        // loses. Kept alive with progress acks while the write runs.
        return this.deadLetters
          .write(
            this.spec.origin,
            m,
            delivered,
            outcome.headers,
            `${this.spec.ref.stream}:${m.streamSequence}`,
          )
          .then(() => {
            this.#active.delete(m);
            m.term();
          });
      case 'discarded':
        m.term();
        break;
      default:
        throw new Error(`unknown delivery outcome ${String((outcome as { kind: unknown }).kind)}`);
    }
    this.#active.delete(m);
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#presence.unsubscribe();
    this.conn.onReconnect.delete(this.#onReconnect);
    this.#loop.stop();
    // Prefetched but not started: give them back now rather than after the ack wait.
    for (const [m] of this.#deliveries.stop()) m.nak();
    await this.#deliveries.idle();
    clearInterval(this.#keepAlive);
    // Open requests stay open until they expire: what still arrives is given back at once.
    if (this.#loop.lingering) this.spec.lingering.add(this.#loop, this.#expiresMs);
    else this.#loop.close();
  }
}
