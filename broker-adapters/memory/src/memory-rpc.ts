/**
 * Request / reply in process. Responders register with a hub shared by every connection to one
 * `memory://<name>` broker, so a request from one connection reaches responders of another, as on
 * a server. A request goes to every ungrouped responder whose pattern matches and to one member of
 * each matching group (round robin, preferring a member with a free slot); the first reply wins
 * and later ones are dropped. Nobody matching is `BK_NO_RESPONDERS` at once: the hub knows.
 *
 * Requests and events are apart: the hub has its own routing, so `publish` never reaches a
 * responder and a request never reaches `subscribe`.
 */
import {
  ClosedError,
  DeliveryLoop,
  NoRespondersError,
  TimeoutError,
  compilePattern,
} from '@brokerkit/core/adapter';
import type {
  AnswerFn,
  OutgoingMessage,
  RawDelivery,
  RequestReplyTransport,
  ResponderSpec,
  TopicMatcher,
  TransportRequestOptions,
  TransportSubscription,
} from '@brokerkit/core/adapter';
import type { MemoryBroker } from './memory-broker.js';
import { copyBody } from './stored-message.js';

/**
 * A request or reply as the other side receives it, with bytes of its own (as `publish` does): a
 * caller reusing its buffer after `request`, or a responder changing the buffer it returned, changes
 * nothing in flight.
 */
function toRaw(message: OutgoingMessage): RawDelivery {
  return {
    topic: message.destination,
    body: copyBody(message.body),
    headers: message.headers,
    contentType: message.contentType,
    id: message.id,
    timestamp: message.timestamp,
    attempt: 1,
    redelivered: false,
  };
}

function withOwnBody(delivery: RawDelivery): RawDelivery {
  return { ...delivery, body: copyBody(delivery.body) };
}

/** One request waiting for its first reply. */
class PendingRequest {
  /** The requester has its answer, or gave up (timeout, close). */
  settled = false;
  /** The requester gave up: a responder that has not started it yet skips it. */
  expired = false;
  timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly resolve: (reply: RawDelivery) => void,
    private readonly reject: (error: Error) => void,
    private readonly owner: Set<PendingRequest>,
  ) {
    owner.add(this);
  }

  answer(reply: RawDelivery): void {
    if (this.settled) return; // a later reply of another responder
    this.#end();
    this.resolve(reply);
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.expired = true;
    this.#end();
    this.reject(error);
  }

  #end(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.owner.delete(this);
  }
}

/** A request as one responder's dispatch loop holds it. */
interface Job {
  readonly request: RawDelivery;
  readonly pending: PendingRequest;
}

/** One `respond` call: its pattern and group, running its requests on core's dispatch loop. */
class MemoryResponder {
  readonly matcher: TopicMatcher;
  readonly loop: DeliveryLoop<Job, undefined, OutgoingMessage>;

  constructor(
    readonly spec: ResponderSpec,
    answer: AnswerFn,
    report: (error: Error) => void,
  ) {
    this.matcher = compilePattern(spec.pattern);
    this.loop = new DeliveryLoop<Job, undefined, OutgoingMessage>({
      concurrency: spec.concurrency,
      deliver: answer,
      // Nobody waits for it any more: no point running the handler.
      // Each responder its own copy: ungrouped responders share one request, and a handler may
      // write to `msg.data`.
      toDelivery: (job) => (job.pending.expired ? undefined : withOwnBody(job.request)),
      settle: (job, _none, reply) => job.pending.answer(toRaw(reply)),
      // Only a throwing settle gets here; the requester then learns it at once.
      release: (job, _none, error) => job.pending.fail(error),
      report,
    });
  }

  /** True when a request given to it now would start at once. */
  get free(): boolean {
    return this.loop.running < this.spec.concurrency && this.loop.waiting === 0;
  }
}

/** Members of one group on one pattern, taking turns. */
interface GroupMembers {
  readonly members: MemoryResponder[];
  next: number;
}

/** The responders of one in-process broker, shared by its connections. */
class RpcHub {
  readonly #ungrouped = new Set<MemoryResponder>();
  /** By group and pattern: a group on another pattern is another group (as NATS queue groups). */
  readonly #groups = new Map<string, GroupMembers>();

