/**
 * A member of a work queue or a group: `XREADGROUP` on the origin's stream (on a connection of
 * its own) for as many entries as it has free prefetch slots, core's `DeliveryLoop` running up to
 * `concurrency` handlers, and each outcome carried out on the server:
 *
 * | outcome            | on the server                                                            |
 * | ------------------ | ------------------------------------------------------------------------ |
 * | ack                | `XACK` (batched per tick)                                                |
 * | retry, with delay  | script: parked in `bk:park:<o>` with its due time in `bk:due:<o>`, acked |
 * | retry, no delay    | script: a copy as the next attempt at the end of the stream, acked       |
 * | dead letter        | script: stored in `bk:q:<o>.dlq`, acked                                  |
 * | settle failed      | script: a copy as the next attempt at the end of the stream, acked       |
 *
 * Alongside, on one timer: parked entries that are due move back, the entries it holds are kept
 * from being claimed (`XCLAIM … JUSTID` resets their idle time), its presence is refreshed, what
 * dead members left pending is claimed after the visibility timeout (`XAUTOCLAIM`), and what every
 * group acknowledged is trimmed.
 */
import type { Redis } from 'ioredis';
import { DeliveryLoop, firstToken } from '@brokerkit/core/adapter';
import type { DeliverFn, DeliveryOutcome, TransportHooks, TransportSubscription } from '@brokerkit/core';
import type { Connection } from './connection.js';
import { corkForTick } from './cork.js';
import { PackedCommand } from './packed.js';
import { isConnectionError, isNoGroup, mapRedisError } from './errors.js';
import { consumerName, dueKey, membersKey, parkKey, streamKey, type Role } from './names.js';
import type { ResolvedRedisOptions } from './options.js';
import { CLAIM, DEAD_LETTER, LEAVE, MOVE_DUE, PARK, PRESENCE, RECOVER, REQUEUE, TRIM } from './scripts.js';
import type { Topology } from './topology.js';
import { copyFields, parseEntry, toRawDelivery, type StreamEntry } from './wire.js';

/** Longest one blocking read waits before it is issued again. */
const READ_BLOCK_MS = 5_000;
/** How often a member refreshes its presence, and how long a presence lasts without. */
const PRESENCE_EVERY_MS = 5_000;
const PRESENCE_TTL_MS = 15_000;
/** Parked entries moved back per script call. */
const MOVE_LIMIT = 1_000;
/** Trims of acknowledged entries, at most this often. */
const TRIM_EVERY_MS = 1_000;

/** What one member needs. */
export interface DurableSpec {
  /** The queue or group. */
  readonly origin: string;
  readonly role: Role;
  readonly concurrency: number;
  readonly prefetch: number;
}

/** What the members of one transport share. */
export interface DurableContext {
  readonly conn: Connection;
  readonly topology: Topology;
  readonly options: ResolvedRedisOptions;
  readonly hooks: TransportHooks;
  /**
   * Longest a closing member waits for its settle commands (the broker's `publishTimeoutMs`): during
   * an outage they cannot be answered, and what they would have settled stays pending on the server
   * for another member to claim.
   */
  readonly closeTimeoutMs: number;
}

/** An entry this member received, with how often Redis has handed it out. */
interface Held {
  readonly entry: StreamEntry;
  readonly deliveryCount: number;
}

type Reply = [Buffer, [Buffer, Buffer[]][]][] | null;
type Claimed = [Buffer, Buffer[], number][];

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Start a member; resolves once its presence is registered (its reads start right after). */
export async function startDurable(
  ctx: DurableContext,
  spec: DurableSpec,
  deliver: DeliverFn,
): Promise<DurableMember> {
  const member = new DurableMember(ctx, spec, deliver);
  await member.start();
  return member;
}

