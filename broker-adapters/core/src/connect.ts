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
import { resolveBrokerSettings } from './settings.js';
import type { AdapterFactory, Broker, BrokerOptions, Transport, TransportHooks } from './types.js';

/**
 * Adapters shipped with brokerkit, loaded on first use (each exports `createTransport`), with the
 * key of their options in `connect` options.
 */
const BUILT_IN: Readonly<Record<string, { readonly pkg: string; readonly optionsKey: string }>> = {
  memory: { pkg: '@brokerkit/memory', optionsKey: 'memory' },
  amqp: { pkg: '@brokerkit/rabbitmq', optionsKey: 'rabbitmq' },
  amqps: { pkg: '@brokerkit/rabbitmq', optionsKey: 'rabbitmq' },
  nats: { pkg: '@brokerkit/nats', optionsKey: 'nats' },
  redis: { pkg: '@brokerkit/redis', optionsKey: 'redis' },
  rediss: { pkg: '@brokerkit/redis', optionsKey: 'redis' },
};

const registry = new Map<string, AdapterFactory>();
/** Option keys adapters own: the built-in ones and those given to {@link registerAdapter}. */
const adapterKeys = new Set(Object.values(BUILT_IN).map((b) => b.optionsKey));

/** The URL `connect()` uses when none is given: `BROKER_URL`, else the embedded broker. */
export function defaultBrokerUrl(): string {
  return process.env.BROKER_URL || 'memory://';
}

/**
 * Register (or replace) the adapter for a URL scheme, e.g. `registerAdapter('kafka', factory,
 * { optionsKey: 'kafka' })`. `optionsKey` is the key of the adapter's own options in `connect`
 * options (any other unknown key is rejected).
 */
export function registerAdapter(
  scheme: string,
  factory: AdapterFactory,
  options: { optionsKey?: string } = {},
): void {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme))
    throw new ValidationError(`scheme "${scheme}" is not a valid URL scheme`);
  if (typeof factory !== 'function') throw new ValidationError('adapter factory must be a function');
  if (options.optionsKey !== undefined) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(options.optionsKey))
      throw new ValidationError(`optionsKey "${options.optionsKey}" must be an identifier`);
    adapterKeys.add(options.optionsKey);
  }
  registry.set(scheme, factory);
}

/** Schemes `connect` understands right now. */
export function registeredSchemes(): string[] {
  return [...new Set([...Object.keys(BUILT_IN), ...registry.keys()])].sort();
}

/** The adapter factory for a URL scheme, loading a built-in adapter on first use. */
export async function adapterFactoryFor(scheme: string): Promise<AdapterFactory> {
  const registered = registry.get(scheme);
  if (registered) return registered;
  const pkg = BUILT_IN[scheme]?.pkg;
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

function parseOne(url: string, position: number, count: number): URL {
  try {
    return new URL(url);
  } catch (cause) {
    // The raw string may contain a password: say what is wrong without repeating it.
    const which = count > 1 ? ` (entry ${position} of the list)` : '';
    throw new ValidationError(`broker URL${which} is not a valid URL (expected e.g. amqp://host:5672)`, {
      cause,
    });
  }
}

/**
 * Parse a broker URL or a cluster's comma-separated list of URLs of one scheme, never echoing
 * credentials back. A later URL without credentials takes the first one's, and one without a
 * path (vhost) or query takes the first one's, so `amqp://u:p@h1/vh,amqp://h2,amqp://h3` names
 * three nodes of one vhost.
 */
export function parseBrokerUrls(url: string): URL[] {
  if (typeof url !== 'string' || url.trim().length === 0)
    throw new ValidationError('broker URL must be a non-empty string');
  const parts = url.split(',').map((part) => part.trim());
  if (parts.some((part) => part.length === 0))
    throw new ValidationError('broker URL list has an empty entry (expected "url,url,…")');
  const urls = parts.map((part, i) => parseOne(part, i + 1, parts.length));
  const first = urls[0]!;
  for (let i = 1; i < urls.length; i++) {
    const u = urls[i]!;
    if (u.protocol !== first.protocol) {
      throw new ValidationError(
        `broker URL list mixes schemes (${first.protocol}// and ${u.protocol}//): a cluster is one broker`,
      );
    }
    if (u.username === '' && u.password === '') {
      u.username = first.username;
      u.password = first.password;
    }
    if ((u.pathname === '' || u.pathname === '/') && first.pathname !== '' && first.pathname !== '/')
      u.pathname = first.pathname;
    if (u.search === '') u.search = first.search;
  }
  return urls;
}

/** Parse a single broker URL (the first of a list), never echoing credentials back. */
export function parseBrokerUrl(url: string): URL {
  return parseBrokerUrls(url)[0]!;
}

/**
 * Connect to the broker at `url` (default `BROKER_URL`, else `memory://`). Resolves once the
 * connection is ready; rejects with `BK_VALIDATION` (bad URL or options), `BK_CONFIG` (unknown
 * scheme) or `BK_UNAVAILABLE` (the broker could not be reached).
 */
export function connect(url: string = defaultBrokerUrl(), options: BrokerOptions = {}): Promise<Broker> {
  return connectWith(url, options, undefined);
}

/**
 * {@link connect}, with the adapter's transport passed through `wrap` before the broker is
 * built around it: for tests that inject faults below core, and for instrumentation.
 */
export async function connectWith(
  url: string,
  options: BrokerOptions | undefined,
  wrap: ((transport: Transport) => Transport) | undefined,
): Promise<Broker> {
  const urls = parseBrokerUrls(url === '' ? defaultBrokerUrl() : url);
  const settings = resolveBrokerSettings(urls, options, adapterKeys);
  const scheme = urls[0]!.protocol.slice(0, -1);
  const factory = await adapterFactoryFor(scheme);
  try {
    const open = wrap
      ? async (hooks: TransportHooks) => wrap(await factory(settings, hooks))
      : (hooks: TransportHooks) => factory(settings, hooks);
    return await createBroker(open, settings);
  } catch (error) {
    if (isBrokerkitError(error)) throw error;
    const where = urls.map((u) => redactUrl(u)).join(',');
    throw new BrokerUnavailableError(`cannot connect to ${where}`, { cause: error });
  }
}
