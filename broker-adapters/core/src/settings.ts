/**
 * Options resolved once. `connect` validates every shared option here, applies the defaults and
 * hands the adapter one frozen {@link BrokerSettings}: the same bad value fails the same way on
 * every scheme, and no adapter re-validates or re-defaults what core already did.
 */
import { resolveCloudEventsDefaults } from './cloudevents.js';
import { defaultCodec } from './codec.js';
import { ValidationError } from './errors.js';
import { assertKnownKeys, integerOption } from './option-checks.js';
import { DEFAULT_RETRY, resolveRetryPolicy } from './retry.js';
import type { BrokerOptions, BrokerSettings, ReconnectPolicy } from './types.js';

/** Default `timeoutMs` of publish and send, and of every other wait on the broker. */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 30_000;
/** Default time `connect` may take. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Default number of publishes allowed to wait out an outage. */
export const DEFAULT_MAX_BUFFERED_PUBLISHES = 10_000;
/** Default reconnection backoff. */
export const DEFAULT_RECONNECT: ReconnectPolicy = Object.freeze({ initialMs: 100, maxMs: 5_000, factor: 2 });

/** Shared keys of {@link BrokerOptions}; adapter keys (`rabbitmq`, `nats`, …) come from the registry. */
const SHARED_KEYS: ReadonlySet<string> = new Set([
  'codec',
  'retry',
  'publishTimeoutMs',
  'maxBufferedPublishes',
  'connectTimeoutMs',
  'reconnect',
  'maxPayloadBytes',
  'cloudEvents',
  'tracing',
]);

function resolveReconnect(options: BrokerOptions['reconnect']): ReconnectPolicy {
  if (options === undefined) return DEFAULT_RECONNECT;
  assertKnownKeys(options, new Set(['initialMs', 'maxMs', 'factor']), 'reconnect');
  const initialMs = integerOption('reconnect.initialMs', options.initialMs, DEFAULT_RECONNECT.initialMs);
  const maxMs = integerOption('reconnect.maxMs', options.maxMs, Math.max(initialMs, DEFAULT_RECONNECT.maxMs));
  const factor = options.factor ?? DEFAULT_RECONNECT.factor;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
    throw new ValidationError(`reconnect.factor must be a finite number >= 1, got ${String(factor)}`);
  }
  if (maxMs < initialMs) {
    throw new ValidationError(
      `reconnect.maxMs (${maxMs}) must not be below reconnect.initialMs (${initialMs})`,
    );
  }
  return Object.freeze({ initialMs, maxMs, factor });
}

/**
 * Validate `options` and apply defaults. `adapterKeys` are the option keys adapters own
 * (`rabbitmq`, `nats`, …): they pass through untouched for the adapter to validate.
 */
export function resolveBrokerSettings(
  urls: readonly URL[],
  options: BrokerOptions | undefined,
  adapterKeys: ReadonlySet<string>,
): BrokerSettings {
  const o: BrokerOptions = options ?? {};
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    throw new ValidationError('connect options must be an object');
  }
  const adapterOptions: Record<string, unknown> = {};
  for (const key in o) {
    if (SHARED_KEYS.has(key)) continue;
    if (!adapterKeys.has(key)) {
      const known = [...SHARED_KEYS, ...adapterKeys].sort().join(', ');
      throw new ValidationError(`connect options: unknown option "${key}" (known: ${known})`);
    }
    const value = (o as Record<string, unknown>)[key];
    if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw new ValidationError(`connect options: "${key}" must be an object`);
    }
    adapterOptions[key] = value;
  }
  const codec = o.codec ?? defaultCodec;
  if (codec === null || typeof codec.encode !== 'function' || typeof codec.decode !== 'function') {
    throw new ValidationError('codec must have encode and decode functions');
  }
  if (o.tracing !== undefined && typeof o.tracing !== 'boolean') {
    throw new ValidationError(`tracing must be a boolean, got ${String(o.tracing)}`);
  }
  return Object.freeze({
    urls: Object.freeze([...urls]),
    codec,
    retry: resolveRetryPolicy(o.retry, DEFAULT_RETRY),
    publishTimeoutMs: integerOption('publishTimeoutMs', o.publishTimeoutMs, DEFAULT_PUBLISH_TIMEOUT_MS),
    connectTimeoutMs: integerOption('connectTimeoutMs', o.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
    maxBufferedPublishes: integerOption(
      'maxBufferedPublishes',
      o.maxBufferedPublishes,
      DEFAULT_MAX_BUFFERED_PUBLISHES,
      0,
    ),
    reconnect: resolveReconnect(o.reconnect),
    maxPayloadBytes:
      o.maxPayloadBytes === undefined ? undefined : integerOption('maxPayloadBytes', o.maxPayloadBytes, 1),
    adapterOptions: Object.freeze(adapterOptions),
    cloudEvents: resolveCloudEventsDefaults(o.cloudEvents),
    tracing: o.tracing ?? true,
  });
}