  add(responder: MemoryResponder): void {
    const group = responder.spec.group;
    if (group === undefined) {
      this.#ungrouped.add(responder);
      return;
    }
    const key = `${group}\u0000${responder.spec.pattern}`;
    let entry = this.#groups.get(key);
    if (entry === undefined) {
      entry = { members: [], next: 0 };
      this.#groups.set(key, entry);
    }
    entry.members.push(responder);
  }

  remove(responder: MemoryResponder): void {
    const group = responder.spec.group;
    if (group === undefined) {
      this.#ungrouped.delete(responder);
      return;
    }
    const key = `${group}\u0000${responder.spec.pattern}`;
    const entry = this.#groups.get(key);
    if (entry === undefined) return;
    const i = entry.members.indexOf(responder);
    if (i !== -1) entry.members.splice(i, 1);
    if (entry.members.length === 0) this.#groups.delete(key);
  }

  /** Who receives a request to `topic`: every matching ungrouped responder, one per matching group. */
  targets(topic: string): MemoryResponder[] {
    const out: MemoryResponder[] = [];
    for (const responder of this.#ungrouped) if (responder.matcher(topic)) out.push(responder);
    for (const entry of this.#groups.values()) {
      const members = entry.members;
      if (!members[0]!.matcher(topic)) continue; // one pattern per entry
      out.push(pick(entry));
    }
    return out;
  }
}

/** Round robin, skipping members that are busy while another has a free slot. */
function pick(entry: GroupMembers): MemoryResponder {
  const members = entry.members;
  const n = members.length;
  for (let i = 0; i < n; i++) {
    const index = (entry.next + i) % n;
    if (members[index]!.free) {
      entry.next = (index + 1) % n;
      return members[index]!;
    }
  }
  const index = entry.next % n;
  entry.next = (index + 1) % n;
  return members[index]!;
}

const hubs = new WeakMap<MemoryBroker, RpcHub>();

function hubOf(broker: MemoryBroker): RpcHub {
  let hub = hubs.get(broker);
  if (hub === undefined) {
    hub = new RpcHub();
    hubs.set(broker, hub);
  }
  return hub;
}

/** The request/reply capability of one memory connection. */
export class MemoryRequestReply implements RequestReplyTransport {
  readonly #hub: RpcHub;
  readonly #pending = new Set<PendingRequest>();
  #closed = false;

  constructor(
    broker: MemoryBroker,
    private readonly report: (error: Error) => void,
  ) {
    this.#hub = hubOf(broker);
  }

  request(message: OutgoingMessage, options: TransportRequestOptions): Promise<RawDelivery> {
    if (this.#closed) return Promise.reject(new ClosedError());
    const topic = message.destination;
    const targets = this.#hub.targets(topic);
    if (targets.length === 0) return Promise.reject(new NoRespondersError(`no responder for ${topic}`));
    return new Promise<RawDelivery>((resolve, reject) => {
      const pending = new PendingRequest(resolve, reject, this.#pending);
      pending.timer = setTimeout(
        () => pending.fail(new TimeoutError(`no reply to ${topic} within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
      const request = toRaw(message);
      // On a microtask, as every memory delivery: a handler never runs inside the call that caused it.
      queueMicrotask(() => {
        for (const responder of targets) responder.loop.push({ request, pending }, undefined);
      });
    });
  }

  async respond(spec: ResponderSpec, answer: AnswerFn): Promise<TransportSubscription> {
    const responder = new MemoryResponder(spec, answer, this.report);
    this.#hub.add(responder);
    let closing: Promise<void> | undefined;
    const hub = this.#hub;
    return {
      close() {
        closing ??= (async () => {
          hub.remove(responder);
          // Requests it has taken are answered: their requesters are waiting.
          while (responder.loop.size > 0) await responder.loop.idle();
        })();
        return closing;
      },
    };
  }

  /** Requests still waiting for a reply reject with `BK_CLOSED`. */
  close(): void {
    this.#closed = true;
    for (const pending of [...this.#pending]) {
      pending.fail(new ClosedError('the broker was closed while the request waited for its reply'));
    }
  }
}
