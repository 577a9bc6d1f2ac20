/**
 * One AMQP connection to one node of a RabbitMQ cluster (or to the one broker), kept alive:
 * connect with `noDelay`, detect loss, fail over to the other nodes with backoff and jitter, and
 * let the parts of the transport (publisher, topology, consumers) restore themselves in order
 * before the status goes back to `ready`. Also relays RabbitMQ's resource alarms
 * (`connection.blocked` / `connection.unblocked`) to the participants and, on the publishing
 * connection, reports them as status `blocked` / `ready`.
 *
 * Node order: the URL list rotated from a start chosen at random per transport, so a fleet of
 * clients spreads over the nodes (and so do the quorum queue leaders they declare, which RabbitMQ
 * places on the declaring client's node). After losing node `i` the supervisor tries `i+1`,
 * `i+2`, … and node `i` itself last, one attempt per backoff delay.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { BrokerUnavailableError, deferred, reconnectDelay, toError } from '@brokerkit/core/adapter';
import type { TransportHooks } from '@brokerkit/core';
import type { Deferred } from '@brokerkit/core/adapter';
import { nodeName } from './names.js';
import type { ResolvedOptions } from './options.js';

/** A part of the transport that lives on the connection. */
export interface ConnectionParticipant {
  /** A connection is (again) up: re-declare and restore. Errors are reported, not fatal. */
  connected(model: ChannelModel): Promise<void>;
  /** The connection is gone; channels opened on it are dead. */
  lost(error: Error | undefined): void;
  /** RabbitMQ raised a resource alarm on the connection (memory or disk): publishing is blocked. */
  blocked?(reason: string): void;
  /** The alarm is over: publishing may go on. */
  unblocked?(): void;
}

/** How one supervisor connects, beyond the shared options. */
export interface SupervisorSettings {
  /** `connection_name` shown in the management UI. Default: `options.connectionName`. */
  readonly connectionName?: string;
  /** Index into the URL list of the first node to try. Default: random. */
  readonly startAt?: number;
  /**
   * Report a `connection.blocked` as status `blocked` (and an error event), `connection.unblocked`
   * as `ready` again: the publishing connection does; the consuming one never publishes, so an
   * alarm does not stop it.
   */
  readonly reportBlocked?: boolean;
}

/** Owns the connection, its failover and reconnection loop. */
export class ConnectionSupervisor {
  readonly #nodes: readonly URL[];
  readonly #names: readonly string[];
  readonly #connectionName: string;
  readonly #reportBlocked: boolean;
  /** Index of the node tried next. */
  #next: number;
  #model: ChannelModel | undefined;
  /** Index of the node #model is connected to. */
  #node = -1;
  #blocked: string | undefined;
  #ready = false;
  #closed = false;
  #reconnecting = false;
  #waiters: Array<Deferred<ChannelModel>> = [];
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  /** Why the last attempt on each node failed, for the messages of an outage. */
  readonly #lastFailure = new Map<number, string>();
  readonly #participants: ConnectionParticipant[] = [];

