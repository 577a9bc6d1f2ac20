/**
 * Request / reply on core NATS. Every reply of a connection arrives on one muxed
 * `_INBOX.<nuid>.*` subscription (`reply-inbox.ts`), so any number of requests in flight share
 * it. A responder is a core subscription on the pattern (`queue` = its group, so a group's
 * members share the requests), and a reply is a plain publish to the request's reply subject.
 * Subjects are the topics as they are: a plain NATS client can call a brokerkit responder and be
 * called by brokerkit. No responder is the server's 503 status: `BK_NO_RESPONDERS` at once.
 *
 * Requests and events share the subject space on NATS, so two rules keep them apart for
 * brokerkit's own traffic: a brokerkit request carries {@link WIRE.request} (ephemeral
 * subscriptions skip it), and a responder skips what is not a request (no reply subject, or a
 * brokerkit event: a timestamp header without the request mark). A JetStream stream, though,
 * captures every subject it covers: keep request topics under a first token that carries no
 * events. A request a stream captured is answered by its PubAck, which is refused here with
 * `BK_CONFIG` rather than handed over as the reply.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  BrokerUnavailableError,
  ClosedError,
  ConfigurationError,
  DeliveryLoop,
  PayloadTooLargeError,
  errorReply,
  isBrokerkitError,
} from '@brokerkit/core/adapter';
import type {
  AnswerFn,
  OutgoingMessage,
  RawDelivery,
  RequestReplyTransport,
  ResponderSpec,
  TransportHooks,
  TransportRequestOptions,
  TransportSubscription,
} from '@brokerkit/core';
import type { Connection } from './connection.js';
import { isClosedConnection, isPayloadTooLarge, mapPublishError } from './errors.js';
import { rawHeaderLength } from './nats-internals.js';
import { ReplyInbox } from './reply-inbox.js';
import { WIRE, outgoingHeaders, plainBytes, receivedHeaders } from './wire.js';

/** The header that marks a brokerkit request (value `1`). */
const REQUEST_MARK: Readonly<Record<string, string>> = Object.freeze({ [WIRE.request]: '1' });
/** How a JetStream PubAck starts: what a stream answers to a message it stored. */
const PUB_ACK_START = '{"stream":';

/** The request/reply capability of one NATS connection. */
export class NatsRequestReply implements RequestReplyTransport {
  #closed = false;
  readonly #inbox: ReplyInbox;

  constructor(
    private readonly conn: Connection,
    private readonly hooks: TransportHooks,
    /** Requests one responder holds waiting for a handler before it drops further ones (reported). */
    private readonly maxPending: number,
  ) {
    this.#inbox = new ReplyInbox(conn.nc);
  }

  async request(message: OutgoingMessage, options: TransportRequestOptions): Promise<RawDelivery> {
    const subject = message.destination;
    const deadline = Date.now() + options.timeoutMs;
    // While disconnected nats.js would buffer the request and its deadline would run out meanwhile.
    if (!this.conn.connected) await this.conn.waitConnected(options.timeoutMs);
    const headers = outgoingHeaders(message, REQUEST_MARK);
    let reply: Msg;
    try {
      reply = await this.#inbox.request(subject, message.body, headers, Math.max(1, deadline - Date.now()));
    } catch (error) {
      throw this.#mapError(error, subject, options.timeoutMs);
    }
    const meta = receivedHeaders(reply);
    const body = plainBytes(reply.data);
    const hdr = rawHeaderLength(reply);
    const noHeaders = hdr === 0 || (hdr === -1 && reply.headers === undefined);
    if (noHeaders && isPubAck(body)) {
      throw new ConfigurationError(
        `the request to ${subject} was stored by a JetStream stream, which answered with its PubAck: ` +
          `keep request topics under a first token that carries no events`,
      );
    }
    return {
      topic: subject,
      body,
      headers: meta.headers,
      contentType: meta.contentType,
      id: meta.id,
      timestamp: meta.timestamp,
      attempt: 1,
      redelivered: false,
    };
  }

  async respond(spec: ResponderSpec, answer: AnswerFn): Promise<TransportSubscription> {
    const nc = this.conn.nc;
    const responder = new NatsResponder(nc, spec, answer, this.hooks, this.maxPending);
    responder.attach(
      nc.subscribe(spec.pattern, {
        queue: spec.group,
        callback: (error, msg) => responder.receive(error, msg),
      }),
    );
    // Live once the server has the subscription: a request sent after this is delivered.
    await nc.flush();
    return responder;
  }

