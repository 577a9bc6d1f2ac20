/**
 * Publishing: JetStream publish with PubAck confirmation (pipelined: every call is independent),
 * core publish for `confirm: false`, and the outage rule — wait (bounded) for the connection,
 * retry with the same `Nats-Msg-Id` so the stream de-duplicates, then `BK_UNAVAILABLE`.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import {
  BrokerUnavailableError,
  InFlightTracker,
  TimeoutError,
  firstToken,
  type OutgoingMessage,
  type TransportPublishOptions,
} from '@brokerkit/core/adapter';
import type { Connection } from './connection.js';
import type { PubAcks } from './pub-acks.js';
import { isClosedConnection, isNoResponders, isPayloadTooLarge, isTransient } from './errors.js';
import { isClusterTransient, mapClusterPublishError as mapPublishError } from './cluster-errors.js';
import { eventStreamName, queueStreamName, queueSubject } from './names.js';
import type { ResolvedNatsOptions } from './options.js';
import type { Topology } from './topology.js';
import { publishCore } from './nats-internals.js';
import { WIRE, outgoingHeaders } from './wire.js';

const RETRY_PAUSE_MAX_MS = 500;
/** What a core publish returns once it is written: settled already, shared by every call. */
const DONE: Promise<void> = Promise.resolve();
/** A stream checked less than this long ago is not checked again for a failing publish. */
const RECHECK_MIN_AGE_MS = 250;
/** Topics remembered as provisioned; beyond this the memo starts over (topics like `orders.<id>`). */
const MAX_READY_TOPICS = 10_000;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wait for `p` (its failure ignored) until `deadline` at most. */
function withDeadline(p: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
  });
  return Promise.race([p.catch(() => undefined), expired]).finally(() => clearTimeout(timer));
}

/** Publishes events and work-queue messages. */
export class Publisher {
  /** Topics whose event stream is known to exist: the hot path skips provisioning. */
  readonly #readyTopics = new Set<string>();
  readonly #readyQueues = new Set<string>();
  /** Confirmed publishes still waiting for their PubAck; `close()` waits for them. */
  readonly inFlight = new InFlightTracker();

  constructor(
    private readonly conn: Connection,
    private readonly acks: PubAcks,
    private readonly topology: Topology,
    private readonly options: ResolvedNatsOptions,
  ) {}

