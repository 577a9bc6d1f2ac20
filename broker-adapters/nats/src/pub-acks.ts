/**
 * JetStream publishes with PubAck, many in flight on one wildcard reply subscription.
 *
 * `js.publish` is a request per message: nats.js registers it with its request multiplexer, arms
 * a timer and, on success, cancels the request by constructing a `RequestError("cancelled")` —
 * stack trace included — that nobody sees. In profiles that was a sixth of a publishing
 * process. Here a publish is a plain `nc.publish` with the reply subject `<inbox>.<n>`; each
 * reply settles its entry in a map, and one sweep timer expires the entries that waited too long.
 *
 * Errors take the names nats.js gives them (`TimeoutError`, `NoRespondersError`,
 * `JetStreamApiError`), so `errors.ts` classifies both paths alike.
 */
import { createInbox } from '@nats-io/transport-node';
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { ClosedError } from '@brokerkit/core';

/** The server's answer to a stored message. */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** No PubAck within the timeout (lost during an outage, or the server is slow). */
export class PubAckTimeoutError extends Error {
  override name = 'TimeoutError';
}

/** Nothing listens on the subject: no stream captures it (any more), or JetStream is not up yet. */
export class PubAckNoRespondersError extends Error {
  override name = 'NoRespondersError';
}

/** The stream refused the message; `code` is JetStream's `err_code`, `status` its HTTP-like code. */
export class PubAckApiError extends Error {
  override name = 'JetStreamApiError';
  constructor(
    message: string,
    readonly code: number | undefined,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(ack: PubAck): void;
  reject(error: Error): void;
  deadline: number;
}

const SWEEP_MS = 50;

/** Sends JetStream publishes and matches their PubAcks. One per connection. */
export class PubAcks {
  readonly #prefix: string;
  readonly #pending = new Map<number, Pending>();
  readonly #sub: Subscription;
  readonly #sweep: NodeJS.Timeout;
  #next = 0;
  #closed = false;

  constructor(private readonly nc: NatsConnection) {
    const inbox = createInbox();
    this.#prefix = `${inbox}.`;
    this.#sub = nc.subscribe(`${inbox}.*`, { callback: (error, msg) => this.#reply(error, msg) });
    this.#sweep = setInterval(() => this.#expire(), SWEEP_MS);
    this.#sweep.unref();
  }

  /** Publish `body` to `subject` and resolve with its PubAck; reject after `timeoutMs` without one. */
  publish(subject: string, body: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<PubAck> {
    if (this.#closed) return Promise.reject(new ClosedError('the NATS connection is closed'));
    const id = this.#next++;
    return new Promise<PubAck>((resolve, reject) => {
      // Synchronous refusals (closed connection, payload over max_payload) reject right here.
      this.nc.publish(subject, body, { reply: this.#prefix + id, headers });
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + timeoutMs });
    });
  }

  #reply(error: Error | null, msg: Msg): void {
    if (error) {
      // The reply subscription itself failed (permissions, closed): nothing pending can be answered.
      this.#rejectAll(error);
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
          ? new PubAckNoRespondersError(`no stream answers on ${msg.subject}`)
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
      pending.reject(new PubAckTimeoutError('no PubAck in time'));
    }
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
    this.#sub.unsubscribe();
    this.#rejectAll(new ClosedError('the NATS connection is closed'));
  }
}
