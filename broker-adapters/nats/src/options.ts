/**
 * Options of the NATS adapter, under the `nats` key of `connect` options, validated once.
 */
import { ValidationError, assertKnownKeys } from '@brokerkit/core/adapter';

const OWN_KEYS: ReadonlySet<string> = new Set([
  'ackWaitMs',
  'heartbeatMs',
  'pingIntervalMs',
  'maxPingOut',
  'replicas',
  'eventRetention',
  'eventMaxAgeMs',
  'eventMaxBytes',
  'pubAckTimeoutMs',
  'duplicateWindowMs',
  'maxPendingEphemeral',
  'name',
]);

/** NATS-specific options: `connect('nats://…', { nats: { ackWaitMs: 10_000 } })`. */
export interface NatsOptions {
  /**
   * How long the server waits for an ack before redelivering a message to another member
   * (consumer `ack_wait`). Handlers running longer are kept alive with progress acks. Default 30 000.
   */
  ackWaitMs?: number;
  /** Idle heartbeat of pull requests (they expire after twice this): how fast a lost request is noticed. Default 2 000 ms. */
  heartbeatMs?: number;
  /**
   * Client ping interval. A server that stops answering (a half-open connection, a paused or
   * hung node) is given up after `maxPingOut` unanswered pings, i.e. between
   * `pingIntervalMs × maxPingOut` and `pingIntervalMs × (maxPingOut + 1)` after it went silent; the
   * client then reconnects (to another node of a cluster). Default 5 000 ms.
   */
  pingIntervalMs?: number;
  /** Unanswered pings before the connection is considered dead (see `pingIntervalMs`). Default 2. */
  maxPingOut?: number;
  /**
   * Replicas (`num_replicas`) of the streams brokerkit creates: events, work queues, dead
   * letters; consumers inherit their stream's. An integer 1..5. Default: 1 for one URL; for a
   * cluster list the number of URLs, at most 3. Streams that exist already keep theirs.
   */
  replicas?: number;
  /**
   * Retention of the event streams (`BK_EV_*`) brokerkit creates: `interest` removes a message
   * once every group acked it; `limits` keeps it until `eventMaxAgeMs` / `eventMaxBytes`.
   * Default: `interest` with one replica, `limits` with more — nats-server 2.9 can remove a
   * message from a replicated interest stream before every group received it (see the README,
   * _Clusters_). Streams that exist already keep theirs.
   */
  eventRetention?: EventRetention;
  /**
   * `max_age` of event streams created with `limits` retention: a group that stays behind (or
   * away) longer than this misses what aged out. Default 604 800 000 (7 days).
   */
  eventMaxAgeMs?: number;
  /**
   * `max_bytes` of event streams created with `limits` retention (oldest messages are discarded
   * beyond it, read or not). Default: no limit (`-1`), bounded by `eventMaxAgeMs` and the server's
   * storage limits.
   */
  eventMaxBytes?: number;
  /** Longest wait for one PubAck before the publish is retried (same `Nats-Msg-Id`). Default 5 000 ms. */
  pubAckTimeoutMs?: number;
  /** JetStream de-duplication window of the streams brokerkit creates. Default 120 000 ms. */
  duplicateWindowMs?: number;
  /** Ephemeral subscription messages buffered ahead of a slow handler before they are discarded. Default 65 536. */
  maxPendingEphemeral?: number;
  /** Connection name shown by the server (`nats-server` monitoring). Default `brokerkit`. */
  name?: string;
}

declare module '@brokerkit/core' {
  interface AdapterOptions {
    /** Options of the NATS adapter (`nats://` URLs). */
    nats?: NatsOptions;
  }
}

/** How an event stream keeps its messages (JetStream `retention`). */
export type EventRetention = 'interest' | 'limits';

/** {@link NatsOptions} with defaults applied. */
export type ResolvedNatsOptions = Readonly<Required<NatsOptions>>;

/** Default `max_age` of event streams with `limits` retention: 7 days. */
export const DEFAULT_EVENT_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1_000;

/**
 * Retention of event streams with `replicas` replicas: interest on one node (as before), limits
 * when replicated, where nats-server 2.9 interest streams may drop what a group has not received.
 */
export function defaultEventRetention(replicas: number): EventRetention {
  return replicas > 1 ? 'limits' : 'interest';
}

/** The most replicas JetStream allows for a stream. */
export const MAX_REPLICAS = 5;

/**
 * Replicas of brokerkit's streams for a node list of `urlCount` URLs: one node keeps 1, a cluster
 * gets 3 (or the number of URLs when fewer are listed). The listed URLs are taken as the cluster's
 * size: a cluster of 5 reached through 3 URLs gets 3, the usual JetStream choice.
 */
export function defaultReplicas(urlCount: number): number {
  return urlCount > 1 ? Math.min(3, urlCount) : 1;
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ValidationError(`nats.${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Apply defaults and validate. */
export function resolveNatsOptions(options: NatsOptions | undefined, urlCount = 1): ResolvedNatsOptions {
  const o = options ?? {};
  assertKnownKeys(o, OWN_KEYS, 'nats options');
  if (o.name !== undefined && typeof o.name !== 'string')
    throw new ValidationError('nats.name must be a string');
  const replicas = o.replicas === undefined ? defaultReplicas(urlCount) : o.replicas;
  if (
    typeof replicas !== 'number' ||
    !Number.isInteger(replicas) ||
    replicas < 1 ||
    replicas > MAX_REPLICAS
  ) {
    throw new ValidationError(
      `nats.replicas must be an integer from 1 to ${MAX_REPLICAS}, got ${String(o.replicas)}`,
    );
  }
  const eventRetention = o.eventRetention ?? defaultEventRetention(replicas);
  if (eventRetention !== 'interest' && eventRetention !== 'limits') {
    throw new ValidationError(
      `nats.eventRetention must be "interest" or "limits", got ${String(o.eventRetention)}`,
    );
  }
  let eventMaxBytes = -1;
  if (o.eventMaxBytes !== undefined && o.eventMaxBytes !== -1) {
    eventMaxBytes = positive('eventMaxBytes', o.eventMaxBytes, -1);
  }
  return {
    ackWaitMs: positive('ackWaitMs', o.ackWaitMs, 30_000),
    heartbeatMs: positive('heartbeatMs', o.heartbeatMs, 2_000),
    pingIntervalMs: positive('pingIntervalMs', o.pingIntervalMs, 5_000),
    maxPingOut: positive('maxPingOut', o.maxPingOut, 2),
    replicas,
    eventRetention,
    eventMaxAgeMs: positive('eventMaxAgeMs', o.eventMaxAgeMs, DEFAULT_EVENT_MAX_AGE_MS),
    eventMaxBytes,
    pubAckTimeoutMs: positive('pubAckTimeoutMs', o.pubAckTimeoutMs, 5_000),
    duplicateWindowMs: positive('duplicateWindowMs', o.duplicateWindowMs, 120_000),
    maxPendingEphemeral: positive('maxPendingEphemeral', o.maxPendingEphemeral, 65_536),
    name: o.name ?? 'brokerkit',
  };
}
