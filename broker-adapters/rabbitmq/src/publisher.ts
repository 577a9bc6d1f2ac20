/**
 * Publishing: one confirm channel with any number of publishes in flight (pipelined, never one at
 * a time), a plain channel for the `confirm: false` fast path, and a bounded wait across outages.
 *
 * A publish resolves only once RabbitMQ confirmed it. A publish whose channel dies before the
 * confirm is sent again on the next channel (at-least-once: it may arrive twice, it is never
 * silently lost). While disconnected, publishes wait in a bounded buffer until their deadline
 * (`timeoutMs`), then reject with `BK_UNAVAILABLE`; a connected publish that outlives its deadline
 * rejects with `BK_TIMEOUT`.
 *
 * When RabbitMQ refuses a publish by closing the channel (406: larger than its `max_message_size`,
 * an invalid property; 403: no permission), every unconfirmed publish of that channel is a
 * suspect: confirms are asynchronous, so order does not tell which one it was. The suspects are
 * then sent again one at a time (new publishes wait meanwhile): the culprit is the one whose
 * channel dies while it is alone in flight, and it alone fails, with RabbitMQ's error as `cause`.
 *
 * While RabbitMQ blocks the connection (a memory or disk alarm, `connection.blocked`), nothing is
 * written to it: publishes wait in the same bounded buffer as during an outage and reject with
 * `BK_UNAVAILABLE` at their deadline. Writing would make the broker stop reading the socket
 * altogether, and every later publish would only time out behind it.
 *
 * A nack means RabbitMQ could not take the message for now: on a cluster, a quorum queue without a
 * leader (during an election), or a full queue that rejects publishes. A confirm channel opened
 * during an election can keep nacking after it (RabbitMQ 3.10 channels may stick to the dead
 * leader), so a nack retires the channel: a fresh one is opened after a short backoff and the
 * nacked publish is sent again on it, until its deadline (then `BK_UNAVAILABLE`).
 */
