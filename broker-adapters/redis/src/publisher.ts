/**
 * Publishing: an event is routed by a script (every group whose pattern matches, plus its first
 * token's event stream while an ephemeral subscriber listens) — the events of one tick to one first
 * token by one script call, so Redis runs the script and reads the routes once for all of them —
 * and a work-queue message is one `XADD` (a script with `delayMs` or de-duplication). Confirmed = Redis answered: durable as far as the server's persistence
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
import { Deadlines } from './deadlines.js';
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
import { PUBLISH, PUBLISH_BATCH, SEND_DEDUP, SEND_DELAYED } from './scripts.js';
import type { Topology } from './topology.js';
import { PackedCommand } from './packed.js';
import { messageFields } from './wire.js';

/** Redis' default `proto-max-bulk-len`: the largest value one command can carry. */
export const MAX_BODY_BYTES = 512 * 1024 * 1024;
/** Publishes of one tick to one first token go out as one script call of at most this many… */
const MAX_BATCH = 256;
/** …and about this many bytes of bodies. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** Publishes of one tick to one first token, on their way as one {@link PUBLISH_BATCH} call. */
interface Batch {
  readonly token: string;
  readonly args: (string | Buffer)[];
  count: number;
  bytes: number;
  readonly done: Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

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
  /** Batches filling during this tick, by first token; sent on the next tick. */
  readonly #batches = new Map<string, Batch>();
  #flushScheduled = false;
  /** Stream keys of queues sent to, by queue (a send builds none). */
  readonly #streams = new Map<string, string>();
  /** Time limits of confirmed writes: one timer for all of them. */
  readonly #deadlines = new Deadlines(
    (waiter) => this.#timedOut(waiter.what, waiter.destination, waiter.timeoutMs),
    () => this.inFlight.done(),
  );

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
    if (this.options.dedupWindowMs === 0) {
      const fields = messageFields(message, topic);
      const bytes = message.body.byteLength;
      return this.#run('publish to', topic, options, () => this.#enqueue(token, topic, fields, bytes));
    }
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
    return this.#run('publish to', topic, options, () => PUBLISH.run(this.conn.cmd, keys, args));
  }

  /** `broker.send`: into the queue's stream, or parked until `delayMs` is over. */
  send(message: OutgoingMessage, options: TransportPublishOptions): Promise<void> {
    const queue = message.destination;
    this.#checkSize(message, queue);
    const stream = this.#streamOf(queue);
    const dedup = this.options.dedupWindowMs > 0;
    let write: () => Promise<unknown>;
    if (options.delayMs > 0) {
      const fields = messageFields(message, undefined);
      const keys = dedup
        ? [stream, parkKey(queue), dueKey(queue), dedupKey(queue, message.id)]
        : [stream, parkKey(queue), dueKey(queue)];
      const args = [String(options.delayMs), this.#window, ...fields];
      write = () => SEND_DELAYED.run(this.conn.cmd, keys, args);
    } else if (dedup) {
      const args = [this.#window, ...messageFields(message, undefined)];
      write = () => SEND_DEDUP.run(this.conn.cmd, [stream, dedupKey(queue, message.id)], args);
    } else {
      // NOMKSTREAM: a stream that vanished (deleted, or lost in a restart) answers nil instead of
      // being re-made without its consumer group.
      // Packed into one buffer (src/packed.ts): ioredis' own layout of a command with a Buffer
      // argument was the largest cost of a send.
      const args = messageFields(message, undefined, [stream, 'NOMKSTREAM', '*']);
      write = () => {
        // The reply (the entry id, or nil) is only checked for nil: left a Buffer, not made a string.
        const command = new PackedCommand('XADD', args, null);
        void this.conn.cmd.sendCommand(command);
        return command.promise as Promise<unknown>;
      };
    }
    // A queue known to exist is written to at once; the answer says if its stream vanished.
    const sent = this.#run(
      'send to',
      queue,
      options,
      this.#readyQueues.has(queue) ? write : () => this.#sendTo(queue, write),
      write,
    );
    if (options.delayMs === 0) return sent;
    return sent.then(() => this.onDelayed(queue, options.delayMs));
  }

  #streamOf(queue: string): string {
    let stream = this.#streams.get(queue);
    if (stream === undefined) {
      if (this.#streams.size >= MAX_READY_QUEUES) this.#streams.clear();
      this.#streams.set(queue, (stream = streamKey(queue)));
    }
    return stream;
  }

  /**
   * Add a publish to this tick's batch of its first token; resolves when Redis answered the batch.
   * A batch is one script run, so its publishes are stored together, in order, or not at all.
   */
  #enqueue(token: string, topic: string, fields: (string | Buffer)[], bytes: number): Promise<unknown> {
    let batch = this.#batches.get(token);
    if (batch !== undefined && (batch.count >= MAX_BATCH || batch.bytes + bytes > MAX_BATCH_BYTES)) {
      this.#send(batch);
      batch = undefined;
    }
    if (batch === undefined) {
      let resolve!: (value: unknown) => void;
      let reject!: (error: unknown) => void;
      const done = new Promise<unknown>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = {
        token,
        args: [this.#maxLen, STREAM_PREFIX, this.#keep],
        count: 0,
        bytes: 0,
        done,
        resolve,
        reject,
      };
      this.#batches.set(token, batch);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        process.nextTick(this.#flush);
      }
    }
    batch.args.push(topic, String(fields.length));
    for (let i = 0; i < fields.length; i++) batch.args.push(fields[i]!);
    batch.count++;
    batch.bytes += bytes;
    return batch.done;
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    for (const batch of this.#batches.values()) this.#send(batch);
  };

  #send(batch: Batch): void {
    this.#batches.delete(batch.token);
    const token = batch.token;
    corkForTick(this.conn.cmd);
    PUBLISH_BATCH.run(
      this.conn.cmd,
      [eventStreamKey(token), routesKey(token), listenKey(token)],
      batch.args,
    ).then(batch.resolve, batch.reject);
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

  async #sendTo(queue: string, write: () => Promise<unknown>): Promise<unknown> {
    if (!this.#readyQueues.has(queue)) {
      await this.topology.ensureQueue(queue);
      this.provisioned(queue);
    }
    return write();
  }

  /** The queue's stream is gone (nil from `NOMKSTREAM`, -1 from a script): provision it again and write once more. */
  async #sendAgain(queue: string, write: () => Promise<unknown>): Promise<void> {
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
   * once (the write is on the connection; a failure is reported through the `error` event). For a
   * send, `again` writes once more after the queue was provisioned again, should the answer say
   * its stream is gone.
   */
  #run(
    what: string,
    destination: string,
    options: TransportPublishOptions,
    write: () => Promise<unknown>,
    again?: () => Promise<unknown>,
  ): Promise<void> {
    const conn = this.conn;
    this.inFlight.add();
    corkForTick(conn.cmd);
    if (!options.confirm && conn.ready) {
      write()
        .then((result) =>
          again !== undefined && (result === null || result === -1)
            ? this.#sendAgain(destination, again)
            : undefined,
        )
        .then(
          () => this.inFlight.done(),
          (error: unknown) => {
            this.inFlight.done();
            this.hooks.error(mapRedisError(error, `${what} ${destination}`));
          },
        );
      return Promise.resolve();
    }
    const { timeoutMs } = options;
    if (!conn.ready) return this.#runWhenReady(what, destination, timeoutMs, write, again);
    const waiter = this.#deadlines.start(timeoutMs, what, destination);
    write().then(
      (result) => {
        if (again === undefined || (result !== null && result !== -1)) this.#deadlines.resolve(waiter);
        else
          this.#sendAgain(destination, again).then(
            () => this.#deadlines.resolve(waiter),
            (error: unknown) =>
              this.#deadlines.reject(waiter, mapRedisError(error, `${what} ${destination}`)),
          );
      },
      (error: unknown) => this.#deadlines.reject(waiter, mapRedisError(error, `${what} ${destination}`)),
    );
    return waiter.promise;
  }

  /**
   * A write during an outage: it waits for the connection (bounded by `waitReady`, which drops it
   * when its time ran out: then it is never sent), all of it within `timeoutMs` by core's
   * `withTimeout`, armed after `waitReady`'s own timer so that one fires first and frees its slot
   * among the `maxBufferedPublishes` before the caller hears of the timeout.
   */
  #runWhenReady(
    what: string,
    destination: string,
    timeoutMs: number,
    write: () => Promise<unknown>,
    again: (() => Promise<unknown>) | undefined,
  ): Promise<void> {
    const written = this.conn
      .waitReady(timeoutMs)
      .then(write)
      .then((result) =>
        again !== undefined && (result === null || result === -1)
          ? this.#sendAgain(destination, again)
          : undefined,
      );
    return withTimeout(written, timeoutMs, () => this.#timedOut(what, destination, timeoutMs)).then(
      () => this.inFlight.done(),
      (error: unknown) => {
        this.inFlight.done();
        throw mapRedisError(error, `${what} ${destination}`);
      },
    );
  }

  #timedOut(verb: string, destination: string, timeoutMs: number): Error {
    const what = `${verb} ${destination}`;
    return this.conn.ready
      ? new TimeoutError(`${what}: no answer from Redis within ${timeoutMs} ms`)
      : new BrokerUnavailableError(
          `${what}: Redis at ${this.conn.where} stayed unreachable for ${timeoutMs} ms`,
        );
  }
}
