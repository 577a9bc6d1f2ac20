/**
 * `QueueInspector` over JetStream: numbers from stream and consumer info, purge, delete, and
 * dead letters read by sequence (which consumes nothing) and replayed once each.
 */
import type { ConsumerInfo, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  NotFoundError,
  ValidationError,
  replayHeaders,
  toDeadLetter,
  HEADER,
  type Codec,
  type DeadLetter,
  type QueueInfo,
  type QueueInspector,
} from '@brokerkit/core/adapter';
import { isNotFound } from './errors.js';
import { mapClusterManagementError as mapManagementError } from './cluster-errors.js';
import {
  DLQ_STREAM_PREFIX,
  QUEUE_STREAM_PREFIX,
  consumerName,
  decodeName,
  dlqLogicalName,
  dlqOrigin,
  dlqStreamName,
  dlqSubject,
  presenceSubject,
  queueStreamName,
  queueSubject,
} from './names.js';
import type { Publisher } from './publisher.js';
import type { Topology } from './topology.js';
import { WIRE, plainBytes, readHeaders, storedHeaders } from './wire.js';

/** How long one replayed dead letter may wait for its PubAck (outages included). */

/**
 * A message a member gave back (`nak`, e.g. prefetched when it closed) stays ack-pending on the
 * server until it is delivered again. With no member left nothing is being handled, so every
 * unacked message is ready again and counts as depth.
 */
function readyAndInFlight(c: ConsumerInfo, consumers: number): { depth: number; inFlight: number } {
  return consumers === 0
    ? { depth: c.num_pending + c.num_ack_pending, inFlight: 0 }
    : { depth: c.num_pending, inFlight: c.num_ack_pending };
}

/** How long the member count waits after the last presence answer. */
const PRESENCE_STALL_MS = 100;