import { BrokerError, BrokerUnavailableError, TimeoutError, toError } from '@brokerkit/core/adapter';
import type { TransportHooks } from '@brokerkit/core';
import type { Channel, ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import type { ConnectionParticipant, ConnectionSupervisor } from './connection.js';
import { DUE_HEADER, MOVER_GRACE_MS } from './bucket-mover.js';
import { AMQP, mapAmqpError, replyCode } from './errors.js';
import { parseRetryQueueName } from './names.js';

/** One publish on its way to the broker. */
export interface PublishRequest {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly properties: Options.Publish;
  /**
   * For publishes to a queue by name (`mandatory`): re-declare the queue after RabbitMQ returned
   * the message as unroutable (someone deleted the queue), before it is sent once more.
   */
  readonly redeclare?: () => Promise<void>;
}

/** How often deadlines are checked; a deadline may be missed by at most this much. */
const SWEEP_MS = 50;
/** A publish is sent on at most this many channels before its failure is reported. */
const MAX_SENDS = 5;
/** Backoff before a confirm channel retired after a nack is replaced: first, and at most. */
const RECYCLE_MIN_MS = 50;
const RECYCLE_MAX_MS = 1_000;
const NACKED = 'message nacked';
const RESOLVED = Promise.resolve();

class Pending {
  settled = false;
  sends = 0;
  nacks = 0;
  returned = false;
  returns = 0;
  channel: ConfirmChannel | undefined;
  readonly callback: (error: unknown) => void;

  constructor(
    readonly request: PublishRequest,
    readonly deadline: number,
    readonly timeoutMs: number,
    readonly confirm: boolean,
    readonly resolve: () => void,
    readonly reject: (error: unknown) => void,
    publisher: Publisher,
  ) {
    this.callback = (error) => publisher.confirmed(this, error);
  }
}

/** Publishes with confirms over reconnections. */
export class Publisher implements ConnectionParticipant {
  #confirmChannel: ConfirmChannel | undefined;
  #fastChannel: Channel | undefined;
  #drain: Promise<void> | undefined;
  /** The alarm RabbitMQ blocks publishing with, while it does. */
  #blocked: string | undefined;
  #lastChannelError: Error | undefined;
  /** Why RabbitMQ closed a confirm channel, when it refused a publish. */
  readonly #refusals = new WeakMap<Channel, Error>();
  /** Confirm channels retired after a nack (their closing is not a failed send). */
  readonly #retired = new WeakSet<Channel>();
  #recycleMs = RECYCLE_MIN_MS;
  /** Publishes in flight on a channel RabbitMQ closed with a refusal, to send one at a time. */
  #suspects: Pending[] = [];
  /** The suspect in flight alone right now. */
  #probe: Pending | undefined;
  readonly #inflight = new Set<Pending>();
  #waiting: Pending[] = [];
  #sweep: NodeJS.Timeout | undefined;
  #idleWaiters: Array<() => void> = [];

  constructor(
    private readonly supervisor: ConnectionSupervisor,
    private readonly exchange: string,
    private readonly maxBuffered: number,
    private readonly hooks: TransportHooks,
    /** Stamp publishes to retry buckets with the time they are due (for the {@link BucketMover}). */
    private readonly stampDue = false,
  ) {}

  /** Publishes sent and not yet confirmed, plus those waiting for a connection. */
  get pending(): number {
    return this.#inflight.size + this.#waiting.length + this.#suspects.length;
  }

  async connected(model: ChannelModel): Promise<void> {
    try {
      await this.#openChannels(model);
    } catch (error) {
      throw mapAmqpError(error, `opening the publish channel (exchange "${this.exchange}")`);
    }
  }

  lost(): void {
    this.#confirmChannel = undefined;
    this.#fastChannel = undefined;
    this.#blocked = undefined;
    // Unconfirmed publishes come back through their callbacks ("channel closed") and wait.
  }

  blocked(reason: string): void {
    this.#blocked = reason;
  }

  unblocked(): void {
    this.#blocked = undefined;
    this.#continue();
  }

  /**
   * Publish with a confirm (`confirm: true`) or as soon as written (`confirm: false`). Never
   * throws synchronously.
   */
  publish(request: PublishRequest, confirm: boolean, timeoutMs: number): Promise<void> {
    if (this.stampDue && request.properties.expiration !== undefined && request.exchange === '')
      request = stampDue(request);
    if (!confirm && this.#blocked === undefined) {
      const fast = this.#fastChannel;
      if (fast !== undefined) {
        try {
          const ok = fast.publish(request.exchange, request.routingKey, request.content, request.properties);
          return ok ? RESOLVED : this.#drained(fast, request, timeoutMs);
        } catch {
          // The channel closed under us: wait for the next one like any publish.
        }
      }
    }
    return new Promise<void>((resolve, reject) => {
      const pending = new Pending(request, Date.now() + timeoutMs, timeoutMs, confirm, resolve, reject, this);
      const channel = this.#sendable();
      if (channel !== undefined) this.#send(pending, channel);
      else this.#wait(pending);
    });
  }

  /** Resolves once every publish has been confirmed or has failed. */
  idle(): Promise<void> {
    if (this.pending === 0) return RESOLVED;
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Close the channels (after {@link idle}). */
  async close(): Promise<void> {
    const channels = [this.#confirmChannel, this.#fastChannel];
    this.#confirmChannel = undefined;
    this.#fastChannel = undefined;
    for (const p of [...this.#waiting.splice(0), ...this.#suspects.splice(0)])
      this.#settle(p, new BrokerUnavailableError('the broker was closed'));
    await Promise.allSettled(channels.map((c) => c?.close()));
    this.#stopSweep();
  }

  /** Called by a publish's confirm callback (ack, nack or channel closed). */
  confirmed(pending: Pending, error: unknown): void {
    this.#inflight.delete(pending);
    const probe = pending === this.#probe;
    if (probe) this.#probe = undefined;
    this.#outcome(pending, error, probe);
    if (probe) this.#continue();
  }

  #outcome(pending: Pending, error: unknown, probe: boolean): void {
    if (pending.settled) return this.#checkIdle();
    if (error === null || error === undefined) {
      this.#recycleMs = RECYCLE_MIN_MS;
      if (pending.returned) this.#returned(pending);
      else this.#settle(pending);
      return;
    }
    const e = toError(error);
    if (e.message === NACKED) {
      pending.nacks++;
      pending.sends--; // refused for now, not lost with a channel
      if (pending.channel) this.#retire(pending.channel);
      if (pending.deadline <= Date.now()) this.#settle(pending, this.#unavailable(pending, e));
      else this.#wait(pending); // sent again on the fresh channel
      return;
    }
    // Closed by us after a nack on another publish: not a failed send.
    if (pending.channel && this.#retired.has(pending.channel)) pending.sends--;
    const refusal = pending.channel && this.#refusals.get(pending.channel);
    if (refusal !== undefined) {
      // Alone in flight: this is the one RabbitMQ refused. Otherwise one of several suspects.
      if (probe) this.#settle(pending, mapAmqpError(refusal, `publishing to ${describe(pending.request)}`));
      else this.#suspects.push(pending);
      return;
    }
    if (probe) {
      // Lost with its connection, not refused: still the first suspect to try again.
      this.#suspects.unshift(pending);
      return;
    }
    // The channel closed before the confirm: send again on the next channel.
    if (pending.sends >= MAX_SENDS) {
      const cause = this.#lastChannelError ?? e;
      this.#settle(pending, mapAmqpError(cause, `publishing to ${describe(pending.request)}`));
      return;
    }
    const channel = this.#sendable();
    if (channel !== undefined && channel !== pending.channel) this.#send(pending, channel);
    else this.#wait(pending);
  }

  /** The channel new publishes may use now: none during an outage, an alarm or while suspects are tried. */
  #sendable(): ConfirmChannel | undefined {
    if (this.#blocked !== undefined) return undefined;
    return this.#suspects.length > 0 || this.#probe !== undefined ? undefined : this.#confirmChannel;
  }

  /** Try the next suspect alone, or, once none is left, release the publishes that waited. */
  #continue(): void {
    const channel = this.#confirmChannel;
    if (channel === undefined || this.#probe !== undefined || this.#blocked !== undefined) return;
    let next = this.#suspects.shift();
    while (next !== undefined && next.settled) next = this.#suspects.shift();
    if (next !== undefined) {
      this.#probe = next;
      this.#send(next, channel);
      return;
    }
    this.#flushWaiting(channel);
  }

  #send(pending: Pending, channel: ConfirmChannel): void {
    const r = pending.request;
    pending.sends++;
    pending.returned = false;
    pending.channel = channel;
    this.#inflight.add(pending);
    this.#startSweep();
    try {
      channel.publish(r.exchange, r.routingKey, r.content, r.properties, pending.callback);
    } catch {
      // Closed between the check and the write (amqplib throws IllegalOperationError).
      this.#inflight.delete(pending);
      if (pending === this.#probe) {
        this.#probe = undefined;
        this.#suspects.unshift(pending);
      } else this.#wait(pending);
    }
  }

  #wait(pending: Pending): void {
    if (this.#waiting.length >= this.maxBuffered) {
      const why =
        this.#blocked !== undefined
          ? `RabbitMQ node ${this.supervisor.node ?? '?'} blocks publishing (${this.#blocked})`
          : 'RabbitMQ is unreachable';
      this.#settle(
        pending,
        new BrokerUnavailableError(
          `${why} and ${this.maxBuffered} publishes are already waiting (maxBufferedPublishes)`,
        ),
      );
      return;
    }
    this.#waiting.push(pending);
    this.#startSweep();
  }

  #returned(pending: Pending): void {
    const redeclare = pending.request.redeclare;
    pending.returns++;
    if (redeclare === undefined || pending.returns > 2) {
      this.#settle(
        pending,
        new BrokerError(`RabbitMQ could not route the message to ${describe(pending.request)}`),
      );
      return;
    }
    this.#inflight.add(pending); // still ours while the queue is re-declared
    redeclare().then(
      () => {
        this.#inflight.delete(pending);
        if (pending.settled) return this.#checkIdle();
        const channel = this.#sendable();
        if (channel !== undefined) this.#send(pending, channel);
        else this.#wait(pending);
      },
      (error: unknown) => {
        this.#inflight.delete(pending);
        this.#settle(pending, mapAmqpError(error, `re-declaring ${describe(pending.request)}`));
      },
    );
  }

  #settle(pending: Pending, error?: Error): void {
    if (pending.settled) return;
    pending.settled = true;
    if (error === undefined) pending.resolve();
    else pending.reject(error);
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.pending !== 0 || this.#idleWaiters.length === 0) return;
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  async #openChannels(model: ChannelModel): Promise<void> {
    const confirm = await this.#createConfirmChannel(model);
    const fast = await model.createChannel();
    fast.on('error', (error: Error) => (this.#lastChannelError = error));
    fast.prependListener('close', () => this.#channelClosed(fast, model));
    this.#confirmChannel = confirm;
    this.#fastChannel = fast;
    this.#continue();
  }

  async #createConfirmChannel(model: ChannelModel): Promise<ConfirmChannel> {
    const confirm = await model.createConfirmChannel();
    confirm.on('error', (error: Error) => {
      this.#lastChannelError = error;
      const code = replyCode(error);
      if (code === AMQP.PRECONDITION_FAILED || code === AMQP.ACCESS_REFUSED)
        this.#refusals.set(confirm, error);
    });
    confirm.on('return', (message: Message) => this.#onReturn(message));
    await confirm.assertExchange(this.exchange, 'topic', { durable: true });
    // Prepended: the channel must be gone before amqplib fails its unconfirmed callbacks, so none
    // of them is sent again on the dead channel.
    confirm.prependListener('close', () => this.#channelClosed(confirm, model));
    return confirm;
  }

  /**
   * Retire the confirm channel after a nack: publishes wait, the channel is closed (its other
   * unconfirmed publishes come back and are sent again: at-least-once), and a fresh one is opened
   * after a backoff that doubles up to 1 s while nacks go on.
   */
  #retire(channel: ConfirmChannel): void {
    const model = this.supervisor.current;
    if (channel !== this.#confirmChannel || model === undefined) return;
    this.#retired.add(channel);
    this.#confirmChannel = undefined;
    channel.close().catch(() => {});
    const delay = this.#recycleMs;
    this.#recycleMs = Math.min(RECYCLE_MAX_MS, delay * 2);
    setTimeout(() => {
      if (this.supervisor.current !== model || this.#confirmChannel !== undefined) return;
      this.#createConfirmChannel(model).then(
        (confirm) => {
          if (this.supervisor.current !== model || this.#confirmChannel !== undefined) {
            confirm.close().catch(() => {});
            return;
          }
          this.#confirmChannel = confirm;
          this.#continue();
        },
        (error: unknown) => {
          if (this.supervisor.current === model)
            this.hooks.error(mapAmqpError(error, 'reopening the publish channel'));
        },
      );
    }, delay);
  }

  /** A channel closed while its connection lives on (a channel error): open fresh ones. */
  #channelClosed(channel: Channel, model: ChannelModel): void {
    if (channel !== this.#confirmChannel && channel !== this.#fastChannel) return;
    this.#confirmChannel = undefined;
    this.#fastChannel = undefined;
    // amqplib closes the channels before it reports the connection closed: look again once the
    // connection had its say, and leave a lost connection to the supervisor.
    setImmediate(() => {
      if (this.supervisor.current !== model || this.#confirmChannel !== undefined) return;
      this.#openChannels(model).catch((error: unknown) => {
        if (this.supervisor.current === model)
          this.hooks.error(mapAmqpError(error, 'reopening the publish channel'));
      });
    });
  }

  #flushWaiting(channel: ConfirmChannel): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const p of waiting) {
      if (p.settled) continue;
      if (p.confirm) this.#send(p, channel);
      else this.#sendFast(p);
    }
    this.#checkIdle();
  }

  #sendFast(pending: Pending): void {
    const fast = this.#fastChannel;
    const r = pending.request;
    try {
      fast!.publish(r.exchange, r.routingKey, r.content, r.properties);
      this.#settle(pending);
    } catch {
      this.#wait(pending);
    }
  }

  /** RabbitMQ returns an unroutable mandatory message just before confirming it. */
  #onReturn(message: Message): void {
    const { exchange, routingKey } = message.fields;
    const id = message.properties.messageId as string | undefined;
    for (const p of this.#inflight) {
      const r = p.request;
      if (
        !p.returned &&
        r.exchange === exchange &&
        r.routingKey === routingKey &&
        r.properties.messageId === id
      ) {
        p.returned = true;
        return;
      }
    }
  }

  /**
   * Written to amqplib's buffer, which is full: resolve once the socket drains (or the channel
   * closes), reject with `BK_TIMEOUT` if that takes longer than `timeoutMs` (a broker that stopped
   * reading, e.g. one blocked by an alarm before the client heard of it).
   */
  #drained(channel: Channel, request: PublishRequest, timeoutMs: number): Promise<void> {
    this.#drain ??= new Promise<void>((resolve) => {
      const done = () => {
        channel.off('drain', done);
        channel.off('close', done);
        this.#drain = undefined;
        resolve();
      };
      channel.on('drain', done);
      channel.on('close', done);
    });
    const drain = this.#drain;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new TimeoutError(
              `${describe(request)}: the connection did not drain within ${timeoutMs} ms (confirm: false)`,
            ),
          ),
        timeoutMs,
      );
      timer.unref();
      void drain.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #startSweep(): void {
    if (this.#sweep !== undefined) return;
    this.#sweep = setInterval(() => this.#expire(), SWEEP_MS);
    this.#sweep.unref();
  }

  #stopSweep(): void {
    if (this.#sweep === undefined) return;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  #expire(): void {
    if (this.pending === 0) return this.#stopSweep();
    const now = Date.now();
    if (this.#waiting.length > 0) {
      const keep: Pending[] = [];
      for (const p of this.#waiting) {
        if (p.settled) continue;
        if (p.deadline <= now) this.#settle(p, this.#unavailable(p, undefined));
        else keep.push(p);
      }
      this.#waiting = keep;
    }
    if (this.#suspects.length > 0) {
      const keep: Pending[] = [];
      for (const p of this.#suspects) {
        if (p.settled) continue;
        if (p.deadline <= now) this.#settle(p, this.#timeout(p));
        else keep.push(p);
      }
      this.#suspects = keep;
    }
    for (const p of this.#inflight) {
      if (p.deadline <= now && !p.settled) {
        this.#inflight.delete(p);
        this.#settle(p, this.#timeout(p));
        if (p === this.#probe) {
          this.#probe = undefined;
          this.#continue();
        }
      }
    }
    this.#checkIdle();
  }

  /** Past its deadline without a confirm: `BK_UNAVAILABLE` while blocked or refused, else `BK_TIMEOUT`. */
  #timeout(p: Pending): TimeoutError | BrokerUnavailableError {
    if (this.#blocked !== undefined || p.nacks > 0) return this.#unavailable(p, undefined);
    return new TimeoutError(`${describe(p.request)} not confirmed within ${p.timeoutMs} ms`);
  }

  /** Past its deadline while waiting for a connection, refused (nack), or while RabbitMQ blocks publishing. */
  #unavailable(p: Pending, nack: Error | undefined): BrokerUnavailableError {
    if (p.nacks > 0) {
      return new BrokerUnavailableError(
        `RabbitMQ refused ${describe(p.request)} (nack, ${p.nacks}×) until its deadline of ${p.timeoutMs} ms: ` +
          'a quorum queue without a leader, or a full queue that rejects publishes',
        nack ? { cause: nack } : undefined,
      );
    }
    if (this.#blocked !== undefined) {
      return new BrokerUnavailableError(
        `RabbitMQ node ${this.supervisor.node ?? '?'} blocks publishing (${this.#blocked}): ${describe(p.request)} not confirmed within ${p.timeoutMs} ms`,
      );
    }
    const node = this.supervisor.node;
    const where = node ? `restoring the connection to ${node}` : this.supervisor.nodes.join(', ');
    return new BrokerUnavailableError(
      `RabbitMQ unreachable (${where}): ${describe(p.request)} not confirmed within ${p.timeoutMs} ms`,
    );
  }
}

function describe(request: PublishRequest): string {
  return request.exchange === ''
    ? `queue "${request.routingKey}"`
    : `"${request.routingKey}" on exchange "${request.exchange}"`;
}

/**
 * A publish to a retry bucket with `x-brokerkit-due` = now + its expiration, and the expiration
 * extended by {@link MOVER_GRACE_MS} like the quorum bucket's TTL (other publishes unchanged; on a
 * classic bucket the queue's own TTL, the lower one, still decides).
 */
function stampDue(request: PublishRequest): PublishRequest {
  if (parseRetryQueueName(request.routingKey) === undefined) return request;
  const expiration = Number(request.properties.expiration);
  if (!Number.isFinite(expiration)) return request;
  const headers = { ...(request.properties.headers as Record<string, unknown> | undefined) };
  headers[DUE_HEADER] = String(Date.now() + expiration);
  return {
    ...request,
    properties: { ...request.properties, headers, expiration: String(expiration + MOVER_GRACE_MS) },
  };
}