/** See the module comment. */
export class DurableMember implements TransportSubscription {
  readonly #stream: string;
  readonly #dlq: string;
  readonly #due: string;
  readonly #park: string;
  readonly #members: string;
  /** The consumer group: named after the queue or group. */
  readonly #group: string;
  readonly #consumer = consumerName();
  /** Work queues report the queue as the topic; a group entry carries its topic. */
  readonly #topic: string;
  readonly #cmd: Redis;
  readonly #reader: Redis;
  #readerId: number | undefined;
  #readerWasReady = false;
  /** Set after the reader reconnected: take back what the server says this member holds. */
  #recover = false;
  readonly #loop: DeliveryLoop<Held, undefined>;
  /** Entries received and not yet settled on the server (running, waiting, or their ack on its way). */
  readonly #held = new Map<string, Held>();
  /** Settle commands on their way (and hand-backs): `close()` waits for them. */
  readonly #settling = new Set<Promise<void>>();
  #acks: string[] = [];
  #ackScheduled = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  #reading: Promise<void> | undefined;
  #wakeReader: (() => void) | undefined;
  /** Free slots worth a read while deliveries are still waiting: half the prefetch window. */
  readonly #batch: number;
  readonly #tick: NodeJS.Timeout;
  #maintaining = false;
  #dueTimer: NodeJS.Timeout | undefined;
  #dueAt = Number.POSITIVE_INFINITY;
  #claimCursor = '0-0';
  #lastClaim = 0;
  #lastKeepAlive = 0;
  #lastPresence = 0;
  #lastTrim = 0;
  #acked = false;

