/**
 * The one reply subscription every request of a connection shares: `_INBOX.<nuid>.*`. A request
 * is a plain `nc.publish` with the reply subject `<inbox>.<n>`; each reply settles its entry in a
 * map, and one sweep timer expires the entries that waited too long.
 *
 * Why not `nc.request`, which muxes on one inbox too: on every answered request nats.js cancels
 * its entry by constructing a `RequestError("cancelled")` — stack trace included — that nobody
 * sees, and arms a timer and a `Promise.race` per request; in profiles of a requesting process the
 * error alone was 7 % of the CPU. The same reasoning as `pub-acks.ts`, which does this for PubAcks.
 *
 * No responder is the server's status message on the reply subject (503, empty body), which
 * nats.js' connections ask for (`no_responders` with headers on).
 */
import { createInbox } from '@nats-io/transport-node';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { ClosedError, NoRespondersError, TimeoutError } from '@brokerkit/core/adapter';

interface Pending {
  readonly subject: string;
  readonly timeoutMs: number;
  readonly deadline: number;
  resolve(reply: Msg): void;
  reject(error: Error): void;
}

/** How often deadlines are checked: a request may outlive its timeout by at most this much. */
const SWEEP_MS = 25;
/** Pause before the reply subscription is made again after the server refused or closed it. */
const RESUBSCRIBE_MS = 1_000;

/** See the module comment. One per connection. */
export class ReplyInbox {
  readonly #prefix: string;
  readonly #pending = new Map<number, Pending>();
  #sub: Subscription | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #resubscribe: NodeJS.Timeout | undefined;
  #next = 0;
  #closed = false;

  constructor(private readonly nc: NatsConnection) {
    this.#prefix = `${createInbox()}.`;
  }

  /** Requests waiting for their reply. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Publish a request and resolve with its first reply. Rejects with `BK_NO_RESPONDERS`, or
   * `BK_TIMEOUT` after `timeoutMs`; throws synchronously what `nc.publish` throws (payload too
   * large, connection closed).
   */
  request(subject: string, body: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<Msg> {
    if (this.#closed) return Promise.reject(new ClosedError('the NATS connection is closed'));
    // Subscribed on first use: a connection that never requests holds no inbox.
    this.#sub ??= this.#subscribe();
    const id = this.#next++;
    this.nc.publish(subject, body, { reply: this.#prefix + id, headers });
    this.#sweep ??= this.#startSweep();
    return new Promise<Msg>((resolve, reject) => {
      this.#pending.set(id, { subject, timeoutMs, deadline: Date.now() + timeoutMs, resolve, reject });
    });
  }

  /** Stop listening; whatever still waits rejects with `BK_CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    clearTimeout(this.#resubscribe);
    try {
      this.#sub?.unsubscribe();
    } catch {
      // Closed by the client already.
    }
    this.#rejectAll(new ClosedError('the broker was closed while the request waited for its reply'));
  }

  #subscribe(): Subscription {
    return this.nc.subscribe(`${this.#prefix}*`, { callback: (error, msg) => this.#reply(error, msg) });
  }

  #startSweep(): NodeJS.Timeout {
    const timer = setInterval(() => this.#expire(), SWEEP_MS);
    // Pending requests keep the process alive through the connection's socket, not this timer.
    timer.unref();
    return timer;
  }

  #reply(error: Error | null, msg: Msg): void {
    if (error) {
      // The server refused or ended the subscription: nothing waiting can be answered, and nats.js
      // has closed it. Make it again (after a pause, in case the refusal persists).
      this.#rejectAll(error);
      this.#sub = undefined;
      if (!this.#closed && !this.nc.isClosed() && this.#resubscribe === undefined) {
        this.#resubscribe = setTimeout(() => {
          this.#resubscribe = undefined;
          if (!this.#closed && !this.nc.isClosed()) this.#sub ??= this.#subscribe();
        }, RESUBSCRIBE_MS);
        this.#resubscribe.unref();
      }
      return;
    }
    const subject = msg.subject;
    let id = 0;
    for (let i = this.#prefix.length; i < subject.length; i++) {
      const c = subject.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return;
      id = id * 10 + c;
    }
    const pending = this.#pending.get(id);
    if (pending === undefined) return; // expired already, or a second responder's reply
    this.#pending.delete(id);
    // Only an empty body can be the status message: reading headers costs a parse otherwise.
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      pending.reject(new NoRespondersError(`no responder for ${pending.subject}`));
      return;
    }
    pending.resolve(msg);
  }

  #expire(): void {
    if (this.#pending.size === 0) {
      // Idle: no timer until the next request.
      clearInterval(this.#sweep);
      this.#sweep = undefined;
      return;
    }
    const now = Date.now();
    for (const [id, pending] of this.#pending) {
      if (pending.deadline > now) continue;
      this.#pending.delete(id);
      pending.reject(new TimeoutError(`no reply to ${pending.subject} within ${pending.timeoutMs} ms`));
    }
  }

  #rejectAll(error: Error): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const pending of all) pending.reject(error);
  }
}
