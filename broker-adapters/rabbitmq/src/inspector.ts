/**
 * QueueInspector on RabbitMQ. Depth and consumers come from passive declares on throwaway
 * channels (exact, immediate); in-flight numbers and `listQueues()` across processes from the
 * management API when `managementUrl` is set.
 *
 * Peek design: `basic.get` without auto-ack on a dedicated channel, then close that channel, so
 * every message read goes back to its place in the queue. Nothing is consumed; the only trace is
 * the `redelivered` flag RabbitMQ sets on the messages peeked.
 */
import {
  BrokerError,
  ClosedError,
  NotFoundError,
  ValidationError,
  isBrokerkitError,
  replayHeaders,
  toDeadLetter,
} from '@brokerkit/core/adapter';
import type { Codec, DeadLetter, Headers, QueueInfo, QueueInspector, QueueKind } from '@brokerkit/core';
import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import type { ConnectionSupervisor } from './connection.js';
import { isNotFound, mapAmqpError } from './errors.js';
import type { ManagementClient, ManagedQueue } from './management.js';
import { PUBLISHED_AT_HEADER, copyProperties, publishedAt, stringHeaders } from './message.js';
import { deadLetterQueueName, isInternalQueue, kindOfMarker, parseRetryQueueName } from './names.js';
import type { ResolvedOptions } from './options.js';
import { durableQueueOptions } from './topology.js';
import type { Topology } from './topology.js';

const DLQ_SUFFIX = '.dlq';
const MARKER_ARG = 'x-dead-letter-routing-key';

/** Inspection and repair of brokerkit's queues on RabbitMQ. */
export class RabbitInspector implements QueueInspector {
  constructor(
    private readonly supervisor: ConnectionSupervisor,
    private readonly topology: Topology,
    private readonly options: ResolvedOptions,
    private readonly codec: Codec,
    private readonly management: ManagementClient | undefined,
  ) {}

  async listQueues(): Promise<QueueInfo[]> {
    if (this.supervisor.closed) throw new ClosedError();
    if (this.management) {
      const all = await this.management.listQueues();
      const buckets = bucketsByOrigin(all);
      const out: QueueInfo[] = [];
      for (const q of all) {
        const kind = kindOfMarker(q.arguments[MARKER_ARG]);
        if (kind === undefined || isInternalQueue(q.name)) continue;
        out.push(this.#fromManagement(q, kind, buckets.get(q.name) ?? []));
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    }
    const names: string[] = [];
    for (const name of this.topology.known.keys()) names.push(name, deadLetterQueueName(name));
    const infos = await Promise.all(
      names.map((name) =>
        this.queueInfo(name).catch((error: unknown) => {
          if (isBrokerkitError(error, 'BK_NOT_FOUND')) return undefined;
          throw error;
        }),
      ),
    );
    return infos.filter((i): i is QueueInfo => i !== undefined).sort((a, b) => a.name.localeCompare(b.name));
  }

  async queueInfo(name: string): Promise<QueueInfo> {
    this.#guard(name);
    if (this.management) {
      const all = await this.management.listQueues();
      const q = all.find((x) => x.name === name);
      const kind = q ? kindOfMarker(q.arguments[MARKER_ARG]) : undefined;
      if (q && kind) {
        // Depth from AMQP: exact now, where the management numbers lag by a few seconds.
        const live = await this.#check(name);
        const fromApi = this.#fromManagement(q, kind, bucketsByOrigin(all).get(name) ?? []);
        return { ...fromApi, depth: live.messageCount, consumers: live.consumerCount };
      }
    }
    const live = await this.#check(name);
    return {
      name,
      kind: await this.#kindOf(name),
      depth: live.messageCount,
      inFlight: null,
      consumers: live.consumerCount,
    };
  }

  async purge(name: string): Promise<number> {
    this.#guard(name);
    return this.#onChannel(`purging "${name}"`, async (channel) => {
      await channel.checkQueue(name);
      return (await channel.purgeQueue(name)).messageCount;
    });
  }