  /** Called before the connection closes: requests still waiting end with `BK_CLOSED`. */
  close(): void {
    this.#closed = true;
    this.#inbox.close();
  }

  #mapError(error: unknown, subject: string, timeoutMs: number): Error {
    if (this.#closed || isClosedConnection(error)) {
      return new ClosedError('the broker was closed while the request waited for its reply', {
        cause: error,
      });
    }
    // A deadline that ran out while the connection was down is an outage, not a slow responder.
    if (isBrokerkitError(error, 'BK_TIMEOUT') && !this.conn.connected) {
      return new BrokerUnavailableError(
        `no reply to ${subject} within ${timeoutMs} ms: NATS was unreachable`,
        {
          cause: error,
        },
      );
    }
    return mapPublishError(error, subject);
  }
}

function isPubAck(body: Uint8Array): boolean {
  if (body.byteLength < PUB_ACK_START.length || body[0] !== 0x7b /* { */) return false;
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (!text.startsWith(PUB_ACK_START)) return false;
  try {
    const ack = JSON.parse(text) as { stream?: unknown; seq?: unknown };
    return typeof ack.stream === 'string' && typeof ack.seq === 'number';
  } catch {
    return false;
  }
}

/** One `respond` call: a core subscription feeding core's dispatch loop, each reply published back. */
class NatsResponder implements TransportSubscription {
  #sub: Subscription | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  /** Requests waiting for or running a handler, each with its reply subject. */
  readonly #requests: DeliveryLoop<RawDelivery, string, OutgoingMessage>;
  #dropped = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly spec: ResponderSpec,
    answer: AnswerFn,
    private readonly hooks: TransportHooks,
    private readonly maxPending: number,
  ) {
    this.#requests = new DeliveryLoop<RawDelivery, string, OutgoingMessage>({
      concurrency: spec.concurrency,
      deliver: answer,
      toDelivery: (request) => request,
      settle: (request, replyTo, reply) => this.#reply(request, replyTo, reply),
      // Nothing keeps a core NATS request: its requester times out.
      release: () => undefined,
      report: (error) => this.hooks.error(error),
    });
  }

  attach(sub: Subscription): void {
    this.#sub = sub;
  }

  receive(error: Error | null, msg: Msg): void {
    if (error) {
      this.hooks.error(error);
      return;
    }
    const replyTo = msg.reply;
    // Not a request: a plain publish has nothing to answer.
    if (this.#closing || !replyTo) return;
    const meta = receivedHeaders(msg);
    // A brokerkit event (its JetStream publish has a PubAck reply subject) is not a request either.
    if (meta.timestamp !== undefined && meta.headers[WIRE.request] === undefined) return;
    if (this.#requests.waiting >= this.maxPending) {
      if (this.#dropped++ === 0) {
        this.hooks.error(
          new Error(
            `responder ${this.spec.pattern}: more than ${this.maxPending} requests waiting for the handler; dropping (their requesters time out)`,
          ),
        );
      }
      return;
    }
    this.#dropped = 0;
    const request: RawDelivery = {
      topic: msg.subject,
      body: plainBytes(msg.data),
      headers: meta.headers,
      contentType: meta.contentType,
      id: meta.id,
      timestamp: meta.timestamp,
      attempt: 1,
      redelivered: false,
    };
    this.#requests.push(request, replyTo);
  }

  #reply(request: RawDelivery, replyTo: string, reply: OutgoingMessage): void {
    try {
      this.nc.publish(replyTo, reply.body, { headers: outgoingHeaders(reply) });
    } catch (error) {
      if (!isPayloadTooLarge(error)) throw mapPublishError(error, replyTo);
      // The requester learns why instead of waiting out its timeout.
      const tooLarge = new PayloadTooLargeError(
        `the reply to ${request.topic} exceeds the server's max_payload`,
        { cause: error },
      );
      const fallback = errorReply(tooLarge, request.topic);
      this.nc.publish(replyTo, fallback.body, { headers: outgoingHeaders(fallback) });
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#sub?.unsubscribe();
    // Once the server has the unsubscribe, a new request gets its no-responders status.
    await this.nc.flush().catch(() => undefined);
    // Requests it took are answered: their requesters are waiting.
    while (this.#requests.size > 0) await this.#requests.idle();
  }
}
