/**
 * Options of the Redis adapter, under the `redis` key of `connect` options, validated once.
 */
import { ValidationError, assertKnownKeys } from '@brokerkit/core/adapter';

const OWN_KEYS: ReadonlySet<string> = new Set([
  'visibilityTimeoutMs',
  'eventStreamMaxLen',
  'dedupWindowMs',
  'keepEventStream',
  'connectionName',
]);

/** Redis-specific options: `connect('redis://…', { redis: { visibilityTimeoutMs: 10_000 } })`. */
export interface RedisOptions {
  /**
   * How long a delivered, unacknowledged message of a member that stopped answering (a crashed
   * process, a lost connection) waits before another member claims it (`XAUTOCLAIM` min idle).
   * Members refresh what they hold every third of it, so a slow handler keeps its message.
   * Default 30 000.
   */
  visibilityTimeoutMs?: number;
  /**
   * Approximate length (`MAXLEN ~`) each `bk:ev:<first token>` stream is trimmed to. Only ephemeral
   * subscribers read it (groups have streams of their own): one more than this many events behind
   * loses the oldest, reported through the `error` event. Default 100 000.
   */
  eventStreamMaxLen?: number;
  /**
   * De-duplicate by `messageId` for this long (a key with a TTL per message, set in the same script
   * as the write). Default 0: off, because it costs one key per message for the window.
   */
  dedupWindowMs?: number;
  /**
   * Write every event to its `bk:ev:<first token>` stream, also while no ephemeral subscriber
   * listens (for other clients reading that stream). Default false: the stream is written only
   * while an ephemeral subscription of the token is live — an event nobody subscribes to is
   * dropped, as pub/sub does, and a publish to groups alone stores one entry per group.
   */
  keepEventStream?: boolean;
  /** `CLIENT SETNAME` of every connection (`CLIENT LIST` shows it). Default `brokerkit`. */
  connectionName?: string;
}

declare module '@brokerkit/core' {
  interface AdapterOptions {
    /** Options of the Redis adapter (`redis://` and `rediss://` URLs). */
    redis?: RedisOptions;
  }
}

/** {@link RedisOptions} with defaults applied. */
export type ResolvedRedisOptions = Readonly<Required<RedisOptions>>;

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ValidationError(`redis.${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

/** Apply defaults and validate. */
export function resolveRedisOptions(options: RedisOptions | undefined): ResolvedRedisOptions {
  const o = options ?? {};
  assertKnownKeys(o, OWN_KEYS, 'redis options');
  if (o.connectionName !== undefined && (typeof o.connectionName !== 'string' || /\s/.test(o.connectionName)))
    throw new ValidationError('redis.connectionName must be a string without spaces');
  if (o.keepEventStream !== undefined && typeof o.keepEventStream !== 'boolean')
    throw new ValidationError('redis.keepEventStream must be a boolean');
  return Object.freeze({
    visibilityTimeoutMs: integer('visibilityTimeoutMs', o.visibilityTimeoutMs, 30_000, 100),
    eventStreamMaxLen: integer('eventStreamMaxLen', o.eventStreamMaxLen, 100_000, 1),
    dedupWindowMs: integer('dedupWindowMs', o.dedupWindowMs, 0, 0),
    keepEventStream: o.keepEventStream ?? false,
    connectionName: o.connectionName ?? 'brokerkit',
  });
}
