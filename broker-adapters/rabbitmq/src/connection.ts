/**
 * One AMQP connection, kept alive: connect with `noDelay`, detect loss, reconnect with backoff
 * and jitter, and let the parts of the transport (publisher, consumers) restore themselves in
 * order before the status goes back to `ready`.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { BrokerUnavailableError, deferred, reconnectDelay, redactUrl, toError } from '@brokerkit/core';
import type { Deferred, TransportHooks } from '@brokerkit/core';
import type { ResolvedOptions } from './options.js';

/** A part of the transport that lives on the connection. */
export interface ConnectionParticipant {
  /** A connection is (again) up: re-declare and restore. Errors are reported, not fatal. */
  connected(model: ChannelModel): Promise<void>;
  /** The connection is gone; channels opened on it are dead. */
  lost(error: Error | undefined): void;
}

/** Owns the connection and its reconnection loop. */
export class ConnectionSupervisor {
  #model: ChannelModel | undefined;
  #ready = false;
  #closed = false;
  #reconnecting = false;
  #waiters: Array<Deferred<ChannelModel>> = [];
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  readonly #participants: ConnectionParticipant[] = [];

  constructor(
    private readonly url: URL,
    private readonly options: ResolvedOptions,
    private readonly hooks: TransportHooks,
  ) {}

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

  /** Add a participant; restored in the order added. */
  join(participant: ConnectionParticipant): void {
    this.#participants.push(participant);
  }

  /** Remove a participant (a closed consumer). */
  leave(participant: ConnectionParticipant): void {
    const i = this.#participants.indexOf(participant);
    if (i !== -1) this.#participants.splice(i, 1);
  }

  /** Connect for the first time; rejects with `BK_UNAVAILABLE`. */
  async start(): Promise<void> {
    this.hooks.status('connecting');
    let model: ChannelModel;
    try {
      model = await this.#connectOnce();
    } catch (cause) {
      throw new BrokerUnavailableError(`cannot connect to ${redactUrl(this.url)}`, { cause });
    }
    this.#model = model;
    try {
      await this.#restore(model);
    } catch (error) {
      this.#closed = true;
      this.#model = undefined;
      await model.close().catch(() => {});
      throw error;
    }
    this.#ready = true;
    this.hooks.status('ready');
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
        new BrokerUnavailableError(`RabbitMQ at ${redactUrl(this.url)} unreachable for ${timeoutMs} ms`),
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
    if (this.#closed) return;
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
    if (model) await model.close().catch(() => {});
  }

  async #connectOnce(): Promise<ChannelModel> {
    const target = new URL(this.url.href);
    if (this.options.heartbeatSeconds !== undefined) {
      target.searchParams.set('heartbeat', String(this.options.heartbeatSeconds));
    }
    // noDelay: without it Nagle turns every synchronous round trip into ~44 ms (SPEC §3).
    const model = await amqp.connect(target.href, {
      noDelay: true,
      timeout: this.options.connectTimeoutMs,
      clientProperties: { connection_name: this.options.connectionName },
    });
    model.on('error', () => {
      // Always followed by 'close', which carries the same error.
    });
    model.on('close', (error?: Error) => this.#lost(model, error));
    return model;
  }

  async #restore(model: ChannelModel): Promise<void> {
    for (const participant of [...this.#participants]) {
      if (this.#model !== model) return;
      await participant.connected(model);
    }
  }

  #lost(model: ChannelModel, error: Error | undefined): void {
    if (this.#model !== model) return;
    this.#model = undefined;
    this.#ready = false;
    if (this.#closed) return;
    const cause = error ?? new Error('connection closed');
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
        let model: ChannelModel;
        try {
          model = await this.#connectOnce();
        } catch {
          continue;
        }
        if (this.#closed) {
          await model.close().catch(() => {});
          return;
        }
        this.#model = model;
        try {
          await this.#restore(model);
        } catch (error) {
          this.hooks.error(toError(error));
        }
        if (this.#model !== model) continue; // lost again while restoring
        this.#ready = true;
        this.hooks.status('ready');
        for (const w of this.#waiters.splice(0)) w.resolve(model);
        return;
      }
    } finally {
      this.#reconnecting = false;
    }
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
