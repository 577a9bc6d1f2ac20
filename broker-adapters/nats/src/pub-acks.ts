/**
 * JetStream publishes with PubAck, many in flight on one wildcard reply subscription.
 *
 * `js.publish` is a request per message: nats.js registers it with its request multiplexer, arms
 * a timer and, on success, cancels the request by constructing a `RequestError("cancelled")` —
 * stack trace included — that nobody sees. In profiles that was a sixth of a publishing
 * process. Here a publish is a plain `nc.publish` with the reply subject `<inbox>.<n>`; each
 * reply settles its entry in a map, and one sweep timer expires the entries that waited too long.
 *
 * Errors carry the names `errors.ts` classifies (`TimeoutError`, `NoRespondersError`,
 * `JetStreamApiError`, with `code` = JetStream's `err_code` as in nats.js).
 *
 * One difference from `js.publish`: the server's publish permission violations name the subject,
 * not the request, so they reach the connection's status stream but not the waiting publish,
 * which ends on its timeout (`BK_TIMEOUT` / `BK_UNAVAILABLE`) rather than at once.
 */
import { createInbox, errors } from '@nats-io/transport-node';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { ApiError } from '@nats-io/jetstream';
import { ClosedError } from '@brokerkit/core';

/** The server's answer to a stored message. */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/**
 * No PubAck within the timeout (lost during an outage, or the server is slow). A nats.js
 * `TimeoutError`, so name- and `instanceof`-based classification agree.
 */
export class PubAckTimeoutError extends errors.TimeoutError {
  override name = 'TimeoutError';
  constructor(message: string) {
    super();
    this.message = message;
  }
}

/**
 * Nothing listens on the subject: no stream captures it (any more), JetStream is not up yet, or
 * the stream has no leader (a cluster electing one). A nats.js `NoRespondersError`.
 */
export class PubAckNoRespondersError extends errors.NoRespondersError {
  // nats.js names it `NoResponders`; errors.ts has always matched `NoRespondersError`.
  override name = 'NoRespondersError';
  constructor(subject: string, message: string) {
    super(subject);
    this.message = message;
  }
}

/**
 * The connection the publish went out on was lost before its PubAck came: the publish is
 * retried (same `Nats-Msg-Id`) once connected again. A nats.js `ConnectionError`.
 */
export class PubAckLostError extends errors.ConnectionError {
  override name = 'ConnectionError';
}

/**
 * The stream refused the message: a nats.js `JetStreamApiError` whose `code` is JetStream's
 * `err_code` and `status` its HTTP-like code.
 */
export class PubAckApiError extends JetStreamApiError {
  constructor(message: string, code: number | undefined, status: number | undefined) {
    super({ description: message, err_code: code, code: status } as ApiError);
  }
}

interface Pending {
  readonly subject: string;
  resolve(ack: PubAck): void;
  reject(error: Error): void;
  deadline: number;
}

const SWEEP_MS = 50;
/** Pause before the reply subscription is made again after the server refused or closed it. */
const RESUBSCRIBE_MS = 1_000;

/** Sends JetStream publishes and matches their PubAcks. One per connection. */
export class PubAcks {
  readonly #prefix: string;
  readonly #pending = new Map<number, Pending>();
  #sub: Subscription;
  readonly #sweep: NodeJS.Timeout;
  #resubscribe: NodeJS.Timeout | undefined;
  #next = 0;
  #closed = false;

  constructor(private readonly nc: NatsConnection) {
    this.#prefix = `${createInbox()}.`;
    this.#sub = this.#subscribe();
    this.#sweep = setInterval(() => this.#expire(), SWEEP_MS);
    this.#sweep.unref();
  }

  #subscribe(): Subscription {
    return this.nc.subscribe(`${this.#prefix}*`, { callback: (error, msg) => this.#reply(error, msg) });
  }

  /** Publish `body` to `subject` and resolve with its PubAck; reject after `timeoutMs` without one. */
  publish(subject: string, body: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<PubAck> {
    if (this.#closed) return Promise.reject(new ClosedError('the NATS connection is closed'));
    const id = this.#next++;
    return new Promise<PubAck>((resolve, reject) => {
      // Synchronous refusals (closed connection, payload over max_payload) reject right here.
      this.nc.publish(subject, body, { reply: this.#prefix + id, headers });
      this.#pending.set(id, { subject, resolve, reject, deadline: Date.now() + timeoutMs });
    });
  }

  #reply(error: Error | null, msg: Msg): void {
    if (error) {
      // The server refused or ended the reply subscription: nothing pending can be answered, and
      // nats.js has closed it. Make it again (after a pause, in case the refusal persists).
      this.#rejectAll(error);
      if (!this.#closed && !this.nc.isClosed() && this.#resubscribe === undefined) {
        this.#resubscribe = setTimeout(() => {
          this.#resubscribe = undefined;
          if (this.#closed || this.nc.isClosed()) return;
          try {
            this.#sub.unsubscribe();
          } catch {
            // Already closed by the client: nothing to undo.
          }
          this.#sub = this.#subscribe();
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
    if (pending === undefined) return; // expired already, or a duplicate answer
    this.#pending.delete(id);
    const data = msg.data;
    if (data.length === 0) {
      pending.reject(
        msg.headers?.code === 503
          ? new PubAckNoRespondersError(pending.subject, `no stream answers on ${pending.subject}`)
          : new PubAckApiError(
              `empty PubAck (${msg.headers?.description ?? 'no description'})`,
              undefined,
              msg.headers?.code,
            ),
      );
      return;
    }
    let answer: {
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      error?: { code?: number; err_code?: number; description?: string };
    };
    try {
      answer = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
    } catch (cause) {
      pending.reject(new PubAckApiError(`PubAck is not JSON: ${String(cause)}`, undefined, undefined));
      return;
    }
    if (answer.error) {
      const e = answer.error;
      pending.reject(new PubAckApiError(e.description ?? 'JetStream error', e.err_code, e.code));
    } else if (typeof answer.stream !== 'string' || answer.stream === '') {
      pending.reject(new PubAckApiError('invalid PubAck: no stream', undefined, undefined));
    } else {
      pending.resolve({ stream: answer.stream, seq: answer.seq ?? 0, duplicate: answer.duplicate === true });
    }
  }

  #expire(): void {
    if (this.#pending.size === 0) return;
    const now = Date.now();
    for (const [id, pending] of this.#pending) {
      if (pending.deadline > now) continue;
      this.#pending.delete(id);
      pending.reject(new PubAckTimeoutError(`no PubAck for ${pending.subject} in time`));
    }
  }

  /**
   * The connection was lost: PubAcks of what went out on it will not come. Waiting publishes
   * reject now with {@link PubAckLostError} (the publisher retries them once connected) instead
   * of after their timeout.
   */
  connectionLost(server: string): void {
    if (this.#pending.size === 0) return;
    this.#rejectAll(new PubAckLostError(`connection to ${server} lost before the PubAck`));
  }

  #rejectAll(error: Error): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const pending of all) pending.reject(error);
  }

  /** Stop listening; whatever is still waiting rejects with `BK_CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    clearTimeout(this.#resubscribe);
    this.#sub.unsubscribe();
    this.#rejectAll(new ClosedError('the NATS connection is closed'));
  }
}
