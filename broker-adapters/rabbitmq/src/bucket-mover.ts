/**
 * Moves due messages out of quorum retry buckets back to their queue, so retries do not depend
 * on RabbitMQ's dead-letter worker across a node failure.
 *
 * Why: on RabbitMQ 3.10, a quorum bucket dead-letters expired messages through a worker process
 * on the bucket's leader node. With `at-least-once` (the strategy that does not drop them), a
 * `kill -9` of that node can leave the messages it had taken held in the bucket (`messages_dlx`)
 * for minutes, also after the node is back; with the default `at-most-once` some are lost. A
 * consumer's unacknowledged messages, by contrast, go back to the queue at once when its node
 * disconnects.
 *
 * How: every process consumes the quorum buckets it declared (one channel on the consuming
 * connection, prefetch {@link PREFETCH} per bucket). A delivered message is held, unacknowledged,
 * until it is due (`x-brokerkit-due`, stamped by the publisher; else arrival + `expiration`), then
 * published to its origin queue with a confirm and only then acknowledged: a crash in between
 * duplicates, never loses. Unacknowledged messages never expire, so the broker's TTL +
 * dead-lettering only moves what no mover holds (no process running, more than the prefetch
 * waiting): it stays as the fallback.
 *
 * Consuming a bucket is kept up while the connection is: a consumer the broker cancels (a quorum
 * leader change) or a consume that fails (the bucket's leader not elected yet) is tried again
 * with backoff (100 ms → 5 s). Only a bucket that is really gone (404) is forgotten, here and by
 * the declaration cache ({@link BucketMover.onGone}), so the next retry declares it again.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { reconnectDelay } from '@brokerkit/core/adapter';
import type { TransportHooks } from '@brokerkit/core';
import type { ConnectionParticipant, ConnectionSupervisor } from './connection.js';
import { isNotFound, mapAmqpError } from './errors.js';
import { copyProperties, stringHeaders } from './message.js';
import type { Publisher } from './publisher.js';

/** Header with the epoch millisecond at which a message in a retry bucket is due. */
export const DUE_HEADER = 'x-brokerkit-due';
/**
 * Added to the TTL of quorum buckets and to the expiration of what is published to them. The mover
 * times moves by {@link DUE_HEADER}; the broker's TTL is only the fallback when no mover runs. Why
 * the grace: a held message goes back to its bucket when the mover's channel dies (kill -9 of its
 * node); already past a TTL of exactly its delay, RabbitMQ 3.10 would dead-letter it at once through
 * its at-least-once worker, which after such a kill can hold messages (`messages_dlx`) for minutes.
 * With the grace it is still alive, and the mover on the next connection moves it.
 */
export const MOVER_GRACE_MS = 30_000;
/** Messages held per bucket at most (the rest waits in the bucket, where its TTL applies). */
const PREFETCH = 1_000;
/** Pause before trying a move again after its publish failed. */
const RETRY_MS = 1_000;
/** Backoff of consuming a bucket again after a cancel or a failed consume. */
const RECONSUME = { initialMs: 100, maxMs: 5_000 };

interface Bucket {
  readonly origin: string;
  readonly ttlMs: number;
  consumerTag?: string;
  /** The consume under way, if any: no second one meanwhile. */
  starting?: object;
  /** Failed consumes (and broker cancels) in a row: the backoff step. */
  failures: number;
  /** Set when the broker cancelled the consumer: check that the bucket exists before consuming. */
  check?: boolean;
  timer?: NodeJS.Timeout;
}

/** Consumes quorum retry buckets and moves due messages to their origin. */
export class BucketMover implements ConnectionParticipant {
  readonly #buckets = new Map<string, Bucket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #moving = new Set<Promise<void>>();
  #channel: Channel | undefined;
  #opening: Promise<Channel | undefined> | undefined;
  #closed = false;
  /** Closes of the mover's channel while the connection lived, in a row: its reopen backoff. */
  #channelFailures = 0;
  /** Told about a bucket found deleted (404), so its declaration is forgotten too (Topology.forget). */
  onGone: ((bucket: string) => void) | undefined;

