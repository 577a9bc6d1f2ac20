/**
 * Options of the NATS adapter, under the `nats` key of `connect` options, validated once.
 */
import { ValidationError, assertKnownKeys } from '@brokerkit/core/adapter';

const OWN_KEYS: ReadonlySet<string> = new Set([
  'ackWaitMs',
  'heartbeatMs',
  'pingIntervalMs',
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
  /** Client ping interval: how fast a silent (half-open) connection is noticed. Default 10 000 ms. */
  pingIntervalMs?: number;
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

/** {@link NatsOptions} with defaults applied. */
export type ResolvedNatsOptions = Readonly<Required<NatsOptions>>;

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ValidationError(`nats.${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Apply defaults and validate. */
export function resolveNatsOptions(options: NatsOptions | undefined): ResolvedNatsOptions {
  const o = options ?? {};
  assertKnownKeys(o, OWN_KEYS, 'nats options');
  if (o.name !== undefined && typeof o.name !== 'string')
    throw new ValidationError('nats.name must be a string');
  return {
    ackWaitMs: positive('ackWaitMs', o.ackWaitMs, 30_000),
    heartbeatMs: positive('heartbeatMs', o.heartbeatMs, 2_000),
    pingIntervalMs: positive('pingIntervalMs', o.pingIntervalMs, 10_000),
    pubAckTimeoutMs: positive('pubAckTimeoutMs', o.pubAckTimeoutMs, 5_000),
    duplicateWindowMs: positive('duplicateWindowMs', o.duplicateWindowMs, 120_000),
    maxPendingEphemeral: positive('maxPendingEphemeral', o.maxPendingEphemeral, 65_536),
    name: o.name ?? 'brokerkit',
  };
}
