/**
 * The per-test plumbing of the contract suite: a {@link Scope} opens brokers and names and cleans
 * both up, an {@link Inbox} records deliveries with exact accounting, and {@link Gate}s hold
 * handlers open so tests can observe in-flight work without sleeping.
 */
import type t from 'tap';
import { connectWith, deferred, isBrokerkitError } from '@brokerkit/core/adapter';
import type {
  Broker,
  BrokerOptions,
  DeadLetter,
  Handler,
  Message,
  QueueInfo,
  QueueInspector,
  RetryOptions,
  Transport,
} from '@brokerkit/core';
import { Tally, uniqueName, waitFor } from './support.js';
import type { ContractOptions, Features } from './features.js';

/** The tap test object handed to a `t.test` callback. */
export type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

/**
 * First token of every topic the suite publishes. One constant token keeps brokers that
 * provision per first token (NATS: one stream per first token) from accumulating one stream per
 * test run; the second token is unique per test.
 */
export const TOPIC_ROOT = 'bkct';

/** What every test group of the suite receives. */
export interface SuiteContext {
  readonly name: string;
  readonly features: Features;
  readonly connect: ContractOptions['connect'];
  readonly url: string;
}

/** A handler blocked until the test releases it. Released at teardown at the latest. */
export class Gate {
  readonly #open = deferred<void>();
  #isOpen = false;

  /** Resolves once {@link release} is called. */
  get opened(): Promise<void> {
    return this.#open.promise;
  }

  /** True once released. */
  get isOpen(): boolean {
    return this.#isOpen;
  }

  /** Let the blocked handler continue. Idempotent. */
  release(): void {
    this.#isOpen = true;
    this.#open.resolve();
  }
}

/** Let already-due callbacks, I/O and timers of zero delay run: a yield, not a timed wait. */
export function yieldToEventLoop(turns = 3): Promise<void> {
  let chain = Promise.resolve();
  for (let i = 0; i < turns; i++) chain = chain.then(() => new Promise((resolve) => setImmediate(resolve)));
  return chain;
}

/** Everything one test opens, closed again in `t.teardown`: brokers, gates, queues, groups. */
export class Scope {
  readonly #brokers: Broker[] = [];
  readonly #gates: Gate[] = [];
  /** Queue and group names to delete with their companions once the brokers are closed. */
  readonly #created = new Set<string>();
  /**
   * Every `error` event of every broker of this test. Tests that provoke one (a discarded
   * message) take it with {@link takeErrors}; anything left fails the test: nothing is ever
   * dropped silently.
   */
  readonly errors: Error[] = [];