  /** `broker.publish`: into the event stream of the topic's first token. */
  publish(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    const subject = message.destination;
    if (!options.confirm) return this.#publishCore(subject, message, options.timeoutMs);
    if (this.#readyTopics.has(subject)) {
      return this.#confirmed(subject, message.body, outgoingHeaders(message), options.timeoutMs, () =>
        this.#provisionTopic(subject, true),
      );
    }
    return this.#provisionTopic(subject, false).then(() =>
      this.#confirmed(subject, message.body, outgoingHeaders(message), options.timeoutMs, () =>
        this.#provisionTopic(subject, true),
      ),
    );
  }

  /** `broker.send`: into the queue's work-queue stream. */
  send(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    const queue = message.destination;
    const subject = queueSubject(queue);
    const extra =
      options.delayMs > 0 ? { [WIRE.notBefore]: String(Date.now() + options.delayMs) } : undefined;
    if (!options.confirm && this.#readyQueues.has(queue))
      return this.#publishCore(subject, message, options.timeoutMs, extra);
    const go = () =>
      options.confirm
        ? this.#confirmed(subject, message.body, outgoingHeaders(message, extra), options.timeoutMs, () =>
            this.#provisionQueue(queue, true),
          )
        : this.#publishCore(subject, message, options.timeoutMs, extra);
    return this.#readyQueues.has(queue) ? go() : this.#provisionQueue(queue, false).then(go);
  }

  async #provisionTopic(topic: string, again: boolean): Promise<void> {
    const token = firstToken(topic);
    // Many publishes fail at once while a stream elects a leader: they share one re-check.
    if (again) this.topology.forget(eventStreamName(token), RECHECK_MIN_AGE_MS);
    await this.topology.ensureEventStream(token);
    if (this.#readyTopics.size >= MAX_READY_TOPICS) this.#readyTopics.clear();
    this.#readyTopics.add(topic);
  }

  async #provisionQueue(queue: string, again: boolean): Promise<void> {
    if (again) this.topology.forget(queueStreamName(queue), RECHECK_MIN_AGE_MS);
    await this.topology.ensureQueueStream(queue);
    if (this.#readyQueues.size >= MAX_READY_TOPICS) this.#readyQueues.clear();
    this.#readyQueues.add(queue);
  }

  /** Publish an already-built message (dead letters, replays), confirmed, with the outage rules. */
  publishStored(subject: string, body: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<void> {
    return this.#confirmed(subject, body, headers, timeoutMs, () => Promise.resolve());
  }

  /** Forget cached streams, e.g. after the inspector deleted one. */
  forgetAll(): void {
    this.#readyTopics.clear();
    this.#readyQueues.clear();
  }

  #publishCore(
    subject: string,
    message: OutgoingMessage,
    timeoutMs: number,
    extra?: Record<string, string>,
  ): Promise<void> {
    // While disconnected the client's buffer is dropped on reconnect: wait for the connection.
    if (!this.conn.connected) {
      return this.conn.waitConnected(timeoutMs).then(() => this.#publishCoreNow(subject, message, extra));
    }
    // Connected (the common case): no async function, so no promise of its own and no await per message.
    try {
      this.#publishCoreNow(subject, message, extra);
      return DONE;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #publishCoreNow(
    subject: string,
    message: OutgoingMessage,
    extra: Record<string, string> | undefined,
  ): void {
    try {
      const headers = outgoingHeaders(message, extra);
      // The same bytes as nc.publish, without its per-message TextEncoder; nc.publish itself
      // whenever it would refuse (its errors) or nats.js is not the tested one.
      if (!publishCore(this.conn.nc, subject, headers, message.body))
        this.conn.nc.publish(subject, message.body, { headers });
    } catch (error) {
      throw mapPublishError(error, subject);
    }
  }

  /**
   * Publish with PubAck. A lost request (outage, server restart, JetStream still starting) is
   * retried until `timeoutMs` runs out; the unchanged `Nats-Msg-Id` makes a retry of a message the
   * server did store a duplicate it drops.
   */
  async #confirmed(
    subject: string,
    body: Uint8Array,
    headers: MsgHdrs,
    timeoutMs: number,
    reprovision: () => Promise<void>,
  ): Promise<void> {
    this.inFlight.add();
    try {
      const deadline = Date.now() + timeoutMs;
      let outage = false;
      for (let attempt = 0; ; attempt++) {
        if (!this.conn.connected) {
          outage = true;
          await this.conn.waitConnected(deadline - Date.now());
        }
        const remaining = deadline - Date.now();
        try {
          await this.acks.publish(
            subject,
            body,
            headers,
            Math.max(1, Math.min(remaining, this.options.pubAckTimeoutMs)),
          );
          return;
        } catch (error) {
          if (
            isPayloadTooLarge(error) ||
            isClosedConnection(error) ||
            !(isTransient(error) || isClusterTransient(error))
          ) {
            throw mapPublishError(error, subject);
          }
          if (!this.conn.connected) outage = true;
          if (Date.now() >= deadline) {
            throw outage
              ? new BrokerUnavailableError(
                  `no PubAck for ${subject} within ${timeoutMs} ms: NATS was unreachable`,
                  {
                    cause: error,
                  },
                )
              : new TimeoutError(`no PubAck for ${subject} within ${timeoutMs} ms`, { cause: error });
          }
          if (isNoResponders(error)) {
            // The stream may have been deleted, or JetStream is not up yet after a restart.
            outage = true;
            // Bounded by the deadline: during an election the stream check itself may hang.
            await withDeadline(reprovision(), deadline);
          }
          await pause(Math.min(RETRY_PAUSE_MAX_MS, 25 * 2 ** attempt, Math.max(0, deadline - Date.now())));
        }
      }
    } finally {
      this.inFlight.done();
    }
  }
}
