/**
 * The NATS connection: connect options from the URL, connection status relayed to core, and a
 * bounded wait for reconnection that publishes use during an outage.
 */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, NodeConnectionOptions, Server } from '@nats-io/transport-node';
import { BrokerUnavailableError, ClosedError, reconnectDelay } from '@brokerkit/core/adapter';
import type { BrokerSettings, TransportHooks } from '@brokerkit/core';
import type { ResolvedNatsOptions } from './options.js';

/**
 * The node to dial next: the one tried least recently (never-tried ones first, in pool order).
 * nats.js' own rotation dials the node it just lost first again; for a node that stopped
 * answering without closing its sockets (SIGSTOP, a hung host) that costs a whole connect
 * timeout before the next node is tried. The node just lost was the most recent one dialed, so
 * this tries it last. Returns null (nats.js' own choice) when that is the same node.
 */
export function leastRecentlyTried(pool: ReadonlyArray<Server>): Server | null {
  let pick: Server | undefined;
  for (const s of pool) if (pick === undefined || s.lastConnect < pick.lastConnect) pick = s;
  return pick === undefined || pick === pool[0] ? null : pick;
}

/**
 * nats.js connection options for one or more `nats://` URLs: every node is handed to nats.js,
 * which connects to one and fails over to the others (credentials from the first URL, never
 * logged). The list is shuffled (nats.js' default, so clients spread over the cluster); nodes
 * the servers announce (gossip) join it; after a loss the others are tried before the lost node.
 */
export function connectionOptions(
  settings: BrokerSettings,
  nats: ResolvedNatsOptions,
  onReconnectAttempt: () => number,
): NodeConnectionOptions {
  const url = settings.urls[0]!;
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const auth: Partial<NodeConnectionOptions> = user && pass ? { user, pass } : user ? { token: user } : {};
  return {
    servers: settings.urls.map((u) => `${u.hostname || '127.0.0.1'}:${u.port || '4222'}`),
    name: nats.name,
    ...auth,
    timeout: settings.connectTimeoutMs,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectDelayHandler: () => reconnectDelay(onReconnectAttempt(), settings.reconnect),
    // Shuffled: many clients of one URL list spread over the cluster instead of all on node 1.
    noRandomize: false,
    reconnectToServer: leastRecentlyTried,
    pingInterval: nats.pingIntervalMs,
    // A stack captured per request was a quarter of a confirmed publish's CPU; errors are
    // mapped to brokerkit errors with the client error as cause anyway.
    noAsyncTraces: true,
    maxPingOut: nats.maxPingOut,
  };
}

/** The connection plus what the adapter needs to know about its state. */
export class Connection {
  #connected = true;
  #closed = false;
  /** Called after every reconnect (durable members pull again: the server forgot their requests). */
  readonly onReconnect = new Set<() => void>();
  /** Called when the connection is lost, with the node it was on (`host:port`). */
  readonly onDisconnect = new Set<(server: string) => void>();
  #waiters = new Set<{ wake: () => void; fail: (e: Error) => void }>();

  private constructor(
    readonly nc: NatsConnection,
    private readonly hooks: TransportHooks,
    private readonly maxWaiting: number,
    private readonly failures: { count: number },
  ) {}

  /** Connect and start relaying status. Rejects (with the client's error) if the server is unreachable. */
  static async open(
    settings: BrokerSettings,
    nats: ResolvedNatsOptions,
    hooks: TransportHooks,
  ): Promise<Connection> {
    // The delay handler runs from the first dial on, before the Connection exists.
    const failures = { count: 0 };
    const nc = await connect(connectionOptions(settings, nats, () => ++failures.count));
    const conn = new Connection(nc, hooks, settings.maxBufferedPublishes, failures);
    void conn.#watch();
    return conn;
  }

  /** True while the client has a live connection to the server. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The server's `max_payload`, as last announced. */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  async #watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case 'disconnect':
          this.#connected = false;
          for (const listener of this.onDisconnect) listener(s.server);
          this.hooks.status('reconnecting', new Error(`disconnected from NATS at ${s.server}`));
          break;
        case 'reconnect':
          this.#connected = true;
          this.failures.count = 0;
          for (const w of this.#waiters) w.wake();
          this.#waiters.clear();
          for (const listener of this.onReconnect) listener();
          this.hooks.status('ready');
          break;
        case 'error':
          this.hooks.error(s.error);
          break;
        default:
          break;
      }
    }
  }

  /**
   * Resolve once connected, or reject with `BK_UNAVAILABLE` after `ms` (or at once when
   * `maxBufferedPublishes` callers are already waiting).
   */
  waitConnected(ms: number): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError());
    if (this.#connected) return Promise.resolve();
    if (this.#waiters.size >= this.maxWaiting) {
      return Promise.reject(
        new BrokerUnavailableError(
          `NATS is unreachable and ${this.maxWaiting} publishes are already waiting`,
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
          reject(new BrokerUnavailableError(`NATS stayed unreachable for ${ms} ms`));
        },
        Math.max(0, ms),
      );
      this.#waiters.add(waiter);
    });
  }

  /** Flush what is buffered (when connected) and close. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters) w.fail(new ClosedError());
    this.#waiters.clear();
    if (this.#connected) await this.nc.flush().catch(() => undefined);
    await this.nc.close();
  }
}