  constructor(
    private readonly ctx: DurableContext,
    private readonly spec: DurableSpec,
    deliver: DeliverFn,
  ) {
    const origin = spec.origin;
    this.#stream = streamKey(origin);
    this.#dlq = streamKey(`${origin}.dlq`);
    this.#due = dueKey(origin);
    this.#park = parkKey(origin);
    this.#members = membersKey(origin);
    this.#group = origin;
    this.#topic = spec.role.kind === 'group' ? firstToken(spec.role.pattern) : origin;
    this.#cmd = ctx.conn.cmd;
    this.#batch = Math.max(1, Math.ceil(spec.prefetch / 2));
    this.#loop = new DeliveryLoop<Held, undefined>({
      concurrency: spec.concurrency,
      deliver,
      toDelivery: (h) => toRawDelivery(h.entry, this.#topic, h.deliveryCount),
      settle: (h, _none, outcome) => this.#settle(h, outcome),
      release: (h) => this.#release(h),
      report: (error) => ctx.hooks.error(error),
      onFree: () => this.#freed(),
    });
    this.#reader = ctx.conn.openReader();
    this.#reader.on('ready', () => {
      this.#readerId = undefined;
      if (this.#readerWasReady) this.#recover = true;
      this.#readerWasReady = true;
    });
    const tickMs = Math.max(50, Math.min(1_000, Math.floor(ctx.options.visibilityTimeoutMs / 3)));
    this.#tick = setInterval(() => void this.#maintain(), tickMs);
    this.#tick.unref();
  }

  /** Register the member's presence and start reading. */
  async start(): Promise<void> {
    await PRESENCE.run(this.#cmd, [this.#members], [this.#consumer, PRESENCE_TTL_MS]);
    this.#lastPresence = Date.now();
    this.#reading = this.#read();
    void this.#maintain();
  }

  /** A parked entry of this origin is due in `ms` (a retry, or a local delayed send): move it then. */
  dueIn(ms: number): void {
    if (this.#closing) return;
    // Long delays are re-armed by the maintenance tick, which asks Redis how long is left.
    ms = Math.min(ms, 60_000);
    const at = Date.now() + ms;
    if (this.#dueTimer !== undefined && at >= this.#dueAt) return;
    clearTimeout(this.#dueTimer);
    this.#dueAt = at;
    this.#dueTimer = setTimeout(() => {
      this.#dueTimer = undefined;
      this.#dueAt = Number.POSITIVE_INFINITY;
      this.#moveDue().catch((error: unknown) => this.#reportUnlessOutage(error, 'move due retries'));
    }, ms + 1);
    this.#dueTimer.unref();
  }

  // -- reading -----------------------------------------------------------------------------------

  async #read(): Promise<void> {
    while (!this.#closing) {
      const free = this.spec.prefetch - this.#loop.size;
      // While deliveries wait for a handler, read in batches of at least half the prefetch window:
      // one slot freed at a time would otherwise cost one round trip per message. An idle handler
      // slot with nothing waiting is filled at once.
      if (free <= 0 || (free < this.#batch && this.#loop.waiting > 0)) {
        await new Promise<void>((resolve) => (this.#wakeReader = resolve));
        this.#wakeReader = undefined;
        continue;
      }
      try {
        this.#readerId ??= Number(await this.#reader.client('ID'));
        if (this.#closing) break;
        if (this.#recover) {
          await this.#recoverOwn(free);
          continue;
        }
        const reply = (await this.#reader.callBuffer(
          'XREADGROUP',
          'GROUP',
          this.#group,
          this.#consumer,
          'COUNT',
          free,
          'BLOCK',
          READ_BLOCK_MS,
          'STREAMS',
          this.#stream,
          '>',
        )) as Reply;
        if (reply)
          for (const [, entries] of reply) for (const [id, fields] of entries) this.#take(id, fields, 1);
      } catch (error) {
        if (this.#closing) break;
        if (isNoGroup(error)) {
          // The stream or its group is gone (deleted, or a restart without persistence): make them again.
          await this.#provision().catch(async (e: unknown) => {
            this.ctx.hooks.error(mapRedisError(e, `restore ${this.spec.role.kind} ${this.spec.origin}`));
            await pause(1_000);
          });
          continue;
        }
        this.#reportUnlessOutage(error, `read ${this.spec.origin}`);
        await pause(1_000);
      }
    }
  }

  #provision(): Promise<void> {
    const role = this.spec.role;
    return role.kind === 'queue'
      ? this.ctx.topology.ensureQueue(this.spec.origin)
      : this.ctx.topology.ensureGroup(this.spec.origin, role.pattern);
  }

  /** One entry from a read or a claim. */
  #take(id: Buffer | string, fields: Buffer[] | null, deliveryCount: number): void {
    const entryId = id.toString();
    if (fields === null || this.#held.has(entryId)) return;
    const held: Held = { entry: parseEntry(entryId, fields), deliveryCount };
    this.#held.set(entryId, held);
    if (this.#closing) {
      // Arrived while closing: straight back to the stream for another member.
      this.#handBack([held]);
      return;
    }
    this.#loop.push(held, undefined);
  }

  #freed(): void {
    const wake = this.#wakeReader;
    if (wake === undefined) return;
    const free = this.spec.prefetch - this.#loop.size;
    if (free > 0 && (free >= this.#batch || this.#loop.waiting === 0)) wake();
  }

  /** After a reconnect: entries the server handed to this member whose reply was lost with the connection. */
  async #recoverOwn(free: number): Promise<void> {
    const claimed = (await RECOVER.run(
      this.#cmd,
      [this.#stream],
      [this.#group, this.#consumer, free, ...this.#held.keys()],
      true,
    )) as Claimed;
    for (const [id, fields, count] of claimed) this.#take(id, fields, count);
    if (claimed.length < free) this.#recover = false;
  }

  // -- settling ----------------------------------------------------------------------------------

  #settle(h: Held, outcome: DeliveryOutcome): void | Promise<void> {
    const id = h.entry.entryId;
    switch (outcome.kind) {
      case 'ack':
      case 'discarded':
        this.#ack(id);
        return;
      case 'retry':
        if (outcome.delayMs > 0) {
          return this.#command(
            PARK.run(
              this.#cmd,
              [this.#stream, this.#park, this.#due],
              [this.#group, this.#consumer, id, outcome.nextAttempt, outcome.delayMs],
            ).then(() => this.dueIn(outcome.delayMs)),
            id,
            'park a retry',
          );
        }
        return this.#command(this.#requeue([[id, outcome.nextAttempt]]), id, 'requeue a retry');
      case 'dead_letter':
        // Stored as a dead letter and acked in one script: a crash neither loses nor duplicates it.
        return this.#command(
          DEAD_LETTER.run(
            this.#cmd,
            [this.#stream, this.#dlq],
            [this.#group, this.#consumer, id, ...copyFields(h.entry, outcome.headers)],
          ),
          id,
          'store a dead letter',
        );
      default:
        throw new Error(`unknown delivery outcome ${String((outcome as { kind: unknown }).kind)}`);
    }
  }

  /** Track a settle command; once answered the entry is no longer held. A failure is the loop's to release. */
  #command(command: Promise<unknown>, id: string, what: string): Promise<void> {
    const done = command.then(
      () => {
        this.#held.delete(id);
      },
      (error: unknown) => {
        throw mapRedisError(error, `${what} on ${this.spec.origin}`);
      },
    );
    const tracked = done.then(
      () => undefined,
      () => undefined,
    );
    this.#settling.add(tracked);
    void tracked.then(() => this.#settling.delete(tracked));
    return done;
  }

  #requeue(pairs: readonly (readonly [string, number])[]): Promise<unknown> {
    const args: (string | number)[] = [this.#group, this.#consumer];
    for (const [id, attempt] of pairs) args.push(id, attempt);
    return REQUEUE.run(this.#cmd, [this.#stream], args);
  }

  /** A failed settle: the entry goes back to the stream as the next attempt (or is claimed later if that fails too). */
  #release(h: Held): void {
    const id = h.entry.entryId;
    const attempt = h.entry.attempt + Math.max(0, h.deliveryCount - 1) + 1;
    this.#track(
      this.#requeue([[id, attempt]]).then(
        () => undefined,
        (error: unknown) =>
          this.ctx.hooks.error(mapRedisError(error, `release a message of ${this.spec.origin}`)),
      ),
      [id],
    );
  }

  /** Entries never started (prefetched by a closing member): back to the stream at the same attempt. */
  #handBack(held: readonly Held[]): void {
    if (held.length === 0) return;
    const ids = held.map((h) => h.entry.entryId);
    const pairs = held.map(
      (h) => [h.entry.entryId, h.entry.attempt + Math.max(0, h.deliveryCount - 1)] as const,
    );
    this.#track(
      this.#requeue(pairs).then(
        () => undefined,
        (error: unknown) =>
          this.ctx.hooks.error(mapRedisError(error, `hand back messages of ${this.spec.origin}`)),
      ),
      ids,
    );
  }

  /** Track a command that never rejects; the ids are no longer held once it is done. */
  #track(command: Promise<void>, ids: readonly string[]): void {
    const tracked = command.then(() => {
      for (const id of ids) this.#held.delete(id);
    });
    this.#settling.add(tracked);
    void tracked.then(() => this.#settling.delete(tracked));
  }

  #ack(id: string): void {
    this.#acks.push(id);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(this.#flushAcks);
  }

  /** Every ack of one tick in one `XACK`. A failed one leaves entries pending: they are claimed again later. */
  readonly #flushAcks = (): void => {
    this.#ackScheduled = false;
    const ids = this.#acks;
    if (ids.length === 0) return;
    this.#acks = [];
    this.#acked = true;
    corkForTick(this.#cmd);
    // Packed (src/packed.ts): one buffer for the hundreds of ids, no argument copy by ioredis.
    const xack = new PackedCommand('XACK', [this.#stream, this.#group, ...ids]);
    void this.#cmd.sendCommand(xack);
    this.#track(
      (xack.promise as Promise<unknown>).then(
        () => undefined,
        (error: unknown) => this.ctx.hooks.error(mapRedisError(error, `ack on ${this.spec.origin}`)),
      ),
      ids,
    );
  };

  // -- maintenance ------------------------------------------------------------------------------

  async #moveDue(): Promise<void> {
    const [moved, wait] = (await MOVE_DUE.run(
      this.#cmd,
      [this.#due, this.#park, this.#stream],
      [MOVE_LIMIT],
    )) as [number, number];
    if (moved >= MOVE_LIMIT) this.dueIn(0);
    else if (wait >= 0) this.dueIn(wait);
  }

  async #maintain(): Promise<void> {
    if (this.#closing || this.#maintaining || !this.ctx.conn.ready) return;
    this.#maintaining = true;
    const visibility = this.ctx.options.visibilityTimeoutMs;
    try {
      const now = Date.now();
      await this.#moveDue();
      if (now - this.#lastKeepAlive >= visibility / 3 && this.#held.size > 0) {
        this.#lastKeepAlive = now;
        await this.#keepAlive();
      }
      if (now - this.#lastPresence >= PRESENCE_EVERY_MS) {
        this.#lastPresence = now;
        await PRESENCE.run(this.#cmd, [this.#members], [this.#consumer, PRESENCE_TTL_MS]);
      }
      if (now - this.#lastClaim >= visibility / 2) {
        this.#lastClaim = now;
        await this.#claim();
      }
      if (this.#acked && now - this.#lastTrim >= TRIM_EVERY_MS) {
        this.#lastTrim = now;
        this.#acked = false;
        await TRIM.run(this.#cmd, [this.#stream], []);
      }
    } catch (error) {
      if (!isNoGroup(error)) this.#reportUnlessOutage(error, `maintain ${this.spec.origin}`);
    } finally {
      this.#maintaining = false;
    }
  }

  /** Reset the idle time of everything held, so no other member claims it while a handler runs. */
  async #keepAlive(): Promise<void> {
    const ids = [...this.#held.keys()];
    for (let i = 0; i < ids.length; i += 1_000) {
      await this.#cmd.call(
        'XCLAIM',
        this.#stream,
        this.#group,
        this.#consumer,
        0,
        ...ids.slice(i, i + 1_000),
        'JUSTID',
      );
    }
  }

  /** Take over entries idle for longer than the visibility timeout (their member died), as far as slots are free. */
  async #claim(): Promise<void> {
    const free = this.spec.prefetch - this.#loop.size;
    if (free <= 0) return;
    const [cursor, claimed] = (await CLAIM.run(
      this.#cmd,
      [this.#stream],
      [this.#group, this.#consumer, this.ctx.options.visibilityTimeoutMs, this.#claimCursor, free],
      true,
    )) as [Buffer, Claimed];
    this.#claimCursor = cursor.toString();
    if (this.#closing) {
      this.#handBack(
        claimed.map(([id, fields, count]) => ({
          entry: parseEntry(id.toString(), fields),
          deliveryCount: count,
        })),
      );
      return;
    }
    for (const [id, fields, count] of claimed) this.#take(id, fields, count);
  }

  #reportUnlessOutage(error: unknown, what: string): void {
    // While the connection is down every command waits or fails alike: the status events say so.
    if (isConnectionError(error) || !this.ctx.conn.ready) return;
    this.ctx.hooks.error(mapRedisError(error, what));
  }

  // -- closing -----------------------------------------------------------------------------------

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#tick);
    clearTimeout(this.#dueTimer);
    // Prefetched but never started: back to the stream now, not after the visibility timeout.
    this.#handBack(this.#loop.stop().map(([h]) => h));
    this.#wakeReader?.();
    await this.#stopReading();
    await this.#loop.idle();
    this.#flushAcks();
    const deadline = Date.now() + this.ctx.closeTimeoutMs;
    while (this.#settling.size > 0 && Date.now() < deadline) {
      await Promise.race([Promise.all([...this.#settling]), pause(Math.max(1, deadline - Date.now()))]);
    }
    if (this.ctx.conn.ready) {
      const leave = LEAVE.run(this.#cmd, [this.#members, this.#stream], [this.#consumer, this.#group]).catch(
        (error: unknown) => this.#reportUnlessOutage(error, `leave ${this.spec.origin}`),
      );
      await Promise.race([leave, pause(Math.max(1_000, deadline - Date.now()))]);
    }
    this.#reader.disconnect();
  }

  /**
   * End the blocking read without losing what it may be returning: `CLIENT UNBLOCK` makes it
   * answer at once (as a timeout, or with entries already on their way). Dropping the connection
   * instead could lose a reply whose entries Redis already counts as delivered to this member.
   */
  async #stopReading(): Promise<void> {
    const reading = this.#reading;
    if (reading === undefined) return;
    if (this.#reader.status !== 'ready') {
      // Not connected: no read of this member is waiting on the server (a queued one was never sent).
      this.#reader.disconnect();
      await reading;
      return;
    }
    let done = false;
    void reading.then(() => (done = true));
    for (let round = 0; round < 20 && !done; round++) {
      if (this.#readerId !== undefined && this.ctx.conn.ready) {
        await this.#cmd.client('UNBLOCK', this.#readerId).catch(() => 0);
      }
      await Promise.race([reading, pause(10 + 20 * round)]);
    }
    if (!done) this.#reader.disconnect();
    await reading;
  }
}
