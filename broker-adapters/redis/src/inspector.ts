/**
 * {@link QueueInspector} on Redis' own numbers: `depth` is the consumer group's `lag` (entries not
 * yet delivered), `inFlight` its `pending` (delivered, unacked) plus the parked retries and
 * delayed sends, `consumers` the members whose presence has not expired. Queues and groups are
 * listed from the `bk:names` hash (no `SCAN`); every queue and group has its `.dlq`. Core's
 * wrapper has validated names and limits.
 */
import type { Redis } from 'ioredis';
import {
  NotFoundError,
  deadLetterOrigin,
  deadLetterQueueName,
  firstToken,
  replayHeaders,
  toDeadLetter,
} from '@brokerkit/core/adapter';
import type { Codec, DeadLetter, QueueInfo, QueueInspector } from '@brokerkit/core';
import { mapRedisError } from './errors.js';
import {
  NAMES_KEY,
  decodeRole,
  dueKey,
  membersKey,
  parkKey,
  routesKey,
  streamKey,
  type Role,
} from './names.js';
import type { Publisher } from './publisher.js';
import { DELETE, INFO, PURGE, REPLAY } from './scripts.js';
import { copyFields, parseEntry, type StreamEntry } from './wire.js';

/** Dead letters read per round trip while replaying. */
const REPLAY_BATCH = 100;

type Range = [Buffer, Buffer[]][];

/** See the module comment. */
export class RedisInspector implements QueueInspector {
  constructor(
    private readonly redis: Redis,
    private readonly codec: Codec,
    private readonly publisher: Publisher,
  ) {}

  async listQueues(): Promise<QueueInfo[]> {
    const roles = await this.#call('list queues', () => this.redis.hgetall(NAMES_KEY));
    const out: QueueInfo[] = [];
    const names = Object.keys(roles).sort();
    const infos = await Promise.all(
      names.map(async (name) => {
        const role = decodeRole(roles[name]);
        if (role === undefined) return [];
        return [await this.#info(name, role), await this.#deadLetterInfo(name)];
      }),
    );
    for (const pair of infos) out.push(...pair);
    return out;
  }

  async queueInfo(name: string): Promise<QueueInfo> {
    const origin = deadLetterOrigin(name);
    if (origin !== undefined && (await this.#role(origin)) !== undefined) return this.#deadLetterInfo(origin);
    const role = await this.#role(name);
    if (role === undefined) throw new NotFoundError(`no queue or group named "${name}"`);
    return this.#info(name, role);
  }

  async purge(name: string): Promise<number> {
    const origin = deadLetterOrigin(name);
    if (origin !== undefined && (await this.#role(origin)) !== undefined) {
      const key = streamKey(name);
      return this.#call(`purge ${name}`, async () => {
        const [[, length]] = (await this.redis.multi().xlen(key).del(key).exec()) as [[unknown, number]];
        return length;
      });
    }
    if ((await this.#role(name)) === undefined) throw new NotFoundError(`no queue or group named "${name}"`);
    return Number(await this.#call(`purge ${name}`, () => PURGE.run(this.redis, [streamKey(name)], [name])));
  }

  /**
   * A queue or group goes with its dead letters, parked retries and presence. A dead-letter queue
   * whose origin exists is only emptied: the origin keeps dead-lettering into it.
   */
  async deleteQueue(name: string): Promise<void> {
    const origin = deadLetterOrigin(name);
    if (origin !== undefined && (await this.#role(origin)) !== undefined) {
      await this.purge(name);
      return;
    }
    const role = await this.#role(name);
    if (role === undefined) throw new NotFoundError(`no queue or group named "${name}"`);
    // A queue has no route: the names hash stands in for the routes key (HDEL of a field it no longer has).
    const routes = role.kind === 'group' ? routesKey(firstToken(role.pattern)) : NAMES_KEY;
    await this.#call(`delete ${name}`, () =>
      DELETE.run(
        this.redis,
        [
          NAMES_KEY,
          routes,
          streamKey(name),
          streamKey(deadLetterQueueName(name)),
          dueKey(name),
          parkKey(name),
          membersKey(name),
        ],
        [name],
      ),
    );
    this.publisher.forget(name);
  }

  async peekDeadLetters(queue: string, limit: number): Promise<DeadLetter[]> {
    await this.#requireOrigin(queue);
    const entries = await this.#range(streamKey(deadLetterQueueName(queue)), '-', limit);
    return entries.map((entry) =>
      toDeadLetter(
        {
          id: entry.messageId ?? entry.entryId,
          body: entry.body,
          headers: entry.headers,
          contentType: entry.contentType,
          timestamp: entry.timestamp,
          topic: entry.topic ?? queue,
        },
        this.codec,
      ),
    );
  }

  async replayDeadLetters(queue: string, options: { limit?: number }): Promise<number> {
    await this.#requireOrigin(queue);
    const dlq = streamKey(deadLetterQueueName(queue));
    const target = streamKey(queue);
    const limit = options.limit ?? Number.MAX_SAFE_INTEGER;
    let moved = 0;
    let from = '-';
    while (moved < limit) {
      const batch = await this.#range(dlq, from, Math.min(REPLAY_BATCH, limit - moved));
      if (batch.length === 0) break;
      const results = await Promise.all(
        batch.map((entry) =>
          this.#call(`replay a dead letter of ${queue}`, () =>
            REPLAY.run(
              this.redis,
              [dlq, target],
              [entry.entryId, ...copyFields(entry, replayHeaders(entry.headers))],
            ),
          ),
        ),
      );
      for (const r of results) if (r === 1) moved++;
      from = `(${batch[batch.length - 1]!.entryId}`;
    }
    return moved;
  }

  async #info(name: string, role: Role): Promise<QueueInfo> {
    const [depth, inFlight, consumers] = (await this.#call(`inspect ${name}`, () =>
      INFO.run(this.redis, [streamKey(name), dueKey(name), parkKey(name), membersKey(name)], [name]),
    )) as [number, number, number];
    return { name, kind: role.kind, depth, inFlight, consumers };
  }

  async #deadLetterInfo(origin: string): Promise<QueueInfo> {
    const name = deadLetterQueueName(origin);
    const depth = await this.#call(`inspect ${name}`, () => this.redis.xlen(streamKey(name)));
    return { name, kind: 'dlq', depth, inFlight: 0, consumers: 0 };
  }

  async #role(name: string): Promise<Role | undefined> {
    return decodeRole(await this.#call(`look up ${name}`, () => this.redis.hget(NAMES_KEY, name)));
  }

  async #requireOrigin(queue: string): Promise<void> {
    if ((await this.#role(queue)) === undefined)
      throw new NotFoundError(`no queue or group named "${queue}"`);
  }

  async #range(key: string, from: string, count: number): Promise<StreamEntry[]> {
    const range = (await this.#call(`read ${key}`, () =>
      this.redis.callBuffer('XRANGE', key, from, '+', 'COUNT', count),
    )) as Range;
    return range.map(([id, fields]) => parseEntry(id.toString(), fields));
  }

  async #call<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw mapRedisError(error, what);
    }
  }
}
