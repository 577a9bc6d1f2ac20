/**
 * Ephemeral subscriptions (no group): `XREAD` on the event stream of the pattern's first token,
 * from where it stood when the subscription started, on a connection of their own; events whose
 * topic does not match the pattern are skipped. While one is live it keeps the token's listen key
 * (`bk:listen:<token>`) alive, and only then do publishes write that stream. Nothing is kept on the server for them: retries
 * are local timers, and a subscriber that falls further behind than the stream is long
 * (`eventStreamMaxLen`) loses the oldest events — counted and reported, never silent.
 */
import type { Redis } from 'ioredis';
import { BrokerError, DeliveryLoop, compilePattern, firstToken } from '@brokerkit/core/adapter';
import type { TopicMatcher } from '@brokerkit/core/adapter';
import type {
  DeliverFn,
  RawDelivery,
  SubscriptionSpec,
  TransportHooks,
  TransportSubscription,
} from '@brokerkit/core';
import type { Connection } from './connection.js';
import { isConnectionError, mapRedisError } from './errors.js';
import { eventStreamKey, listenKey } from './names.js';
import { STREAM_POSITION } from './scripts.js';
import { parseEntry, toRawDelivery } from './wire.js';

const READ_BLOCK_MS = 5_000;
/** Entries read at least per call: most may be other topics of the same first token. */
const MIN_READ = 128;
/**
 * How long the listen key lasts, and how often each subscriber refreshes it. A subscriber that
 * could not refresh it for longer than it lasts (its process stalled) may have missed events.
 */
const LISTEN_TTL_MS = 60_000;
const LISTEN_EVERY_MS = 10_000;
/** A settle that failed (an outcome that could not be read) is handed out again after this. */
const RELEASE_DELAY_MS = 100;

type Reply = [Buffer, [Buffer, Buffer[]][]][] | null;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Subscribe; resolves once the subscription's starting point in the stream is fixed. */
export async function startEphemeral(
  conn: Connection,
  spec: SubscriptionSpec,
  deliver: DeliverFn,
  hooks: TransportHooks,
): Promise<TransportSubscription> {
  const token = firstToken(spec.pattern);
  const key = eventStreamKey(token);
  // Listening first: every event published after the position below is written to the stream.
  await conn.cmd.set(listenKey(token), '1', 'PX', LISTEN_TTL_MS);
  const [last, added] = (await STREAM_POSITION.run(conn.cmd, [key], [])) as [string, number, number];
  const sub = new EphemeralSubscription(conn, spec, deliver, hooks, key, last, added);
  sub.start();
  return sub;
}

class EphemeralSubscription implements TransportSubscription {
  readonly #reader: Redis;
  #readerId: number | undefined;
  readonly #matcher: TopicMatcher;
  readonly #token: string;
  readonly #loop: DeliveryLoop<RawDelivery, undefined>;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** The last entry read, and its position in the stream's history (entries ever added). */
  #cursor: string;
  #position: number;
  /** The last read came back full, or the reader waited for the handler: events may have been trimmed. */
  #behind = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  #reading: Promise<void> | undefined;
  #wakeReader: (() => void) | undefined;
  readonly #listening: NodeJS.Timeout;
  #listenedAt = Date.now();

