/**
 * Stream and consumer provisioning: idempotent, cached per process, and strict about conflicts —
 * an existing stream or consumer whose configuration differs from brokerkit's is `BK_CONFIG`
 * (nats-server 2.9 would silently overwrite a durable's filter, so consumers are read first).
 */
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type {
  ConsumerConfig,
  ConsumerInfo,
  JetStreamManager,
  StreamConfig,
  StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ConfigurationError, firstToken } from '@brokerkit/core/adapter';
import { API_CODE, apiCode, isNotFound } from './errors.js';
import { mapClusterManagementError as mapManagementError } from './cluster-errors.js';
import {
  EVENT_STREAM_PREFIX,
  consumerName,
  decodeName,
  dlqStreamName,
  dlqSubject,
  eventStreamName,
  eventStreamSubjects,
  queueStreamName,
  queueSubject,
} from './names.js';
import type { ResolvedNatsOptions } from './options.js';

/** Server-side cap of delivered-unacked messages per consumer (all members together). */
const MAX_ACK_PENDING = 20_000;

type Retention = (typeof RetentionPolicy)[keyof typeof RetentionPolicy];

/**
 * Whether an existing event stream is one brokerkit can use: interest retention, or limits
 * retention with a bound (brokerkit always sets `max_age`; an unbounded limits stream would grow
 * forever, so it is taken for someone else's).
 */
function usableEventStream(config: StreamConfig): boolean {
  if (config.retention === RetentionPolicy.Interest) return true;
  return config.retention === RetentionPolicy.Limits && (config.max_age > 0 || config.max_bytes > 0);
}

/** Where a durable consumer lives. */
export interface ConsumerRef {
  readonly stream: string;
  readonly consumer: string;
}

function sameSubjects(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (!a || a.length !== b.length) return false;
  return b.every((s) => a.includes(s));
}