  constructor(
    nodes: URL | readonly URL[],
    private readonly options: ResolvedOptions,
    private readonly hooks: TransportHooks,
    settings: SupervisorSettings = {},
  ) {
    this.#nodes = nodes instanceof URL ? [nodes] : nodes;
    if (this.#nodes.length === 0) throw new Error('ConnectionSupervisor needs at least one URL');
    this.#names = this.#nodes.map(nodeName);
    this.#connectionName = settings.connectionName ?? options.connectionName;
    this.#reportBlocked = settings.reportBlocked ?? false;
    const start = settings.startAt ?? Math.floor(Math.random() * this.#nodes.length);
    this.#next = ((start % this.#nodes.length) + this.#nodes.length) % this.#nodes.length;
  }

  /** True while connected and restored. */
  get ready(): boolean {
    return this.#ready;
  }

  /** True once {@link close} started. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The live connection, or undefined during an outage. */
  get model(): ChannelModel | undefined {
    return this.#ready ? this.#model : undefined;
  }

  /** The connection being used or restored right now (also while restoring), if any. */
  get current(): ChannelModel | undefined {
    return this.#model;
  }

  /** The node connected to (`amqp://host:port`, no credentials), undefined during an outage. */
  get node(): string | undefined {
    return this.#model ? this.#names[this.#node] : undefined;
  }

  /** Every node of the list, named without credentials. */
  get nodes(): readonly string[] {
    return this.#names;
  }

  /** The alarm RabbitMQ reported while it blocks publishing on this connection, else undefined. */
  get blocked(): string | undefined {
    return this.#blocked;
  }

  /** Add a participant; restored in the order added. */
  join(participant: ConnectionParticipant): void {
    this.#participants.push(participant);
  }

  /** Remove a participant (a closed consumer). */
  leave(participant: ConnectionParticipant): void {
    const i = this.#participants.indexOf(participant);
    if (i !== -1) this.#participants.splice(i, 1);
  }

  /**
   * Connect for the first time: each node once, in order from the start node, within
   * `connectTimeoutMs` (every attempt gets an equal share of the time left). Rejects with
   * `BK_UNAVAILABLE` naming every node tried and why it failed.
   */
  async start(): Promise<void> {
    this.hooks.status('connecting');
    const n = this.#nodes.length;
    const deadline = Date.now() + this.options.connectTimeoutMs;
    const errors: Error[] = [];
    let model: ChannelModel | undefined;
    let index = -1;
    for (let k = 0; k < n && model === undefined && !this.#closed; k++) {
      index = this.#take();
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#lastFailure.set(
          index,
          `not tried within connectTimeoutMs (${this.options.connectTimeoutMs} ms)`,
        );
        continue;
      }
      try {
        model = await this.#connectOnce(index, Math.max(1, Math.floor(left / (n - k))));
      } catch (error) {
        errors.push(toError(error));
      }
    }
    if (model === undefined) {
      this.#closed = true;
      const cause = errors.length === 1 ? errors[0] : new AggregateError(errors, 'every node failed');
      throw new BrokerUnavailableError(
        n === 1
          ? `cannot connect to RabbitMQ at ${this.#names[0]}: ${this.#lastFailure.get(0) ?? 'closed'}`
          : `cannot connect to any of the ${n} RabbitMQ nodes: ${this.#describeFailures()}`,
        { cause },
      );
    }
    this.#adopt(model, index);
    try {
      await this.#restore(model);
    } catch (error) {
      this.#closed = true;
      this.#model = undefined;
      await model.close().catch(() => {});
      throw error;
    }
    // Lost again while restoring: the reconnection loop already runs and reports `ready` itself.
    if (this.#model !== model) return;
    this.#ready = true;
    this.#reportUp();
  }

  /** Resolves with the live connection, waiting out an outage for at most `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<ChannelModel> {
    const model = this.model;
    if (model) return Promise.resolve(model);
    if (this.#closed) return Promise.reject(new BrokerUnavailableError('the connection is closed'));
    const waiter = deferred<ChannelModel>();
    this.#waiters.push(waiter);
    const timer = setTimeout(() => {
      const i = this.#waiters.indexOf(waiter);
      if (i !== -1) this.#waiters.splice(i, 1);
      waiter.reject(
        new BrokerUnavailableError(`RabbitMQ unreachable for ${timeoutMs} ms (${this.#describeOutage()})`),
      );
    }, timeoutMs);
    timer.unref();
    return waiter.promise.finally(() => clearTimeout(timer));
  }

  /**
   * Run `work` on a throwaway channel, closed afterwards. Declarations and inspections use one so
   * a channel error (404 on a passive declare, 406 on a conflicting declaration) never touches the
   * channels publishers and consumers use.
   */
  async withChannel<T>(timeoutMs: number, work: (channel: Channel) => Promise<T>): Promise<T> {
    const model = await this.whenReady(timeoutMs);
    const channel = await model.createChannel();
    // amqplib emits 'error' for a broker-closed channel; the rejection of `work` reports it.
    channel.on('error', () => {});
    try {
      return await work(channel);
    } finally {
      channel.close().catch(() => {});
    }
  }

  /** Stop reconnecting and close the connection. */
  async close(): Promise<void> {
    if (this.#closed && this.#model === undefined) return;
    this.#closed = true;
    this.#ready = false;
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer);
      this.#sleep.wake();
    }
    const failure = new BrokerUnavailableError('the connection was closed');
    for (const w of this.#waiters.splice(0)) w.reject(failure);
    const model = this.#model;
    this.#model = undefined;
    this.#blocked = undefined;
    if (model) await model.close().catch(() => {});
  }

  /** The index of the node to try now; the one after it is next. */
  #take(): number {
    const i = this.#next;
    this.#next = (i + 1) % this.#nodes.length;
    return i;
  }

