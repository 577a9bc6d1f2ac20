/**
 * `connect(url)`: the URL scheme picks the adapter. Built-in adapters load lazily by package
 * name, so apps depend on core alone and never import an adapter.
 */
import { createBroker } from './broker.js';
import {
  BrokerUnavailableError,
  ConfigurationError,
  ValidationError,
  isBrokerkitError,
  redactUrl,
} from './errors.js';
import type { AdapterFactory, Broker, BrokerOptions } from './types.js';

/** Adapters shipped with brokerkit, loaded on first use. Each exports `createTransport`. */
const BUILT_IN: Readonly<Record<string, string>> = {
  memory: '@brokerkit/memory',
  amqp: '@brokerkit/rabbitmq',
  amqps: '@brokerkit/rabbitmq',
  nats: '@brokerkit/nats',
};

const registry = new Map<string, AdapterFactory>();

/** The URL `connect()` uses when none is given: `BROKER_URL`, else the embedded broker. */
export function defaultBrokerUrl(): string {
  return process.env.BROKER_URL || 'memory://';
}

/** Register (or replace) the adapter for a URL scheme, e.g. `registerAdapter('kafka', factory)`. */
export function registerAdapter(scheme: string, factory: AdapterFactory): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme))
    throw new ValidationError(`scheme "${scheme}" is not a valid URL scheme`);
  if (typeof factory !== 'function') throw new ValidationError('adapter factory must be a function');
  registry.set(scheme, factory);
}

/** Schemes `connect` understands right now. */
export function registeredSchemes(): string[] {
  return [...new Set([...Object.keys(BUILT_IN), ...registry.keys()])].sort();
}

async function factoryFor(scheme: string): Promise<AdapterFactory> {
  const registered = registry.get(scheme);
  if (registered) return registered;
  const pkg = BUILT_IN[scheme];
  if (!pkg) {
    throw new ConfigurationError(
      `no adapter for "${scheme}://" URLs (known: ${registeredSchemes().join(', ')})`,
    );
  }
  let mod: { createTransport?: AdapterFactory };
  try {
    mod = (await import(pkg)) as { createTransport?: AdapterFactory };
  } catch (cause) {
    throw new ConfigurationError(`"${scheme}://" needs the package ${pkg}; install it`, { cause });
  }
  if (typeof mod.createTransport !== 'function') {
    throw new ConfigurationError(`${pkg} does not export createTransport`);
  }
  return mod.createTransport;
}

/** Parse a broker URL, never echoing credentials back. */
export function parseBrokerUrl(url: string): URL {
  if (typeof url !== 'string' || url.length === 0)
    throw new ValidationError('broker URL must be a non-empty string');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    // The raw string may contain a password: say what is wrong without repeating it.
    throw new ValidationError('broker URL is not a valid URL (expected e.g. amqp://host:5672)', { cause });
  }
  return parsed;
}

/**
 * Connect to the broker at `url` (default `BROKER_URL`, else `memory://`). Resolves once the
 * connection is ready; rejects with `BK_VALIDATION` (bad URL or options), `BK_CONFIG` (unknown
 * scheme) or `BK_UNAVAILABLE` (the broker could not be reached).
 */
export async function connect(
  url: string = defaultBrokerUrl(),
  options: BrokerOptions = {},
): Promise<Broker> {
  const parsed = parseBrokerUrl(url);
  const scheme = parsed.protocol.slice(0, -1);
  const factory = await factoryFor(scheme);
  try {
    return await createBroker((hooks) => factory(parsed, options, hooks), options);
  } catch (error) {
    if (isBrokerkitError(error)) throw error;
    throw new BrokerUnavailableError(`cannot connect to ${redactUrl(parsed)}`, { cause: error });
  }
}