  async deleteQueue(name: string): Promise<void> {
    this.#guard(name);
    const buckets = new Set(this.topology.buckets.get(name) ?? []);
    if (this.management) {
      for (const q of await this.management.listQueues()) {
        if (parseRetryQueueName(q.name)?.origin === name) buckets.add(q.name);
      }
    }
    await this.#onChannel(`deleting "${name}"`, async (channel) => {
      await channel.checkQueue(name);
      await channel.deleteQueue(name);
      if (!name.endsWith(DLQ_SUFFIX)) await channel.deleteQueue(deadLetterQueueName(name));
      for (const bucket of buckets) await channel.deleteQueue(bucket);
    });
    this.topology.forgetQueue(name);
  }

  // Core's inspector wrapper has validated names and applied the limits' defaults.
  async peekDeadLetters(queue: string, limit: number): Promise<DeadLetter[]> {
    this.#guard(queue);
    const dlq = deadLetterQueueName(queue);
    const model = await this.supervisor.whenReady(this.options.connectTimeoutMs);
    const channel = await model.createChannel();
    channel.on('error', () => {});
    const letters: DeadLetter[] = [];
    try {
      await channel.checkQueue(dlq);
      while (letters.length < limit) {
        const message = await channel.get(dlq, { noAck: false });
        if (message === false) break;
        letters.push(this.#toDeadLetter(message, queue));
      }
    } catch (error) {
      throw mapAmqpError(error, `peeking dead letters of "${queue}"`);
    } finally {
      // Closing the channel returns every message read to its place in the queue.
      await channel.close().catch(() => {});
    }
    return letters;
  }

  async replayDeadLetters(queue: string, options: { limit?: number } = {}): Promise<number> {
    this.#guard(queue);
    const dlq = deadLetterQueueName(queue);
    const model = await this.supervisor.whenReady(this.options.connectTimeoutMs);
    const channel: ConfirmChannel = await model.createConfirmChannel();
    channel.on('error', () => {});
    const returned = new Set<string | undefined>();
    channel.on('return', (m: GetMessage) => returned.add(m.properties.messageId as string | undefined));
    try {
      await channel.checkQueue(queue);
      // Only what is there now: a replayed message that fails again comes back, and is not replayed twice.
      const { messageCount } = await channel.checkQueue(dlq);
      const limit = Math.min(options.limit ?? messageCount, messageCount);
      const taken: GetMessage[] = [];
      const confirms: Array<Promise<void>> = [];
      for (let i = 0; i < limit; i++) {
        const message = await channel.get(dlq, { noAck: false });
        if (message === false) break;
        taken.push(message);
        const headers: Headers = replayHeaders(stringHeaders(message.properties.headers));
        const ts = (message.properties.headers as Record<string, unknown> | undefined)?.[PUBLISHED_AT_HEADER];
        if (typeof ts === 'string') headers[PUBLISHED_AT_HEADER] = ts;
        confirms.push(
          new Promise<void>((resolve, reject) =>
            channel.publish('', queue, message.content, copyProperties(message, headers), (err: unknown) =>
              err ? reject(err) : resolve(),
            ),
          ),
        );
      }
      await Promise.all(confirms);
      let moved = 0;
      for (const message of taken) {
        if (returned.has(message.properties.messageId as string | undefined)) {
          channel.nack(message, false, true);
        } else {
          channel.ack(message);
          moved++;
        }
      }
      if (moved < taken.length) {
        throw new BrokerError(
          `"${queue}" could not take ${taken.length - moved} replayed message(s); they stay dead letters`,
        );
      }
      return moved;
    } catch (error) {
      throw mapAmqpError(error, `replaying dead letters of "${queue}"`);
    } finally {
      // Unacked messages (a failed publish) go back to the dead-letter queue.
      await channel.close().catch(() => {});
    }
  }

  /** Reject calls after the broker closed, and invalid names, before anything reaches RabbitMQ. */
  #guard(name: string): void {
    if (this.supervisor.closed) throw new ClosedError();
    checkName(name);
  }

  #toDeadLetter(message: GetMessage, queue: string): DeadLetter {
    const headers = stringHeaders(message.properties.headers);
    return toDeadLetter(
      {
        id: message.properties.messageId as string | undefined,
        body: message.content,
        headers,
        contentType: message.properties.contentType as string | undefined,
        timestamp: publishedAt(headers, message.properties.timestamp, message.properties.messageId),
        topic: headers['x-brokerkit-origin'] ?? queue,
      },
      this.codec,
    );
  }

  #fromManagement(q: ManagedQueue, kind: QueueKind, buckets: ManagedQueue[]): QueueInfo {
    let waiting = 0;
    for (const b of buckets) waiting += b.messages;
    return {
      name: q.name,
      kind,
      depth: q.messagesReady,
      inFlight: kind === 'dlq' ? q.messagesUnacknowledged : q.messagesUnacknowledged + waiting,
      consumers: q.consumers,
    };
  }

  #check(name: string): Promise<{ messageCount: number; consumerCount: number }> {
    return this.#onChannel(`inspecting "${name}"`, (channel) => channel.checkQueue(name));
  }

  /** Group or queue: from this process's declarations, else by re-declaring it as a work queue. */
  async #kindOf(name: string): Promise<QueueKind> {
    if (name.endsWith(DLQ_SUFFIX)) return 'dlq';
    const known = this.topology.known.get(name);
    if (known) return known;
    // An equal declaration is a no-op; a group's marker differs, so RabbitMQ refuses with 406.
    try {
      await this.supervisor.withChannel(this.options.connectTimeoutMs, (channel) =>
        channel.assertQueue(name, durableQueueOptions({ kind: 'queue' }, this.options.queueType)),
      );
      return 'queue';
    } catch {
      return 'group';
    }
  }

  async #onChannel<T>(what: string, work: (channel: Channel) => Promise<T>): Promise<T> {
    try {
      return await this.supervisor.withChannel(this.options.connectTimeoutMs, work);
    } catch (error) {
      if (isNotFound(error)) throw new NotFoundError(`${what}: no such queue`, { cause: error });
      throw mapAmqpError(error, what);
    }
  }
}

function bucketsByOrigin(all: readonly ManagedQueue[]): Map<string, ManagedQueue[]> {
  const map = new Map<string, ManagedQueue[]>();
  for (const q of all) {
    const parsed = parseRetryQueueName(q.name);
    if (!parsed) continue;
    const list = map.get(parsed.origin);
    if (list) list.push(q);
    else map.set(parsed.origin, [q]);
  }
  return map;
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 255) {
    throw new ValidationError(
      `queue name ${JSON.stringify(name)} must be a non-empty string of at most 255 bytes`,
    );
  }
}
