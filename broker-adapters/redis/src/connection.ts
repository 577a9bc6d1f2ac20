/**
 * The connections to Redis: one command connection per broker (publishes, acks, scripts,
 * inspection) and one more per subscription for its blocking reads (a blocked `XREADGROUP` holds
 * its connection). Status is reported from the command connection; publishes wait, bounded, for it
 * during an outage.
 */
import { Redis } from 'ioredis';
import type { RedisOptions as ClientOptions } from 'ioredis';
import {
  BrokerUnavailableError,
  ClosedError,
  ConfigurationError,
  ValidationError,
  isBrokerkitError,
  reconnectDelay,
  redactUrl,
  withTimeout,
} from '@brokerkit/core/adapter';
import type { BrokerSettings, TransportHooks } from '@brokerkit/core';
import type { ResolvedRedisOptions } from './options.js';

/** Oldest server the adapter runs on: `XINFO GROUPS` lag and `XGROUP SETID … ENTRIESREAD` are 7.0. */
export const MIN_REDIS_VERSION: readonly [number, number] = [7, 0];

/** How long `close()` waits for the server to answer what is still on its way before dropping it. */
const QUIT_TIMEOUT_MS = 2_000;

/**
 * ioredis options for a `redis://` or `rediss://` URL (`redis://[user:password@]host[:port][/db]`).
 * Commands wait across reconnects (`maxRetriesPerRequest: null`, offline queue) and unanswered ones
 * are sent again once reconnected; the adapter itself bounds how long a publish waits.
 */
export function clientOptions(
  url: URL,
  settings: BrokerSettings,
  redis: ResolvedRedisOptions,
): ClientOptions {
  const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) {
    throw new ValidationError(`redis URL path must be a database number (e.g. redis://host:6379/0)`);
  }
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  return {
    host,
    port: url.port ? Number(url.port) : 6379,
    username: password !== undefined && url.username ? decodeURIComponent(url.username) : undefined,
    password,
    db: path === '' ? 0 : Number(path),
    tls: url.protocol === 'rediss:' ? { servername: host } : undefined,
    connectionName: redis.connectionName,
    connectTimeout: settings.connectTimeoutMs,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    autoResendUnfulfilledCommands: true,
    keepAlive: 10_000,
    noDelay: true,
    retryStrategy: (failures: number) => reconnectDelay(failures, settings.reconnect),
  };
}

function parseVersion(info: string): [number, number] | undefined {
  const m = /redis_version:(\d+)\.(\d+)/.exec(info);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** The command connection plus what the adapter needs to know about its state. */
export class Connection {
  #closed = false;
  #everReady = true;
  #lastError: Error | undefined;
  readonly #waiters = new Set<{ wake: () => void; fail: (e: Error) => void }>();
  /** Connections of subscriptions, closed with this one at the latest. */
  readonly #readers = new Set<Redis>();

  private constructor(
    readonly cmd: Redis,
    /** The URL without credentials, for messages. */
    readonly where: string,
    private readonly hooks: TransportHooks,
    private readonly maxWaiting: number,
  ) {
    cmd.on('error', (error: Error) => {
      this.#lastError = error;
    });
    cmd.on('close', () => {
      if (this.#closed || !this.#everReady) return;
      this.#everReady = false;
      this.hooks.status(
        'reconnecting',
        this.#lastError ?? new BrokerUnavailableError(`lost the connection to Redis at ${where}`),
      );
    });
    cmd.on('ready', () => {
      if (this.#closed || this.#everReady) return;
      this.#everReady = true;
      this.#lastError = undefined;
      for (const w of this.#waiters) w.wake();
      this.#waiters.clear();
      this.hooks.status('ready');
    });
  }

  /** Connect, check the server version, and start relaying status. */
  static async open(
    settings: BrokerSettings,
    redis: ResolvedRedisOptions,
    hooks: TransportHooks,
  ): Promise<Connection> {
    if (settings.urls.length !== 1) {
      throw new ConfigurationError(
        `redis:// takes one URL, got ${settings.urls.length}: Redis Cluster and Sentinel are not supported`,
      );
    }
    const url = settings.urls[0]!;
    const where = redactUrl(url);
    const cmd = new Redis(clientOptions(url, settings, redis));
    let lastError: Error | undefined;
    const onError = (error: Error) => (lastError = error);
    cmd.on('error', onError);
    try {
      await withTimeout(
        cmd.connect(),
        settings.connectTimeoutMs,
        () =>
          new BrokerUnavailableError(
            `no answer from Redis at ${where} within ${settings.connectTimeoutMs} ms`,
          ),
      );
      const version = parseVersion(await cmd.info('server'));
      const [major, minor] = MIN_REDIS_VERSION;
      if (version && (version[0] < major || (version[0] === major && version[1] < minor))) {
        throw new ConfigurationError(
          `Redis at ${where} is ${version.join('.')}; brokerkit needs ${major}.${minor} or newer`,
        );
      }
    } catch (error) {
      cmd.disconnect();
      if (isBrokerkitError(error)) throw error;
      const detail = (lastError ?? error) as Error;
      throw new BrokerUnavailableError(`cannot connect to Redis at ${where}: ${detail.message}`, {
        cause: lastError ?? error,
      });
    } finally {
      cmd.off('error', onError);
    }
    return new Connection(cmd, where, hooks, settings.maxBufferedPublishes);
  }

  /** True while the command connection is up. */
  get ready(): boolean {
    return this.cmd.status === 'ready';
  }

  /**
   * Resolve once connected, or reject with `BK_UNAVAILABLE` after `ms` (or at once when
   * `maxBufferedPublishes` callers are already waiting).
   */
  waitReady(ms: number): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError());
    if (this.ready) return Promise.resolve();
    if (this.#waiters.size >= this.maxWaiting) {
      return Promise.reject(
        new BrokerUnavailableError(
          `Redis at ${this.where} is unreachable and ${this.maxWaiting} publishes are already waiting`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        wake: () => {
          clearTimeout(timer);
          resolve();
        },
        fail: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(
        () => {
          this.#waiters.delete(waiter);
          reject(new BrokerUnavailableError(`Redis at ${this.where} stayed unreachable for ${ms} ms`));
        },
        Math.max(0, ms),
      );
      this.#waiters.add(waiter);
    });
  }

  /**
   * A connection of its own for one subscription's blocking reads. It reconnects by itself; while
   * it is down its reads wait, and the command connection's status is what brokerkit reports.
   */
  openReader(): Redis {
    if (this.#closed) throw new ClosedError();
    const reader = this.cmd.duplicate({ lazyConnect: false });
    reader.on('error', () => undefined);
    this.#readers.add(reader);
    reader.once('end', () => this.#readers.delete(reader));
    return reader;
  }

  /** Let everything on its way be answered (bounded), then disconnect. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters) w.fail(new ClosedError());
    this.#waiters.clear();
    for (const reader of this.#readers) reader.disconnect();
    this.#readers.clear();
    if (this.ready) {
      await withTimeout(this.cmd.quit(), QUIT_TIMEOUT_MS, () => new Error('QUIT timed out')).catch(
        () => undefined,
      );
    }
    this.cmd.disconnect();
  }
}