  constructor(
    readonly t: TapTest,
    readonly ctx: SuiteContext,
  ) {
    t.teardown(() => this.#cleanup());
  }

  get features(): Features {
    return this.ctx.features;
  }

  /** A retry policy with `attempts` and the adapter's fast, jitter-free backoff. */
  retry(attempts: number): RetryOptions {
    return { attempts, backoff: { initialMs: this.features.retryInitialMs, factor: 2, jitter: false } };
  }

  /** Connect a broker that is closed at teardown and whose `error` events are recorded. */
  async broker(options?: BrokerOptions): Promise<Broker> {
    const broker = await this.ctx.connect(options);
    broker.on('error', (error) => this.errors.push(error));
    this.#brokers.push(broker);
    return broker;
  }

  /**
   * Connect a broker to the adapter's URL with its transport passed through `wrap` (faults
   * injected below core), closed at teardown, `error` events recorded.
   */
  async brokerWith(wrap: (transport: Transport) => Transport, options?: BrokerOptions): Promise<Broker> {
    const broker = await connectWith(this.ctx.url, options, wrap);
    broker.on('error', (error) => this.errors.push(error));
    this.#brokers.push(broker);
    return broker;
  }

  /** Remove and return the recorded `error` events. */
  takeErrors(): Error[] {
    return this.errors.splice(0, this.errors.length);
  }

  /** A topic unique to this test: `bkct.<unique>` plus optional further tokens. */
  topic(...suffix: string[]): string {
    return [TOPIC_ROOT, uniqueName('t'), ...suffix].join('.');
  }

  /** A work-queue name unique to this test, deleted at teardown. */
  queue(): string {
    return this.track(uniqueName('q'));
  }

  /** A group name unique to this test, deleted at teardown. */
  group(): string {
    return this.track(uniqueName('g'));
  }

  /** Delete the queue or group `name` (with its companions) at teardown. */
  track(name: string): string {
    this.#created.add(name);
    return name;
  }

  /** A payload key unique to this test, for sentinels. */
  key(prefix = 'k'): string {
    return uniqueName(prefix);
  }

  /** A gate released at teardown at the latest, so a failing test cannot hang `close()`. */
  gate(): Gate {
    const gate = new Gate();
    this.#gates.push(gate);
    return gate;
  }

  /** Wait for a condition with the adapter's deadline. */
  waitFor<T>(check: () => T | Promise<T>, message: string | (() => string)): Promise<NonNullable<T>> {
    return waitFor(check, { timeoutMs: this.features.timeoutMs, message });
  }

  /** The broker's inspector; fails the test when the adapter has none. */
  inspector(broker: Broker): QueueInspector {
    const inspector = broker.inspector;
    if (!inspector) {
      this.t.fail(`${broker.adapter} has no QueueInspector (docs/architecture.md#inspection)`);
      throw new Error('no inspector');
    }
    return inspector;
  }

  /** Numbers of `name`, or undefined while it does not exist (`BK_NOT_FOUND`). */
  async info(broker: Broker, name: string): Promise<QueueInfo | undefined> {
    try {
      return await this.inspector(broker).queueInfo(name);
    } catch (error) {
      if (isBrokerkitError(error, 'BK_NOT_FOUND')) return undefined;
      throw error;
    }
  }

  /** Wait until `name` holds exactly `depth` ready messages; resolves with its numbers. */
  async waitForDepth(broker: Broker, name: string, depth: number): Promise<QueueInfo> {
    return this.waitForInfo(broker, name, { depth }, `depth ${depth}`);
  }

  /** Wait until the numbers of `name` include `expected` (a partial {@link QueueInfo}). */
  async waitForInfo(
    broker: Broker,
    name: string,
    expected: Partial<QueueInfo>,
    label = JSON.stringify(expected),
  ): Promise<QueueInfo> {
    let last: QueueInfo | undefined;
    const keys = Object.keys(expected) as (keyof QueueInfo)[];
    await this.waitFor(
      async () => {
        last = await this.info(broker, name);
        return last !== undefined && keys.every((key) => last![key] === expected[key]);
      },
      () => `${name} to reach ${label} (last: ${JSON.stringify(last)})`,
    );
    return last!;
  }

  /** The dead letters of `origin`; a dead-letter queue that was never created counts as empty. */
  async deadLetters(broker: Broker, origin: string, limit = 100): Promise<DeadLetter[]> {
    try {
      return await this.inspector(broker).peekDeadLetters(origin, limit);
    } catch (error) {
      if (isBrokerkitError(error, 'BK_NOT_FOUND')) return [];
      throw error;
    }
  }

  /** Wait until `origin` has exactly `count` dead letters; resolves with them. */
  async waitForDeadLetters(broker: Broker, origin: string, count: number): Promise<DeadLetter[]> {
    let last: DeadLetter[] = [];
    await this.waitFor(
      async () => {
        last = await this.deadLetters(broker, origin);
        return last.length === count;
      },
      () => `${count} dead letter(s) of ${origin} (last: ${last.length})`,
    );
    return last;
  }

  async #cleanup(): Promise<void> {
    for (const gate of this.#gates) gate.release();
    await Promise.allSettled(this.#brokers.map((b) => b.close()));
    // Durable queues outlive the connections that made them on a real server, whatever the
    // feature flags say: always delete what the test created (unknown names are ignored).
    if (this.#created.size === 0) return;
    const janitor = await this.ctx.connect();
    try {
      const inspector = janitor.inspector;
      if (inspector) await Promise.allSettled([...this.#created].map((name) => inspector.deleteQueue(name)));
    } finally {
      await janitor.close();
    }
  }
}

/**
 * Run `body` as a tap subtest with its own {@link Scope}. Afterwards no broker of the test may
 * have reported an `error` event the test did not take.
 */
export function scoped(
  parent: TapTest,
  ctx: SuiteContext,
  name: string,
  body: (scope: Scope) => Promise<void>,
): void {
  void parent.test(name, async (tt) => {
    const scope = new Scope(tt, ctx);
    await body(scope);
    tt.same(
      scope.errors.map((e) => `${(e as { code?: string }).code ?? e.name}: ${e.message}`),
      [],
      'no unexpected broker error events',
    );
  });
}

/** A test payload: `k` identifies the message for accounting; extra fields are free. */
export interface Payload {
  readonly k: string;
  readonly [field: string]: unknown;
}

/**
 * Records every delivery of one or more subscriptions: messages in arrival order and a
 * {@link Tally} by payload key. `onMessage` runs inside the handler (to block, throw or record
 * attempts).
 */
export class Inbox {
  readonly messages: Message<Payload>[] = [];
  readonly tally = new Tally();
  /** Handlers running right now, and the most that ever ran at once. */
  active = 0;
  maxActive = 0;
  /** Handlers that finished (resolved or threw). */
  done = 0;

  constructor(private readonly onMessage?: (message: Message<Payload>) => Promise<void> | void) {}

  /** The handler to subscribe with. */
  readonly handler: Handler<Payload> = async (message) => {
    this.active++;
    if (this.active > this.maxActive) this.maxActive = this.active;
    try {
      this.messages.push(message);
      this.tally.add(keyOf(message));
      await this.onMessage?.(message);
    } finally {
      this.active--;
      this.done++;
    }
  };

  /** Payload keys in arrival order. */
  get keys(): string[] {
    return this.messages.map(keyOf);
  }

  /** Deliveries of `key` so far. */
  count(key: string): number {
    return this.tally.counts.get(key) ?? 0;
  }

  /** True once `key` has been delivered. */
  has(key: string): boolean {
    return this.tally.counts.has(key);
  }

  /** Deliveries of `key`, in arrival order. */
  deliveriesOf(key: string): Message<Payload>[] {
    return this.messages.filter((m) => keyOf(m) === key);
  }
}

function keyOf(message: Message<Payload>): string {
  const data = message.data as Payload | undefined;
  return typeof data === 'object' && data !== null && typeof data.k === 'string'
    ? data.k
    : `<no key: ${message.id}>`;
}

/** Keys `prefix-0` … `prefix-(n-1)`. */
export function keys(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}

/**
 * Assert exact accounting of `inbox` against `expected`: every key received, none lost, none
 * duplicated, nothing else received (keys in `ignore`, e.g. sentinels, are left out).
 */
export function assertExactly(
  t: TapTest,
  inbox: Inbox,
  expected: readonly string[],
  label: string,
  ignore: readonly string[] = [],
): void {
  const skip = new Set(ignore);
  const got = inbox.keys.filter((k) => !skip.has(k));
  const want = new Set(expected);
  const unexpected = [...new Set(got.filter((k) => !want.has(k)))];
  const lost = inbox.tally.lost(expected);
  let duplicated = 0;
  for (const [key, n] of inbox.tally.counts)
    if (!skip.has(key) && want.has(key) && n > 1) duplicated += n - 1;
  t.same(
    { received: got.length, lost: lost.length, duplicated, unexpected: unexpected.length },
    { received: expected.length, lost: 0, duplicated: 0, unexpected: 0 },
    `${label}: received ${expected.length}, lost 0, duplicated 0`,
    { lost: lost.slice(0, 10), unexpected: unexpected.slice(0, 10) },
  );
}

/** Expect `promise` to reject with a brokerkit error of `code`. */
export async function rejectsWith(
  t: TapTest,
  promise: Promise<unknown> | (() => Promise<unknown>),
  code: string,
  label: string,
): Promise<void> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
    t.fail(`${label}: resolved, expected ${code}`);
  } catch (error) {
    const actual = (error as { code?: unknown })?.code;
    t.equal(actual, code, `${label}: rejects with ${code}`, { error: String(error) });
  }
}

/**
 * Assert the exact number of deliveries of every key `inbox` saw (a key missing from
 * `expected` must not have been delivered at all).
 */
export function assertCounts(
  t: TapTest,
  inbox: Inbox,
  expected: Record<string, number>,
  label: string,
): void {
  t.same(Object.fromEntries(inbox.tally.counts), expected, `${label}: deliveries per message`);
}