  constructor(
    private readonly supervisor: ConnectionSupervisor,
    private readonly publisher: Publisher,
    private readonly publishTimeoutMs: number,
    private readonly hooks: TransportHooks,
  ) {}

  /** Start moving `bucket` (TTL `ttlMs`) back to `origin`; idempotent. */
  add(bucket: string, origin: string, ttlMs: number): void {
    if (this.#closed || this.#buckets.has(bucket)) return;
    const entry: Bucket = { origin, ttlMs, failures: 0 };
    this.#buckets.set(bucket, entry);
    // `current`, not `model`: a bucket declared while the connection is being restored counts too.
    const model = this.supervisor.current;
    if (model) void this.#consume(model, bucket, entry);
  }

  /** Stop moving `bucket` (deleted). */
  remove(bucket: string): void {
    const entry = this.#buckets.get(bucket);
    if (!entry) return;
    this.#buckets.delete(bucket);
    if (entry.timer) clearTimeout(entry.timer);
    const channel = this.#channel;
    if (channel && entry.consumerTag) channel.cancel(entry.consumerTag).catch(() => {});
  }

  async connected(model: ChannelModel): Promise<void> {
    if (this.#closed) return;
    // Not awaited one by one: a bucket whose leader is not elected yet must not hold up the
    // others, nor the consumers restored after the mover.
    const consuming: Array<Promise<void>> = [];
    for (const [name, entry] of this.#buckets) {
      // A bucket that failed just before waits out its backoff (no hot loop through channel errors).
      if (entry.failures > 0) this.#later(model, name, entry);
      else consuming.push(this.#consume(model, name, entry));
    }
    await Promise.all(consuming);
  }

  lost(): void {
    // Held messages go back to their buckets with the channel; the next connection takes them again.
    this.#channel = undefined;
    this.#opening = undefined;
    for (const entry of this.#buckets.values()) {
      entry.consumerTag = undefined;
      entry.starting = undefined;
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  /**
   * Stop: moves under way finish (confirmed, acked), held messages go back to their buckets (the
   * next process, or their TTL, moves them).
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#moving]);
    const channel = this.#channel;
    this.lost();
    this.#buckets.clear();
    if (channel) await channel.close().catch(() => {});
  }

  async #channelOn(model: ChannelModel): Promise<Channel | undefined> {
    if (this.#channel) return this.#channel;
    this.#opening ??= (async () => {
      const channel = await model.createChannel();
      channel.on('error', () => {});
      await channel.prefetch(PREFETCH);
      if (this.supervisor.current !== model || this.#closed) {
        channel.close().catch(() => {});
        return undefined;
      }
      channel.on('close', () => {
        if (this.#channel !== channel) return;
        this.lost();
        // A channel error with the connection alive (a failed consume): start again, with backoff.
        if (this.supervisor.current !== model || this.#closed) return;
        const timer = setTimeout(
          () => {
            this.#timers.delete(timer);
            if (this.supervisor.current === model && !this.#closed) void this.connected(model);
          },
          reconnectDelay(++this.#channelFailures, RECONSUME),
        );
        this.#timers.add(timer);
      });
      this.#channel = channel;
      return channel;
    })().finally(() => (this.#opening = undefined));
    return this.#opening;
  }

  async #consume(model: ChannelModel, name: string, entry: Bucket): Promise<void> {
    if (entry.starting || entry.consumerTag) return;
    const attempt = {};
    entry.starting = attempt;
    let channel: Channel | undefined;
    try {
      if (entry.check) {
        // After a broker cancel: a consume of a deleted queue would close the channel every bucket
        // shares, so look first, on a throwaway channel (a 404 closes only that one).
        await this.supervisor.withChannel(this.publishTimeoutMs, (c) => c.checkQueue(name));
        entry.check = false;
      }
      channel = await this.#channelOn(model);
      if (!channel || this.#buckets.get(name) !== entry) return;
      const ok = await channel.consume(name, (m) => this.#onMessage(channel!, model, name, entry, m), {
        noAck: false,
      });
      if (channel !== this.#channel || this.#buckets.get(name) !== entry) return;
      entry.consumerTag = ok.consumerTag;
      entry.failures = 0;
      this.#channelFailures = 0;
    } catch (error) {
      if (this.supervisor.current !== model || this.#closed || this.#buckets.get(name) !== entry) return;
      if (isNotFound(error)) {
        // Really gone (deleted): forget it everywhere; the next retry to it declares and adds it again.
        this.#forget(name, entry);
        return;
      }
      entry.failures++;
      // The broker's TTL still moves the bucket's messages meanwhile; report each failure once.
      this.hooks.error(
        mapAmqpError(error, `consuming retry queue "${name}" (attempt ${entry.failures}, trying again)`),
      );
      // A failed consume usually closed the mover's channel, whose close handler restarts every
      // bucket; this one then waits for its own timer.
      if (channel === undefined || channel === this.#channel) this.#later(model, name, entry);
    } finally {
      if (entry.starting === attempt) entry.starting = undefined;
    }
  }

  /** Consume `name` again after its backoff, if the connection is still `model`. */
  #later(model: ChannelModel, name: string, entry: Bucket): void {
    if (entry.timer) return;
    entry.timer = setTimeout(
      () => {
        entry.timer = undefined;
        if (this.supervisor.current === model && !this.#closed && this.#buckets.get(name) === entry)
          void this.#consume(model, name, entry);
      },
      reconnectDelay(Math.max(1, entry.failures), RECONSUME),
    );
  }

  #forget(name: string, entry: Bucket): void {
    if (this.#buckets.get(name) !== entry) return;
    this.#buckets.delete(name);
    if (entry.timer) clearTimeout(entry.timer);
    this.onGone?.(name);
  }

  #onMessage(
    channel: Channel,
    model: ChannelModel,
    name: string,
    entry: Bucket,
    message: ConsumeMessage | null,
  ): void {
    if (message === null) {
      // Cancelled by the broker: the bucket was deleted, or (quorum) its leader changed. Consume it
      // again after a pause; the existence check tells the two apart. Held messages stay held:
      // their channel lives, so their acks still count.
      if (channel !== this.#channel || this.#buckets.get(name) !== entry || this.#closed) return;
      entry.consumerTag = undefined;
      entry.failures++;
      entry.check = true;
      this.#later(model, name, entry);
      return;
    }
    const raw = message.properties.headers as Record<string, unknown> | undefined;
    const stamped = Number(raw?.[DUE_HEADER]);
    const expiration = Number(message.properties.expiration);
    const due = Number.isFinite(stamped)
      ? stamped
      : Date.now() + (Number.isFinite(expiration) ? expiration : entry.ttlMs);
    this.#schedule(channel, entry, message, due - Date.now());
  }

  #schedule(channel: Channel, entry: Bucket, message: ConsumeMessage, delayMs: number): void {
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        const moving = this.#move(channel, entry, message).finally(() => this.#moving.delete(moving));
        this.#moving.add(moving);
      },
      Math.max(0, delayMs),
    );
    this.#timers.add(timer);
  }

  async #move(channel: Channel, entry: Bucket, message: ConsumeMessage): Promise<void> {
    if (channel !== this.#channel) return; // gone back to the bucket with its channel
    const headers = { ...stringHeaders(message.properties.headers as Record<string, unknown> | undefined) };
    delete headers[DUE_HEADER];
    const properties = copyProperties(message, headers);
    // Like RabbitMQ's own dead-lettering: a queue that no longer exists drops the message.
    properties.mandatory = false;
    try {
      await this.publisher.publish(
        { exchange: '', routingKey: entry.origin, content: message.content, properties },
        true,
        this.publishTimeoutMs,
      );
    } catch {
      // Not confirmed (outage, alarm): keep holding it and try again.
      if (channel === this.#channel && !this.#closed) this.#schedule(channel, entry, message, RETRY_MS);
      return;
    }
    if (channel !== this.#channel) return; // back in the bucket: it moves again (at-least-once)
    try {
      channel.ack(message);
    } catch {
      // Closed meanwhile: same as above.
    }
  }
}
