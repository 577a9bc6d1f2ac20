/**
 * Request / reply on Redis lists (README: "Request / reply").
 *
 * **Responders.** Each `respond` is a member of a *route*: its own without a group, or the one
 * its group's members share on the same pattern. A route is a field of `bk:rpc:routes:<first
 * token>` (patterns starting with a wildcard: `bk:rpc:routes-wild`) → its pattern, a sorted set of
 * live members (`bk:rpc:m:<route>`, presence with a TTL) and a list of waiting requests
 * (`bk:rpc:q:<route>`). A member pops requests (`BLMPOP … COUNT <free slots>`, on a connection of
 * its own) only for its free handler slots, so a group's members take turns by being free.
 *
 * **Requests** are one script: `LPUSH` onto the list of every matching route with a live member,
 * the list's TTL raised to the request's timeout. No such route is `BK_NO_RESPONDERS` at once.
 * Replies of every request of one broker come back on ONE list, `bk:rpc:reply:<owner>`, read by one
 * blocking connection (`BLMPOP … COUNT 512`) and matched by correlation id; a list, not Pub/Sub,
 * so a reply pushed while that connection is re-connecting waits for it instead of being lost.
 *
 * **Frames.** A request or reply is one list element: a 4-byte big-endian length, a JSON array
 * (correlation id, reply list, deadline, topic, message id, content type, time, headers; a reply:
 * correlation id, message id, content type, time, headers), then the body bytes as they are.
 *
 * Nothing here is durable on purpose: a request is worth nothing once its requester stopped
 * waiting. A responder that crashed holding requests leaves their requesters to time out; one that
 * crashed idle stays a route until its presence expires (then `BK_NO_RESPONDERS` again).
 */
import type { Redis } from 'ioredis';
import {
  BrokerError,
  BrokerUnavailableError,
  ClosedError,
  DeliveryLoop,
  NoRespondersError,
  PayloadTooLargeError,
  TimeoutError,
  errorReply,
  firstToken,
} from '@brokerkit/core/adapter';
import type {
  AnswerFn,
  Headers,
  OutgoingMessage,
  RawDelivery,
  RequestReplyTransport,
  ResponderSpec,
  TransportHooks,
  TransportRequestOptions,
  TransportSubscription,
} from '@brokerkit/core';
import type { Connection } from './connection.js';
import { corkForTick } from './cork.js';
import { isConnectionError, mapRedisError } from './errors.js';
import {
  RPC_PREFIX,
  RPC_WILD_ROUTES_KEY,
  consumerName,
  rpcMembersKey,
  rpcQueueKey,
  rpcReplyKey,
  rpcRouteId,
  rpcRoutesKey,
} from './names.js';
import { MAX_BODY_BYTES } from './publisher.js';
import { RPC_LEAVE, RPC_REGISTER, RPC_REPLY, RPC_REQUEST } from './scripts.js';
import { asBuffer } from './wire.js';

/** Longest one blocking read waits before it is issued again (seconds, as BLMPOP takes it). */
const READ_BLOCK_S = 5;
/** Replies taken per read of the reply list. */
const REPLY_BATCH = 512;
/** How often a responder refreshes its presence, and how long a presence lasts without. */
const PRESENCE_EVERY_MS = 5_000;
const PRESENCE_TTL_MS = 15_000;
/** TTL of a reply list, renewed by every reply: a requester that died leaves it for this long. */
const REPLY_TTL_MS = 60_000;
/**
 * A request is skipped once its deadline (the requester's clock) is this far behind the
 * responder's clock: nobody waits for its answer any more. The slack absorbs clock skew.
 */
const EXPIRED_SLACK_MS = 1_000;

const EMPTY_HEADERS = Object.freeze({}) as Headers;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

// -- frames ------------------------------------------------------------------------------------

/** One list element: length of the JSON head, the head, the body. */
export function encodeFrame(head: readonly unknown[], body: Uint8Array): Buffer {
  const json = JSON.stringify(head);
  const headBytes = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(4 + headBytes + body.byteLength);
  frame.writeUInt32BE(headBytes, 0);
  frame.write(json, 4, 'utf8');
  frame.set(body, 4 + headBytes);
  return frame;
}

/** The head and body of a frame, or undefined when it is not one (written by another client). */
export function decodeFrame(frame: Buffer): [unknown[], Buffer] | undefined {
  if (frame.length < 4) return undefined;
  const headBytes = frame.readUInt32BE(0);
  if (4 + headBytes > frame.length) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(frame.toString('utf8', 4, 4 + headBytes));
  } catch {
    return undefined;
  }
  if (!Array.isArray(head)) return undefined;
  return [head, frame.subarray(4 + headBytes)];
}