/** Create the inspector of one transport. */
export function createInspector(
  jsm: JetStreamManager,
  topology: Topology,
  publisher: Publisher,
  codec: Codec,
  nc: NatsConnection,
  publishTimeoutMs: number,
): QueueInspector {
  async function maybe<T>(p: Promise<T>): Promise<T | undefined> {
    try {
      return await p;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw mapManagementError(error, 'inspection');
    }
  }

  async function queueStreamInfo(queue: string) {
    return maybe(jsm.streams.info(queueStreamName(queue)));
  }

  /**
   * Pull consumers have no server-side subscription to count (waiting pull requests come and go
   * with load), so every member answers a presence probe and the answers are counted.
   */
  async function consumersOf(name: string): Promise<number> {
    let count = 0;
    try {
      const replies = await nc.requestMany(presenceSubject(name), undefined, {
        strategy: 'stall',
        stall: PRESENCE_STALL_MS,
        maxWait: 2_000,
      });
      for await (const reply of replies) if (reply.data.length === 0 && !reply.headers?.hasError) count++;
    } catch {
      // No responders: no members.
    }
    return count;
  }

  async function info(name: string): Promise<QueueInfo> {
    if (typeof name !== 'string' || name.length === 0)
      throw new ValidationError('queue name must be a non-empty string');
    const origin = dlqOrigin(name);
    if (origin !== undefined) {
      const s = await maybe(jsm.streams.info(dlqStreamName(origin)));
      if (!s) throw new NotFoundError(`dead-letter queue "${name}" does not exist`);
      return { name, kind: 'dlq', depth: s.state.messages, inFlight: 0, consumers: 0 };
    }
    const q = await queueStreamInfo(name);
    if (q) {
      const c = await maybe(jsm.consumers.info(q.config.name, consumerName(name)));
      const consumers = await consumersOf(name);
      if (!c) return { name, kind: 'queue', depth: q.state.messages, inFlight: 0, consumers };
      return { name, kind: 'queue', ...readyAndInFlight(c, consumers), consumers };
    }
    const group = await topology.findGroup(name);
    if (!group) throw new NotFoundError(`queue or group "${name}" does not exist`);
    const c = await maybe(jsm.consumers.info(group.stream, consumerName(name)));
    if (!c) throw new NotFoundError(`group "${name}" does not exist`);
    const consumers = await consumersOf(name);
    return { name, kind: 'group', ...readyAndInFlight(c, consumers), consumers };
  }

  async function listQueues(): Promise<QueueInfo[]> {
    const names: string[] = [];
    try {
      for await (const s of jsm.streams.names()) {
        if (s.startsWith(QUEUE_STREAM_PREFIX)) names.push(decodeName(s.slice(QUEUE_STREAM_PREFIX.length)));
        else if (s.startsWith(DLQ_STREAM_PREFIX))
          names.push(dlqLogicalName(decodeName(s.slice(DLQ_STREAM_PREFIX.length))));
      }
      for (const stream of await topology.eventStreams()) {
        for await (const c of jsm.consumers.list(stream)) {
          if (c.config.durable_name) names.push(decodeName(c.config.durable_name));
        }
      }
    } catch (error) {
      throw mapManagementError(error, 'queue list');
    }
    const infos = await Promise.all(names.map((n) => info(n).catch(() => undefined)));
    return infos.filter((i): i is QueueInfo => i !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  async function purge(name: string): Promise<number> {
    const origin = dlqOrigin(name);
    if (origin !== undefined) return purgeStream(dlqStreamName(origin), name);
    if (await queueStreamInfo(name)) return purgeStream(queueStreamName(name), name);
    const group = await topology.findGroup(name);
    if (!group) throw new NotFoundError(`queue or group "${name}" does not exist`);
    return purgeGroup(name, group.stream, group.pattern);
  }

  async function purgeStream(stream: string, name: string): Promise<number> {
    try {
      return (await jsm.streams.purge(stream)).purged;
    } catch (error) {
      throw mapManagementError(error, `queue "${name}"`);
    }
  }

  /**
   * A group shares its stream with other groups, so purging the stream would take their messages
   * too: the group's durable is re-created at the stream's end instead (members resume on it).
   */
  async function purgeGroup(group: string, stream: string, pattern: string): Promise<number> {
    const name = consumerName(group);
    try {
      const c = await jsm.consumers.info(stream, name);
      await jsm.consumers.delete(stream, name);
      await jsm.consumers.add(stream, {
        ...c.config,
        deliver_policy: c.config.deliver_policy,
        filter_subject: pattern,
      });
      return c.num_pending;
    } catch (error) {
      throw mapManagementError(error, `group "${group}"`);
    }
  }

  async function deleteQueue(name: string): Promise<void> {
    const origin = dlqOrigin(name);
    if (origin !== undefined) {
      await deleteStream(dlqStreamName(origin));
      return;
    }
    let found = false;
    if (await queueStreamInfo(name)) {
      found = true;
      await deleteStream(queueStreamName(name));
    } else {
      const group = await topology.findGroup(name);
      if (group) {
        found = true;
        await maybe(jsm.consumers.delete(group.stream, consumerName(name)));
      }
    }
    const dlq = await deleteStream(dlqStreamName(name));
    if (!found && !dlq) throw new NotFoundError(`queue or group "${name}" does not exist`);
    publisher.forgetAll();
  }

  async function deleteStream(stream: string): Promise<boolean> {
    topology.forget(stream);
    return (await maybe(jsm.streams.delete(stream))) !== undefined;
  }

  /** Dead letters from the first one on, in order, skipping deleted sequences. */
  async function readDeadLetters(origin: string, limit: number): Promise<StoredMsg[]> {
    const stream = dlqStreamName(origin);
    const s = await maybe(jsm.streams.info(stream));
    if (!s) {
      if ((await queueStreamInfo(origin)) || (await topology.findGroup(origin))) return [];
      throw new NotFoundError(`queue or group "${origin}" does not exist`);
    }
    const out: StoredMsg[] = [];
    let seq = s.state.first_seq;
    const last = s.state.last_seq;
    while (out.length < limit && seq <= last && s.state.messages > 0) {
      // next_by_subj returns the first stored message at or after `seq`: holes cost nothing.
      const m = await maybe(
        jsm.streams.getMessage(stream, { seq, next_by_subj: dlqSubject(origin) } as unknown as {
          seq: number;
        }),
      );
      if (!m) break;
      out.push(m);
      seq = m.seq + 1;
    }
    return out;
  }

  // Core's inspector wrapper has validated names and applied the limits' defaults.
  async function peekDeadLetters(queue: string, limit: number): Promise<DeadLetter[]> {
    const stored = await readDeadLetters(queue, limit);
    return stored.map((m) => {
      const meta = readHeaders(m.header);
      return toDeadLetter(
        {
          id: meta.id,
          body: plainBytes(m.data),
          headers: meta.headers,
          contentType: meta.contentType,
          timestamp: meta.timestamp ?? m.time,
          topic: m.subject,
        },
        codec,
      );
    });
  }

  async function replayDeadLetters(queue: string, options: { limit?: number }): Promise<number> {
    const n = options.limit ?? Number.MAX_SAFE_INTEGER;
    const stream = dlqStreamName(queue);
    let moved = 0;
    while (moved < n) {
      const batch = await readDeadLetters(queue, Math.min(100, n - moved));
      if (batch.length === 0) break;
      for (const m of batch) {
        const meta = readHeaders(m.header);
        const headers = replayHeaders(meta.headers);
        const isQueue = (await queueStreamInfo(queue)) !== undefined;
        let subject: string;
        if (isQueue) {
          await topology.ensureQueueStream(queue);
          subject = queueSubject(queue);
        } else {
          // A group's messages live in the shared event stream: every other subscriber skips this one.
          subject = meta.headers[HEADER.topic] ?? m.subject;
          headers[WIRE.replayTo] = queue;
        }
        const stored = storedHeaders(
          headers,
          { id: meta.id, contentType: meta.contentType, timestamp: meta.timestamp ?? m.time },
          `replay:${stream}:${m.seq}:${meta.id ?? ''}`,
        );
        await publisher.publishStored(subject, m.data, stored, publishTimeoutMs);
        await maybe(jsm.streams.deleteMessage(stream, m.seq, false));
        moved++;
        if (moved >= n) break;
      }
    }
    return moved;
  }

  return { listQueues, queueInfo: info, purge, deleteQueue, peekDeadLetters, replayDeadLetters };
}
