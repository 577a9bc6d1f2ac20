/**
 * Test support shared by every adapter's tests: unique names, polling with a deadline, message
 * accounting, broker reachability checks and a TCP proxy that tests can cut.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';

/** A name unique to this test run: `prefix-<pid>-<random>` (valid as topic token, queue and group). */
export function uniqueName(prefix = 'bk'): string {
  return `${prefix}-${process.pid.toString(36)}-${randomBytes(4).toString('hex')}`;
}

/**
 * Poll `check` until it returns a truthy value or `timeoutMs` passes; then reject with
 * `message`. Synchronisation by condition, never by a fixed sleep.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string | (() => string) } = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      const m = typeof options.message === 'function' ? options.message() : options.message;
      throw new Error(`waitFor: timed out after ${timeoutMs} ms${m ? `: ${m}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Counts deliveries by key: received, distinct, duplicated, and which expected keys are lost. */
export class Tally {
  readonly counts = new Map<string, number>();
  total = 0;

  /** Record one delivery of `key`. */
  add(key: string): void {
    this.total++;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** Distinct keys received. */
  get distinct(): number {
    return this.counts.size;
  }

  /** Deliveries beyond the first of each key. */
  get duplicated(): number {
    return this.total - this.counts.size;
  }

  /** Expected keys never received. */
  lost(expected: Iterable<string>): string[] {
    const missing: string[] = [];
    for (const key of expected) if (!this.counts.has(key)) missing.push(key);
    return missing;
  }
}

/** True when a TCP connection to host:port succeeds within `timeoutMs`. */
export function isReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The subset of a tap `Test` that {@link requireService} needs. */
export interface SkippableTest {
  plan?(n: number, comment?: string): void;
  comment(...args: unknown[]): void;
  fail(message: string): boolean;
}

/**
 * Check a broker or tool needed by a test file. Outside CI, an unreachable service skips with a
 * printed reason (returns false). With `CI=true` nothing may skip: the test fails instead.
 */
export async function requireService(
  t: SkippableTest,
  name: string,
  host: string,
  port: number,
): Promise<boolean> {
  if (await isReachable(host, port)) return true;
  const reason = `${name} is not reachable at ${host}:${port}`;
  if (process.env.CI === 'true') {
    t.fail(`${reason} (CI=true: services must be up, see .ci/run)`);
    return false;
  }
  t.comment(`skipping: ${reason}`);
  t.plan?.(0, `skip: ${reason}`);
  return false;
}

/**
 * A TCP proxy between client and broker that a test controls: `cut()` destroys every open
 * connection (a network failure as the client sees it) and `pause()` refuses new ones until
 * `resume()`.
 */
export class TcpProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #refusing = false;
  #port = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.#server = net.createServer((client) => this.#accept(client));
  }

  /** Start a proxy on a free local port forwarding to `targetHost:targetPort`. */
  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy.#port = (proxy.#server.address() as net.AddressInfo).port;
    return proxy;
  }

  /** The local port clients connect to. */
  get port(): number {
    return this.#port;
  }

  /** Open client connections. */
  get connections(): number {
    return this.#sockets.size / 2;
  }

  #accept(client: net.Socket): void {
    if (this.#refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Destroy every open connection now. */
  cut(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  /** Refuse new connections (and cut the open ones) until {@link resume}. */
  pause(): void {
    this.#refusing = true;
    this.cut();
  }

  /** Accept connections again. */
  resume(): void {
    this.#refusing = false;
  }

  /** Stop listening and cut everything. */
  async close(): Promise<void> {
    this.#refusing = true;
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * A TCP port that was free a moment ago on 127.0.0.1 (the OS picks it). For servers a test
 * starts as child processes, which must be told their port up front.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
