/**
 * Publishing: an event is one `publish` script (every group whose pattern matches, plus its first
 * token's event stream while an ephemeral subscriber listens), a work-queue message one `XADD` (a script with `delayMs` or
 * de-duplication). Confirmed = Redis answered: durable as far as the server's persistence
 * setting makes it (README: "Durability"). During an outage a publish waits, bounded by its
 * `timeoutMs` and `maxBufferedPublishes`, then rejects with `BK_UNAVAILABLE`.
 */
import {
  BrokerUnavailableError,
  InFlightTracker,
  PayloadTooLargeError,
  TimeoutError,
  firstToken,
  withTimeout,
} from '@brokerkit/core/adapter';
import type { OutgoingMessage, TransportHooks, TransportPublishOptions } from '@brokerkit/core';
import type { Connection } from './connection.js';
import { corkForTick } from './cork.js';
import { mapRedisError } from './errors.js';
import {
  STREAM_PREFIX,
  dedupKey,
  dueKey,
  eventStreamKey,
  listenKey,
  parkKey,
  routesKey,
  streamKey,
} from './names.js';
import type { ResolvedRedisOptions } from './options.js';
import { PUBLISH, SEND_DEDUP, SEND_DELAYED } from './scripts.js';
import type { Topology } from './topology.js';
import { messageFields } from './wire.js';

/** Redis' default `proto-max-bulk-len`: the largest value one command can carry. */
export const MAX_BODY_BYTES = 512 * 1024 * 1024;
/** Queues remembered as provisioned; beyond this the memo starts over. */
const MAX_READY_QUEUES = 10_000;

/** Publishes events and work-queue messages. */
export class Publisher {
  /** Publishes still waiting for their answer; `close()` waits for them. */
  readonly inFlight = new InFlightTracker();
  /** Queues known to exist: sends skip provisioning (a vanished stream is noticed and re-made). */
  readonly #readyQueues = new Set<string>();
  readonly #maxLen: string;
  readonly #window: string;
  readonly #keep: string;

  constructor(
    private readonly conn: Connection,
    private readonly topology: Topology,
    private readonly options: ResolvedRedisOptions,
    private readonly hooks: TransportHooks,
    /** Told about a delayed send once it is stored, so local consumers of the queue wake in time. */
    private readonly onDelayed: (queue: string, delayMs: number) => void,
  ) {
    this.#maxLen = String(options.eventStreamMaxLen);
    this.#window = String(options.dedupWindowMs);
    this.#keep = options.keepEventStream ? '1' : '0';
  }

  /** `broker.publish`: into the event stream of the topic's first token and every matching group. */
  publish(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    const topic = message.destination;
    const token = firstToken(topic);
    this.#checkSize(message, topic);
    const keys =
      this.options.dedupWindowMs > 0
        ? [eventStreamKey(token), routesKey(token), listenKey(token), dedupKey(topic, message.id)]
        : [eventStreamKey(token), routesKey(token), listenKey(token)];
    const args = [
      this.#maxLen,
      topic,
      STREAM_PREFIX,
      this.#window,
      this.#keep,
      ...messageFields(message, topic),
    ];
    return this.#run(`publish to ${topic}`, options, () => PUBLISH.run(this.conn.cmd, keys, args));
  }

  /** `broker.send`: into the queue's stream, or parked until `delayMs` is over. */
  send(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    const queue = message.destination;
    this.#checkSize(message, queue);
    const fields = messageFields(message, undefined);
    const stream = streamKey(queue);
    const dedup = this.options.dedupWindowMs > 0;
    let write: () => Promise<unknown>;
    if (options.delayMs > 0) {
      const keys = dedup
        ? [stream, parkKey(queue), dueKey(queue), dedupKey(queue, message.id)]
        : [stream, parkKey(queue), dueKey(queue)];
      const args = [String(options.delayMs), this.#window, ...fields];
      write = () => SEND_DELAYED.run(this.conn.cmd, keys, args);
    } else if (dedup) {
      const args = [this.#window, ...fields];
      write = () => SEND_DEDUP.run(this.conn.cmd, [stream, dedupKey(queue, message.id)], args);
    } else {
      // NOMKSTREAM: a stream that vanished (deleted, or lost in a restart) answers nil instead of
      // being re-made without its consumer group.
      write = () => this.conn.cmd.call('XADD', stream, 'NOMKSTREAM', '*', ...fields);
    }
    const sent = this.#run(`send to ${queue}`, options, () => this.#sendTo(queue, write));
    if (options.delayMs === 0) return sent;
    return sent.then(() => this.onDelayed(queue, options.delayMs));
  }

  /** Forget a queue's provisioning, e.g. after the inspector deleted it. */
  forget(queue: string): void {
    this.#readyQueues.delete(queue);
  }

  /** Remember a queue as provisioned (a consumer provisioned it). */
  provisioned(queue: string): void {
    if (this.#readyQueues.size >= MAX_READY_QUEUES) this.#readyQueues.clear();
    this.#readyQueues.add(queue);
  }

  async #sendTo(queue: string, write: () => Promise<unknown>): Promise<void> {
    if (!this.#readyQueues.has(queue)) {
      await this.topology.ensureQueue(queue);
      this.provisioned(queue);
    }
    const result = await write();
    if (result !== null && result !== -1) return;
    // The stream is gone: provision it again and write once more.
    this.forget(queue);
    await this.topology.ensureQueue(queue);
    this.provisioned(queue);
    await write();
  }

  #checkSize(message: OutgoingMessage, destination: string): void {
    if (message.body.byteLength > MAX_BODY_BYTES) {
      throw new PayloadTooLargeError(
        `payload of ${message.body.byteLength} bytes for ${destination} exceeds Redis' ${MAX_BODY_BYTES}-byte value limit`,
      );
    }
  }

  /**
   * Run one write with the outage and timeout rules. `confirm: false` while connected returns at
   * once (the write is on the connection; a failure is reported through the `error` event).
   */
  #run(what: string, options: TransportPublishOptions, write: () => Promise<unknown>): Promise<void> {
    const conn = this.conn;
    this.inFlight.add();
    corkForTick(conn.cmd);
    if (!options.confirm && conn.ready) {
      write().then(
        () => this.inFlight.done(),
        (error: unknown) => {
          this.inFlight.done();
          this.hooks.error(mapRedisError(error, what));
        },
      );
      return Promise.resolve();
    }
    const { timeoutMs } = options;
    const written = conn.ready ? write() : conn.waitReady(timeoutMs).then(write);
    return withTimeout(written, timeoutMs, () =>
      conn.ready
        ? new TimeoutError(`${what}: no answer from Redis within ${timeoutMs} ms`)
        : new BrokerUnavailableError(
            `${what}: Redis at ${conn.where} stayed unreachable for ${timeoutMs} ms`,
          ),
    ).then(
      () => this.inFlight.done(),
      (error: unknown) => {
        this.inFlight.done();
        throw mapRedisError(error, what);
      },
    );
  }
}