  constructor(
    private readonly conn: Connection,
    private readonly spec: SubscriptionSpec,
    deliver: DeliverFn,
    private readonly hooks: TransportHooks,
    private readonly key: string,
    cursor: string,
    position: number,
  ) {
    this.#cursor = cursor;
    this.#position = position;
    this.#matcher = compilePattern(spec.pattern);
    this.#token = firstToken(spec.pattern);
    this.#loop = new DeliveryLoop<RawDelivery, undefined>({
      concurrency: spec.concurrency,
      deliver,
      toDelivery: (delivery) => delivery,
      settle: (delivery, _none, outcome) => {
        if (outcome.kind === 'retry') {
          if (!this.#closing) this.#later(delivery, outcome.nextAttempt, outcome.delayMs);
        } else if (outcome.kind !== 'ack' && outcome.kind !== 'discarded') {
          throw new Error(`unknown delivery outcome ${String((outcome as { kind: unknown }).kind)}`);
        }
      },
      // Nothing on the server keeps an ephemeral delivery: the subscription hands it out again.
      release: (delivery) => {
        if (!this.#closing) this.#later(delivery, delivery.attempt + 1, RELEASE_DELAY_MS);
      },
      report: (error) => hooks.error(error),
      onFree: () => {
        if (this.#loop.size < this.spec.prefetch) this.#wakeReader?.();
      },
    });
    this.#reader = conn.openReader();
    this.#reader.on('ready', () => (this.#readerId = undefined));
    this.#listening = setInterval(() => void this.#listen(), LISTEN_EVERY_MS);
    this.#listening.unref();
  }

  /** Keep the token's listen key alive; a gap longer than its TTL may have dropped events. */
  async #listen(): Promise<void> {
    if (this.#closing || !this.conn.ready) return;
    try {
      await this.conn.cmd.set(listenKey(this.#token), '1', 'PX', LISTEN_TTL_MS);
    } catch {
      return; // the connection is down: the status events say so, and the next refresh retries
    }
    const gap = Date.now() - this.#listenedAt;
    this.#listenedAt = Date.now();
    if (gap > LISTEN_TTL_MS) {
      this.hooks.error(
        new BrokerError(
          `ephemeral subscription ${this.spec.pattern} could not announce itself for ${gap} ms: ` +
            `events of ${this.#token} published meanwhile may not have been kept for it`,
        ),
      );
    }
  }

  start(): void {
    this.#reading = this.#read();
  }

  async #read(): Promise<void> {
    while (!this.#closing) {
      const free = this.spec.prefetch - this.#loop.size;
      if (free <= 0) {
        this.#behind = true;
        await new Promise<void>((resolve) => (this.#wakeReader = resolve));
        this.#wakeReader = undefined;
        continue;
      }
      try {
        this.#readerId ??= Number(await this.#reader.client('ID'));
        if (this.#behind) await this.#checkTrimmed();
        if (this.#closing) break;
        const count = Math.max(free, MIN_READ);
        const reply = (await this.#reader.callBuffer(
          'XREAD',
          'COUNT',
          count,
          'BLOCK',
          READ_BLOCK_MS,
          'STREAMS',
          this.key,
          this.#cursor,
        )) as Reply;
        let read = 0;
        if (reply) {
          for (const [, entries] of reply) {
            for (const [id, fields] of entries) {
              read++;
              this.#receive(id.toString(), fields);
            }
          }
        }
        this.#behind = read >= count;
      } catch (error) {
        if (this.#closing) break;
        if (!isConnectionError(error) && this.conn.ready)
          this.hooks.error(mapRedisError(error, `read ${this.key} for ${this.spec.pattern}`));
        await pause(1_000);
      }
    }
  }

  #receive(entryId: string, fields: Buffer[]): void {
    this.#cursor = entryId;
    this.#position++;
    if (this.#closing) return;
    const entry = parseEntry(entryId, fields);
    if (!this.#matcher(entry.topic ?? this.#token)) return;
    this.#loop.push(toRawDelivery(entry, this.#token, 1), undefined);
  }

  /**
   * Events trimmed before this subscriber read them: the stream keeps only its last `length`
   * entries, so the first one left is number `added - length + 1` of its history.
   */
  async #checkTrimmed(): Promise<void> {
    const [, added, length] = (await STREAM_POSITION.run(this.conn.cmd, [this.key], [])) as [
      string,
      number,
      number,
    ];
    const first = added - length + 1;
    if (length > 0 && first > this.#position + 1) {
      const lost = first - this.#position - 1;
      this.#position = first - 1;
      this.hooks.error(
        new BrokerError(
          `ephemeral subscription ${this.spec.pattern} fell behind ${this.key}: ${lost} event(s) were trimmed ` +
            `before it read them (raise redis.eventStreamMaxLen, or use a group to keep every message)`,
        ),
      );
    }
  }

  #later(delivery: RawDelivery, attempt: number, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closing) return;
      this.#loop.push({ ...delivery, attempt, redelivered: true }, undefined);
    }, delayMs);
    timer.unref();
    this.#timers.add(timer);
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#listening);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#wakeReader?.();
    const reading = this.#reading;
    if (reading !== undefined) {
      // Nothing is lost by ending the read abruptly here: the events stay in the stream.
      if (this.#readerId !== undefined && this.conn.ready && this.#reader.status === 'ready') {
        await this.conn.cmd.client('UNBLOCK', this.#readerId).catch(() => 0);
        await Promise.race([reading, pause(200)]);
      }
      this.#reader.disconnect();
      await reading;
    }
    // Events received while subscribed are still handled (at-least-once while subscribed).
    while (this.#loop.size > 0) await this.#loop.idle();
  }
}