/** Provisions the streams and consumers of docs/architecture.md#broker-mappings (NATS). */
export class Topology {
  readonly #streams = new Map<string, { ready: Promise<void>; at: number }>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly options: ResolvedNatsOptions,
  ) {}

  /**
   * The stream of events whose first token is `token`: interest retention on one replica,
   * limits retention (bounded by `eventMaxAgeMs` / `eventMaxBytes`) when replicated, or as
   * `eventRetention` says. nats-server 2.9.10 can remove a message from a replicated interest
   * stream that one group acked before another group received it (reproduced with raw nats.js,
   * see the README): limits retention removes nothing on acks, so no group can miss a message.
   * An existing event stream is accepted with either retention (it cannot be changed in place;
   * clients given one URL and clients given the list may share a cluster).
   */
  ensureEventStream(token: string): Promise<void> {
    const limits = this.options.eventRetention === 'limits';
    return this.#ensureStream(
      eventStreamName(token),
      eventStreamSubjects(token),
      limits ? RetentionPolicy.Limits : RetentionPolicy.Interest,
      usableEventStream,
      limits ? { max_age: nanos(this.options.eventMaxAgeMs), max_bytes: this.options.eventMaxBytes } : {},
    );
  }

  /** The work-queue stream of `queue`. */
  ensureQueueStream(queue: string): Promise<void> {
    return this.#ensureStream(queueStreamName(queue), [queueSubject(queue)], RetentionPolicy.Workqueue);
  }

  /** The dead-letter stream of a queue or group: kept until replayed or purged. */
  ensureDlqStream(origin: string): Promise<void> {
    return this.#ensureStream(dlqStreamName(origin), [dlqSubject(origin)], RetentionPolicy.Limits);
  }

  /**
   * Forget a cached stream (deleted, or a publish found no stream behind its subject), unless it
   * was provisioned or checked less than `minAgeMs` ago: publishes failing together during a
   * leader election share one check instead of each asking the meta leader.
   */
  forget(stream: string, minAgeMs = 0): void {
    const entry = this.#streams.get(stream);
    if (entry && Date.now() - entry.at >= minAgeMs) this.#streams.delete(stream);
  }

  #ensureStream(
    name: string,
    subjects: string[],
    retention: Retention,
    usable: (existing: StreamConfig) => boolean = (c) => c.retention === retention,
    extra: Partial<StreamConfig> = {},
  ): Promise<void> {
    let entry = this.#streams.get(name);
    if (!entry) {
      const ready = this.#provisionStream(name, subjects, retention, usable, extra);
      const created = { ready, at: Date.now() };
      entry = created;
      this.#streams.set(name, created);
      ready.catch(() => {
        if (this.#streams.get(name) === created) this.#streams.delete(name);
      });
    }
    return entry.ready;
  }

  async #provisionStream(
    name: string,
    subjects: string[],
    retention: Retention,
    usable: (existing: StreamConfig) => boolean,
    extra: Partial<StreamConfig>,
  ): Promise<void> {
    let info: StreamInfo | undefined;
    try {
      info = await this.jsm.streams.info(name);
    } catch (error) {
      if (!isNotFound(error)) throw mapManagementError(error, `stream ${name}`);
    }
    if (!info) {
      const config: Partial<StreamConfig> & { name: string } = {
        name,
        subjects,
        retention,
        storage: StorageType.File,
        num_replicas: this.options.replicas,
        duplicate_window: nanos(this.options.duplicateWindowMs),
        ...extra,
      };
      try {
        await this.jsm.streams.add(config);
        return;
      } catch (error) {
        // Created by someone else meanwhile: compare below. Anything else is final.
        if (apiCode(error) !== API_CODE.streamNameInUse) throw mapManagementError(error, `stream ${name}`);
        info = await this.jsm.streams.info(name).catch((e: unknown) => {
          throw mapManagementError(e, `stream ${name}`);
        });
      }
    }
    const existing = info.config;
    if (!usable(existing) || !sameSubjects(existing.subjects, subjects)) {
      throw new ConfigurationError(
        `stream ${name} exists with retention "${existing.retention}" and subjects ` +
          `${JSON.stringify(existing.subjects)}; brokerkit needs "${retention}" and ${JSON.stringify(subjects)}`,
      );
    }
  }

  #consumerConfig(name: string, prefetch: number): Partial<ConsumerConfig> {
    return {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(this.options.ackWaitMs),
      // Attempts are counted by brokerkit (it dead-letters itself); the server never gives up.
      max_deliver: -1,
      // Flow control is the member's own (it pulls only for free prefetch slots); this only caps
      // messages waiting out a retry delay, which also count as ack-pending.
      max_ack_pending: Math.max(MAX_ACK_PENDING, prefetch * 2),
    };
  }

  /**
   * The durable pull consumer of a group. Re-subscribing a group with another pattern, or with
   * the name of an existing work queue, is `BK_CONFIG`.
   */
  async ensureGroupConsumer(group: string, pattern: string, prefetch: number): Promise<ConsumerRef> {
    const token = firstToken(pattern);
    await this.ensureEventStream(token);
    const stream = eventStreamName(token);
    const consumer = consumerName(group);
    const existing = await this.#consumerInfo(stream, consumer);
    if (existing) {
      const filter = existing.config.filter_subject ?? '';
      if (filter !== pattern) {
        throw new ConfigurationError(
          `group "${group}" is bound to pattern "${filter}"; it cannot be re-subscribed with "${pattern}"`,
        );
      }
      return { stream, consumer };
    }
    await this.#assertNameFree(group, stream);
    await this.#addConsumer(stream, {
      ...this.#consumerConfig(consumer, prefetch),
      deliver_policy: DeliverPolicy.New,
      filter_subject: pattern,
    });
    const created = await this.#consumerInfo(stream, consumer);
    if (created && created.config.filter_subject !== pattern) {
      // Lost a race with another process subscribing the group with another pattern.
      throw new ConfigurationError(
        `group "${group}" is bound to pattern "${created.config.filter_subject ?? ''}"; it cannot be re-subscribed with "${pattern}"`,
      );
    }
    return { stream, consumer };
  }

  /** The one shared durable consumer of a work queue (a work-queue stream refuses a second one). */
  async ensureQueueConsumer(queue: string, prefetch: number): Promise<ConsumerRef> {
    await this.ensureQueueStream(queue);
    const stream = queueStreamName(queue);
    const consumer = consumerName(queue);
    if (await this.#consumerInfo(stream, consumer)) return { stream, consumer };
    const group = await this.findGroup(queue);
    if (group) {
      throw new ConfigurationError(
        `"${queue}" is already a group; groups and work queues share one namespace`,
      );
    }
    await this.#addConsumer(stream, {
      ...this.#consumerConfig(consumer, prefetch),
      deliver_policy: DeliverPolicy.All,
    });
    return { stream, consumer };
  }

  async #addConsumer(stream: string, config: Partial<ConsumerConfig>): Promise<void> {
    try {
      await this.jsm.consumers.add(stream, config);
    } catch (error) {
      const code = apiCode(error);
      // Created concurrently by another member: the caller re-reads it.
      if (code === API_CODE.consumerExists || code === API_CODE.consumerNameExists) return;
      throw mapManagementError(error, `consumer ${config.durable_name ?? ''} on ${stream}`);
    }
  }

  async #consumerInfo(stream: string, consumer: string): Promise<ConsumerInfo | undefined> {
    try {
      return await this.jsm.consumers.info(stream, consumer);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw mapManagementError(error, `consumer ${consumer} on ${stream}`);
    }
  }

  async #assertNameFree(group: string, ownStream: string): Promise<void> {
    try {
      await this.jsm.streams.info(queueStreamName(group));
      throw new ConfigurationError(
        `"${group}" is already a work queue; groups and work queues share one namespace`,
      );
    } catch (error) {
      if (!isNotFound(error)) throw mapManagementError(error, `stream ${queueStreamName(group)}`);
    }
    const other = await this.findGroup(group, ownStream);
    if (other) {
      throw new ConfigurationError(
        `group "${group}" is bound to pattern "${other.pattern}"; it cannot be re-subscribed with another pattern`,
      );
    }
  }

  /** Find a group's consumer on any event stream (optionally skipping one). */
  async findGroup(
    group: string,
    skipStream?: string,
  ): Promise<{ stream: string; pattern: string } | undefined> {
    const consumer = consumerName(group);
    for (const stream of await this.eventStreams()) {
      if (stream === skipStream) continue;
      const info = await this.#consumerInfo(stream, consumer).catch(() => undefined);
      if (info) return { stream, pattern: info.config.filter_subject ?? '' };
    }
    return undefined;
  }

  /** Names of every brokerkit event stream on the server. */
  async eventStreams(): Promise<string[]> {
    const names: string[] = [];
    try {
      const lister = this.jsm.streams.names();
      for await (const name of lister) if (name.startsWith(EVENT_STREAM_PREFIX)) names.push(name);
    } catch (error) {
      throw mapManagementError(error, 'stream list');
    }
    return names;
  }

  /** The first token an event stream keeps. */
  static tokenOf(eventStream: string): string {
    return decodeName(eventStream.slice(EVENT_STREAM_PREFIX.length));
  }
}