function headersOf(value: unknown): Headers {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return EMPTY_HEADERS;
  return value as Headers;
}

function dateOf(value: unknown): Date | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? new Date(value) : undefined;
}

/** The routes hash a pattern's route lives in: by its first token, or the wildcard one. */
function routesKeyOf(pattern: string): string {
  const token = firstToken(pattern);
  return token === '*' || token === '>' ? RPC_WILD_ROUTES_KEY : rpcRoutesKey(token);
}

// -- requester ---------------------------------------------------------------------------------

interface PendingRequest {
  readonly topic: string;
  readonly resolve: (reply: RawDelivery) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** The request/reply capability of one Redis transport. */
export class RedisRequestReply implements RequestReplyTransport {
  readonly #replyKey = rpcReplyKey(consumerName());
  readonly #pending = new Map<string, PendingRequest>();
  readonly #responders = new Set<RedisResponder>();
  #reader: Redis | undefined;
  #next = 0;
  #closed = false;

  constructor(
    private readonly conn: Connection,
    private readonly hooks: TransportHooks,
  ) {}

  async request(message: OutgoingMessage, options: TransportRequestOptions): Promise<RawDelivery> {
    if (this.#closed) throw new ClosedError();
    const topic = message.destination;
    if (message.body.byteLength > MAX_BODY_BYTES) {
      throw new PayloadTooLargeError(
        `request of ${message.body.byteLength} bytes for ${topic} exceeds Redis' ${MAX_BODY_BYTES}-byte value limit`,
      );
    }
    const deadline = Date.now() + options.timeoutMs;
    this.#listen();
    const conn = this.conn;
    if (!conn.ready) await conn.waitReady(options.timeoutMs);
    if (this.#closed) throw new ClosedError('the broker was closed before the request was sent');
    const id = (this.#next++).toString(36);
    const remaining = Math.max(1, deadline - Date.now());
    const frame = encodeFrame(
      [
        id,
        this.#replyKey,
        deadline,
        topic,
        message.id,
        message.contentType,
        message.timestamp.getTime(),
        message.headers,
      ],
      message.body,
    );
    return new Promise<RawDelivery>((resolve, reject) => {
      const pending: PendingRequest = { topic, resolve, reject, timer: undefined };
      pending.timer = setTimeout(() => {
        if (this.#pending.get(id) !== pending) return;
        this.#pending.delete(id);
        reject(
          conn.ready
            ? new TimeoutError(`no reply to ${topic} within ${options.timeoutMs} ms`)
            : new BrokerUnavailableError(
                `no reply to ${topic} within ${options.timeoutMs} ms: Redis at ${conn.where} was unreachable`,
              ),
        );
      }, remaining);
      this.#pending.set(id, pending);
      corkForTick(conn.cmd);
      RPC_REQUEST.run(
        conn.cmd,
        [rpcRoutesKey(firstToken(topic)), RPC_WILD_ROUTES_KEY],
        [topic, remaining, RPC_PREFIX, frame],
      ).then(
        (sent) => {
          if (sent === 0) this.#settle(id, undefined, new NoRespondersError(`no responder for ${topic}`));
        },
        (error: unknown) => this.#settle(id, undefined, mapRedisError(error, `request ${topic}`)),
      );
    });
  }

  async respond(spec: ResponderSpec, answer: AnswerFn): Promise<TransportSubscription> {
    if (this.#closed) throw new ClosedError();
    const responder = new RedisResponder(this.conn, spec, answer, this.hooks);
    this.#responders.add(responder);
    try {
      await responder.start();
    } catch (error) {
      this.#responders.delete(responder);
      await responder.close();
      throw mapRedisError(error, `respond to ${spec.pattern}`);
    }
    return {
      close: () => responder.close().finally(() => this.#responders.delete(responder)),
    };
  }

  /** Requests still waiting end with `BK_CLOSED`; the reply connection closes. Responders first. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#responders].map((r) => r.close()));
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const pending of all) {
      clearTimeout(pending.timer);
      pending.reject(new ClosedError('the broker was closed while the request waited for its reply'));
    }
    this.#reader?.disconnect();
    this.#reader = undefined;
  }

  /** Start reading the reply list (once, at the first request): replies wait in it until then. */
  #listen(): void {
    if (this.#reader !== undefined) return;
    const reader = this.conn.openReader();
    this.#reader = reader;
    void this.#readReplies(reader);
  }

  async #readReplies(reader: Redis): Promise<void> {
    while (!this.#closed && this.#reader === reader) {
      try {
        const reply = (await reader.callBuffer(
          'BLMPOP',
          READ_BLOCK_S,
          1,
          this.#replyKey,
          'LEFT',
          'COUNT',
          REPLY_BATCH,
        )) as [Buffer, Buffer[]] | null;
        if (reply) for (const frame of reply[1]) this.#received(frame);
      } catch (error) {
        if (this.#closed) break;
        if (!isConnectionError(error) && this.conn.ready)
          this.hooks.error(mapRedisError(error, 'read replies'));
        await pause(100);
      }
    }
  }

  #received(frame: Buffer): void {
    const decoded = decodeFrame(frame);
    if (decoded === undefined) return;
    const [head, body] = decoded;
    const id = head[0];
    if (typeof id !== 'string') return;
    const pending = this.#pending.get(id);
    // A late reply (the requester timed out) or a second responder's: nobody waits for it.
    if (pending === undefined) return;
    this.#settle(id, {
      topic: pending.topic,
      body,
      headers: headersOf(head[4]),
      contentType: typeof head[2] === 'string' ? head[2] : undefined,
      id: typeof head[1] === 'string' ? head[1] : undefined,
      timestamp: dateOf(head[3]),
      attempt: 1,
      redelivered: false,
    });
  }

  #settle(id: string, reply: RawDelivery | undefined, error?: Error): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(reply!);
  }
}

// -- responder ---------------------------------------------------------------------------------

/** A request as a responder holds it: what core answers, and where the reply goes. */
interface Request {
  readonly delivery: RawDelivery;
  readonly correlation: string;
  readonly replyKey: string;
  readonly deadline: number;
}

/** One `respond` call: a member of its route, popping requests for its free slots. */
class RedisResponder implements TransportSubscription {
  readonly #route: string;
  readonly #routes: string;
  readonly #members: string;
  readonly #queue: string;
  readonly #member = consumerName();
  readonly #cmd: Redis;
  readonly #reader: Redis;
  #readerId: number | undefined;
  #readerWasReady = false;
  readonly #loop: DeliveryLoop<Request, undefined, OutgoingMessage>;
  readonly #presence: NodeJS.Timeout;
  readonly #label: string;
  #closing = false;
  #closed: Promise<void> | undefined;
  #reading: Promise<void> | undefined;
  #wakeReader: (() => void) | undefined;

  constructor(
    private readonly conn: Connection,
    private readonly spec: ResponderSpec,
    answer: AnswerFn,
    private readonly hooks: TransportHooks,
  ) {
    this.#route = rpcRouteId(spec.pattern, spec.group);
    this.#routes = routesKeyOf(spec.pattern);
    this.#members = rpcMembersKey(this.#route);
    this.#queue = rpcQueueKey(this.#route);
    this.#label = `responder to ${spec.pattern}${spec.group === undefined ? '' : ` (group ${spec.group})`}`;
    this.#cmd = conn.cmd;
    this.#loop = new DeliveryLoop<Request, undefined, OutgoingMessage>({
      concurrency: spec.concurrency,
      deliver: answer,
      // Nobody waits for the answer any more: no point running the handler.
      toDelivery: (r) => (Date.now() > r.deadline + EXPIRED_SLACK_MS ? undefined : r.delivery),
      settle: (r, _none, reply) => this.#reply(r, reply),
      // A reply that could not be written: its requester times out (a request is not kept).
      release: () => undefined,
      report: (error) => hooks.error(error),
      onFree: () => {
        if (this.#loop.size < this.spec.concurrency) this.#wakeReader?.();
      },
    });
    this.#reader = conn.openReader();
    this.#reader.on('ready', () => {
      this.#readerId = undefined;
      // Back after an outage: the server may have lost the route (a restart without persistence).
      if (this.#readerWasReady && !this.#closing) void this.#register().catch(() => undefined);
      this.#readerWasReady = true;
    });
    this.#presence = setInterval(() => {
      if (this.#closing || !this.conn.ready) return;
      this.#register().catch((error: unknown) => this.#reportUnlessOutage(error, 'refresh presence'));
    }, PRESENCE_EVERY_MS);
    this.#presence.unref();
  }