  async #connectOnce(index: number, timeoutMs: number): Promise<ChannelModel> {
    const url = this.#nodes[index]!;
    const target = new URL(url.href);
    if (this.options.heartbeatSeconds !== undefined) {
      target.searchParams.set('heartbeat', String(this.options.heartbeatSeconds));
    }
    let model: ChannelModel;
    try {
      // noDelay: without it Nagle turns every synchronous round trip into ~44 ms (docs/architecture.md#broker-mappings).
      model = await amqp.connect(target.href, {
        noDelay: true,
        timeout: timeoutMs,
        clientProperties: { connection_name: this.#connectionName },
      });
    } catch (error) {
      this.#lastFailure.set(index, scrub(toError(error).message, url));
      throw error;
    }
    this.#lastFailure.delete(index);
    batchSocketWrites(model);
    model.on('error', () => {
      // Always followed by 'close', which carries the same error.
    });
    model.on('close', (error?: Error) => this.#lost(model, error));
    model.on('blocked', (reason: string) => this.#onBlocked(model, reason));
    model.on('unblocked', () => this.#onUnblocked(model));
    return model;
  }

  /** Make `model` (on node `index`) the connection; the node after it is the next to fail over to. */
  #adopt(model: ChannelModel, index: number): void {
    this.#model = model;
    this.#node = index;
    this.#next = (index + 1) % this.#nodes.length;
    this.#blocked = undefined;
    // A connection.blocked that came in the same read as open-ok was emitted before our listener.
    const connection = (model as unknown as { connection?: { blocked?: boolean } }).connection;
    if (connection?.blocked === true) this.#onBlocked(model, 'alarm in effect when connecting');
  }

  async #restore(model: ChannelModel): Promise<void> {
    for (const participant of [...this.#participants]) {
      if (this.#model !== model) return;
      await participant.connected(model);
    }
  }

  /** Connected and restored: `ready`, or `blocked` when an alarm came in meanwhile. */
  #reportUp(): void {
    if (this.#reportBlocked && this.#blocked !== undefined)
      this.hooks.status('blocked', this.#blockedError());
    else this.hooks.status('ready');
  }

  #blockedError(): BrokerUnavailableError {
    return new BrokerUnavailableError(
      `RabbitMQ node ${this.#names[this.#node]} blocked publishing: ${this.#blocked ?? 'resource alarm'}`,
    );
  }

  #onBlocked(model: ChannelModel, reason: string): void {
    if (this.#model !== model || this.#closed) return;
    const why = reason || 'resource alarm';
    this.#blocked = why;
    if (this.#reportBlocked) {
      const error = this.#blockedError();
      this.hooks.error(error);
      // While restoring, the status waits for the end of the restore (#reportUp).
      if (this.#ready) this.hooks.status('blocked', error);
    }
    for (const participant of [...this.#participants]) participant.blocked?.(why);
  }

  #onUnblocked(model: ChannelModel): void {
    if (this.#model !== model || this.#blocked === undefined) return;
    this.#blocked = undefined;
    if (this.#reportBlocked && this.#ready && !this.#closed) this.hooks.status('ready');
    for (const participant of [...this.#participants]) participant.unblocked?.();
  }

  #lost(model: ChannelModel, error: Error | undefined): void {
    if (this.#model !== model) return;
    const node = this.#names[this.#node]!;
    this.#model = undefined;
    this.#ready = false;
    this.#blocked = undefined;
    if (this.#closed) return;
    const reason = error ? scrub(error.message, this.#nodes[this.#node]!) : 'closed';
    this.#lastFailure.set(this.#node, `connection lost: ${reason}`);
    const cause = new BrokerUnavailableError(`lost the connection to RabbitMQ node ${node}: ${reason}`, {
      cause: error,
    });
    for (const participant of this.#participants) participant.lost(cause);
    this.hooks.status('reconnecting', cause);
    if (!this.#reconnecting) void this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    this.#reconnecting = true;
    let failures = 0;
    try {
      while (!this.#closed) {
        failures++;
        await this.#pause(reconnectDelay(failures, this.options.reconnect));
        if (this.#closed) return;
        const index = this.#take();
        let model: ChannelModel;
        try {
          model = await this.#connectOnce(index, this.options.connectTimeoutMs);
        } catch {
          continue;
        }
        if (this.#closed) {
          await model.close().catch(() => {});
          return;
        }
        this.#adopt(model, index);
        try {
          await this.#restore(model);
        } catch (error) {
          this.hooks.error(toError(error));
        }
        if (this.#model !== model) continue; // lost again while restoring
        this.#ready = true;
        this.#reportUp();
        for (const w of this.#waiters.splice(0)) w.resolve(model);
        return;
      }
    } finally {
      this.#reconnecting = false;
    }
  }

  #describeFailures(): string {
    return this.#names.map((name, i) => `${name} (${this.#lastFailure.get(i) ?? 'not tried'})`).join(', ');
  }

  #describeOutage(): string {
    if (this.#nodes.length === 1) {
      const why = this.#lastFailure.get(0);
      return `${this.#names[0]}${why ? `: ${why}` : ''}`;
    }
    return `nodes ${this.#describeFailures()}`;
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#sleep = undefined;
        resolve();
      }, ms);
      this.#sleep = { timer, wake: resolve };
    });
  }
}

/** A client error's text without the URL's password or user name, should it ever quote them. */
function scrub(text: string, url: URL): string {
  let out = text;
  for (const secret of [url.password, url.username]) {
    if (secret.length >= 3) out = out.split(secret).join('***');
    const decoded = safeDecode(secret);
    if (decoded.length >= 3 && decoded !== secret) out = out.split(decoded).join('***');
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The parts of amqplib's connection {@link batchSocketWrites} uses (not in its public types). */
interface MuxedConnection {
  readonly stream?: { cork?(): void; uncork?(): void };
  readonly muxer?: { _readIncoming?: () => void };
}

/**
 * Write each flush of amqplib's frame mux to the socket in one `writev` instead of one `write`
 * per frame. amqplib queues every publish, ack and method frame per channel and copies them to the
 * socket in a `setImmediate` round (its `Mux`), one `socket.write` each: on an idle socket every
 * one of those is a syscall (and, on loopback, a wake-up of the broker), which profiles of a
 * publish → consume run showed as the largest cost of the process (~20 µs a message, the
 * acks' frames included). Corking the socket for the duration of the round turns them into one
 * `writev` per round; frame order, the mux's fairness and its back-pressure (`write` returning
 * false past the socket's high-water mark, then `drain`) are unchanged, and nothing waits longer:
 * the uncork is at the end of the same synchronous round. An amqplib without these internals is
 * left as it is (one write per frame, as before).
 */
export function batchSocketWrites(model: ChannelModel): boolean {
  const connection = (model as unknown as { connection?: MuxedConnection }).connection;
  const stream = connection?.stream;
  const muxer = connection?.muxer;
  const flush = muxer?._readIncoming;
  if (
    stream === undefined ||
    muxer === undefined ||
    typeof flush !== 'function' ||
    typeof stream.cork !== 'function' ||
    typeof stream.uncork !== 'function'
  )
    return false;
  const cork = stream.cork.bind(stream);
  const uncork = stream.uncork.bind(stream);
  muxer._readIncoming = function readIncomingCorked(this: unknown): void {
    cork();
    try {
      flush.call(this);
    } finally {
      uncork();
    }
  };
  return true;
}
