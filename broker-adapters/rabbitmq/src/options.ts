/**
 * Options of the RabbitMQ adapter (`connect(url, { rabbitmq: { ... } })`), validated once.
 */
import { ValidationError, assertKnownKeys, integerOption } from '@brokerkit/core/adapter';
import type { BrokerSettings, Codec, ReconnectPolicy } from '@brokerkit/core';
import { DEFAULT_EXCHANGE } from './names.js';

/** RabbitMQ-specific options. */
export interface RabbitMqOptions {
  /** Topic exchange events are published to. Default `brokerkit.events`. */
  exchange?: string;
  /**
   * Queue type of durable queues (groups, work queues, their retry and dead-letter companions).
   * Default `classic` for one URL, `quorum` (replicated) for a cluster's list of URLs. Ephemeral
   * subscriptions always use exclusive classic queues (RabbitMQ refuses exclusive quorum queues).
   */
  queueType?: 'classic' | 'quorum';
  /**
   * Management HTTP API, e.g. `http://guest:guest@127.0.0.1:15672`, or a comma-separated list of
   * one per cluster node (later entries without credentials take the first one's): requests go to
   * the first that answers. Enables `inFlight` numbers and `listQueues()` across processes;
   * without it `inFlight` is `null` and `listQueues()` lists the queues this process declared.
   */
  managementUrl?: string;
  /**
   * Largest message body published, checked before sending. Default 128 MiB, RabbitMQ's default
   * `max_message_size`; lower it to match a lower server setting.
   */
  maxMessageBytes?: number;
  /** AMQP heartbeat in seconds; default: the server's suggestion (60 s). `0` disables. */
  heartbeatSeconds?: number;
  /** `connection_name` shown in the management UI. Default `brokerkit`. */
  connectionName?: string;
}

declare module '@brokerkit/core' {
  interface AdapterOptions {
    /** Options of the RabbitMQ adapter (`amqp://`, `amqps://`). */
    rabbitmq?: RabbitMqOptions;
  }
}

/** Everything the adapter needs, defaults applied. */
export interface ResolvedOptions {
  /** The nodes, in the order given (one for a single broker). */
  readonly urls: readonly URL[];
  readonly codec: Codec;
  readonly exchange: string;
  readonly queueType: 'classic' | 'quorum';
  /** The first management API URL, if any. */
  readonly managementUrl: URL | undefined;
  /** Every management API URL given (one per node of a cluster), in order. */
  readonly managementUrls: readonly URL[];
  readonly maxMessageBytes: number;
  readonly heartbeatSeconds: number | undefined;
  readonly connectionName: string;
  readonly connectTimeoutMs: number;
  readonly publishTimeoutMs: number;
  readonly maxBufferedPublishes: number;
  readonly reconnect: ReconnectPolicy;
}

const OWN_KEYS: ReadonlySet<string> = new Set([
  'exchange',
  'queueType',
  'managementUrl',
  'maxMessageBytes',
  'heartbeatSeconds',
  'connectionName',
]);

const DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024;

/** Apply defaults and validate the adapter's own options; throws {@link ValidationError}. */
export function resolveOptions(settings: BrokerSettings): ResolvedOptions {
  const own = settings.adapterOptions.rabbitmq ?? {};
  assertKnownKeys(own, OWN_KEYS, 'rabbitmq options');
  const exchange = own.exchange ?? DEFAULT_EXCHANGE;
  if (typeof exchange !== 'string' || exchange.length === 0 || exchange.startsWith('amq.')) {
    throw new ValidationError(
      `rabbitmq.exchange must be a non-empty name not starting with "amq.", got ${String(exchange)}`,
    );
  }
  // A cluster replicates durable state by default (docs/architecture.md#clusters); one node keeps classic queues.
  const queueType = own.queueType ?? (settings.urls.length > 1 ? 'quorum' : 'classic');
  if (queueType !== 'classic' && queueType !== 'quorum') {
    throw new ValidationError(`rabbitmq.queueType must be "classic" or "quorum", got ${String(queueType)}`);
  }
  const managementUrls = own.managementUrl === undefined ? [] : parseManagementUrls(own.managementUrl);
  return {
    exchange,
    queueType,
    managementUrl: managementUrls[0],
    managementUrls,
    maxMessageBytes: Math.min(
      integerOption('rabbitmq.maxMessageBytes', own.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
      settings.maxPayloadBytes ?? Number.MAX_SAFE_INTEGER,
    ),
    heartbeatSeconds:
      own.heartbeatSeconds === undefined
        ? undefined
        : integerOption('rabbitmq.heartbeatSeconds', own.heartbeatSeconds, 0, 0),
    connectionName: own.connectionName ?? 'brokerkit',
    urls: settings.urls,
    codec: settings.codec,
    connectTimeoutMs: settings.connectTimeoutMs,
    publishTimeoutMs: settings.publishTimeoutMs,
    maxBufferedPublishes: settings.maxBufferedPublishes,
    reconnect: settings.reconnect,
  };
}

/** `rabbitmq.managementUrl`: one URL or a comma-separated list; later ones inherit the first one's credentials. */
function parseManagementUrls(value: unknown): URL[] {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError('rabbitmq.managementUrl must be a non-empty string');
  }
  const urls = value.split(',').map((part, i) => {
    let url: URL;
    try {
      url = new URL(part.trim());
    } catch (cause) {
      // The value may hold credentials: never echo it.
      throw new ValidationError(`rabbitmq.managementUrl entry ${i + 1} is not a valid URL`, { cause });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ValidationError('rabbitmq.managementUrl must be an http(s) URL');
    }
    return url;
  });
  const first = urls[0]!;
  for (const url of urls.slice(1)) {
    if (url.username === '' && url.password === '') {
      url.username = first.username;
      url.password = first.password;
    }
  }
  return urls;
}