  /** Register the route and this member: requests sent from now on reach it. */
  async start(): Promise<void> {
    await this.#register();
    this.#reading = this.#read();
  }

  #register(): Promise<unknown> {
    return RPC_REGISTER.run(
      this.#cmd,
      [this.#routes, this.#members],
      [this.#route, this.spec.pattern, this.#member, PRESENCE_TTL_MS],
    );
  }

  async #read(): Promise<void> {
    while (!this.#closing) {
      const free = this.spec.concurrency - this.#loop.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.#wakeReader = resolve));
        this.#wakeReader = undefined;
        continue;
      }
      try {
        this.#readerId ??= Number(await this.#reader.client('ID'));
        if (this.#closing) break;
        const reply = (await this.#reader.callBuffer(
          'BLMPOP',
          READ_BLOCK_S,
          1,
          this.#queue,
          'RIGHT',
          'COUNT',
          free,
        )) as [Buffer, Buffer[]] | null;
        if (reply) for (const frame of reply[1]) this.#take(frame);
      } catch (error) {
        if (this.#closing) break;
        this.#reportUnlessOutage(error, `read requests of the ${this.#label}`);
        await pause(200);
      }
    }
  }

  /** One request popped from the route's list: answered, also while closing (its requester waits). */
  #take(frame: Buffer): void {
    const decoded = decodeFrame(frame);
    const head = decoded?.[0];
    if (
      decoded === undefined ||
      typeof head![0] !== 'string' ||
      typeof head![1] !== 'string' ||
      typeof head![3] !== 'string'
    ) {
      this.hooks.error(
        new BrokerError(`${this.#label}: skipped a list entry that is not a brokerkit request`),
      );
      return;
    }
    const h = head!;
    this.#loop.push(
      {
        correlation: h[0] as string,
        replyKey: h[1] as string,
        deadline: typeof h[2] === 'number' ? h[2] : Number.POSITIVE_INFINITY,
        delivery: {
          topic: h[3] as string,
          body: decoded[1],
          headers: headersOf(h[7]),
          contentType: typeof h[5] === 'string' ? h[5] : undefined,
          id: typeof h[4] === 'string' ? h[4] : undefined,
          timestamp: dateOf(h[6]),
          attempt: 1,
          redelivered: false,
        },
      },
      undefined,
    );
  }

  async #reply(request: Request, reply: OutgoingMessage): Promise<void> {
    const sent =
      reply.body.byteLength > MAX_BODY_BYTES
        ? errorReply(
            new PayloadTooLargeError(
              `the reply to ${request.delivery.topic} of ${reply.body.byteLength} bytes exceeds Redis' ${MAX_BODY_BYTES}-byte value limit`,
            ),
            reply.destination,
          )
        : reply;
    const frame = encodeFrame(
      [request.correlation, sent.id, sent.contentType, sent.timestamp.getTime(), sent.headers],
      asBuffer(sent.body),
    );
    corkForTick(this.#cmd);
    try {
      await RPC_REPLY.run(this.#cmd, [request.replyKey], [REPLY_TTL_MS, frame]);
    } catch (error) {
      throw mapRedisError(error, `reply to ${request.delivery.topic}`);
    }
  }

  #reportUnlessOutage(error: unknown, what: string): void {
    if (isConnectionError(error) || !this.conn.ready) return;
    this.hooks.error(mapRedisError(error, what));
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#presence);
    this.#wakeReader?.();
    await this.#stopReading();
    if (this.conn.ready) {
      try {
        // The last member takes what is left in the list: those requesters wait for an answer.
        const left = (await RPC_LEAVE.run(
          this.#cmd,
          [this.#routes, this.#members, this.#queue],
          [this.#route, this.#member],
          true,
        )) as Buffer[];
        for (let i = left.length - 1; i >= 0; i--) this.#take(left[i]!);
      } catch (error) {
        this.#reportUnlessOutage(error, `leave as the ${this.#label}`);
      }
    }
    // Requests it took are answered: their requesters are waiting.
    while (this.#loop.size > 0) await this.#loop.idle();
    this.#reader.disconnect();
  }

  /** End the blocking read without losing requests it may be returning (as the durable members do). */
  async #stopReading(): Promise<void> {
    const reading = this.#reading;
    if (reading === undefined) {
      return;
    }
    if (this.#reader.status !== 'ready') {
      this.#reader.disconnect();
      await reading;
      return;
    }
    let done = false;
    void reading.then(() => (done = true));
    for (let round = 0; round < 20 && !done; round++) {
      if (this.#readerId !== undefined && this.conn.ready) {
        await this.#cmd.client('UNBLOCK', this.#readerId).catch(() => 0);
      }
      await Promise.race([reading, pause(10 + 20 * round)]);
    }
    if (!done) this.#reader.disconnect();
    await reading;
  }
}
