/**
 * RabbitMQ: brokerkit vs raw amqplib twins (same in-flight window, same payloads), with Rascal
 * (default config) and amqp-connection-manager as peers. Two raw twins, printed side by side:
 * - `amqplib (raw, same metadata)` (the baseline): what brokerkit puts on the wire — a topic
 *   exchange, persistent, message id, AMQP timestamp, content type — so the ratio shows what
 *   brokerkit itself costs;
 * - `amqplib (bare)`: default exchange straight to the queue, no properties — what users compare
 *   with, so the second ratio shows what the metadata and routing cost on top. Its messages are
 *   transient: RabbitMQ confirms them without waiting for the disk;
 * - `amqplib (bare, persistent)` (publish→consume window 1000 and the round trips): the bare twin
 *   plus `persistent: true` and nothing else — same default exchange, so the only difference from
 *   bare is the delivery mode, and its row shows how much of the bare gap is persistence alone
 *   (brokerkit's messages are persistent by contract).
 * - `amqplib (same metadata, two connections)` (the round trips): the baseline consuming on a
 *   connection of its own, as brokerkit does (transport.ts: flow control on the publishing
 *   connection must not stall acks), so its row shows what that split costs a round trip.
 *
 * Workloads: publish-confirmed throughput; end-to-end publish→consume throughput (1 KiB window
 * 100, and 256 B window 1000, ack each); publish→handler latency at a moderate window; one-at-a-time
 * round trips (publish, wait for the handler, next) with and without confirms, prefetch 1, for the
 * p50 brokerkit adds; and a slow consumer (prefetch 100) facing a 200 000-message backlog, for peak
 * RSS. Every scenario uses its own queue, deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import amqpcm from 'amqp-connection-manager';
import { connect } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { latencySummary, percentile, pipelined, trackPeakRss, until } from './harness.js';
import type { Measurement, Scenario } from './harness.js';

const URL_ = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const EXCHANGE = 'brokerkit.events';
const REQUIRES = [{ name: 'rabbitmq', host: '127.0.0.1', port: 5672 }];
const SUITE = 'rabbitmq';

const PUBLISH_COUNT = 20_000;
const FIRE_COUNT = 50_000;
const E2E_COUNT = 20_000;
const LATENCY_COUNT = 5_000;
const WINDOW = 100;
const LATENCY_WINDOW = 10;
const WIDE_WINDOW = 1000;
const ROUND_TRIPS = 2_000;
const ROUND_TRIP_WARMUP = 1_000;
const PREFETCH = 100;
const BACKLOG = 200_000;
const SLOW_MS = 3_000;
const PAD = 'x'.repeat(1000);
/** Pads a `{ i, t, pad }` payload to about 256 B of JSON. */
const PAD_256 = 'x'.repeat(230);
/** Declared the way brokerkit declares a work queue, so every subject can consume it. */
const BROKERKIT_QUEUE = {
  durable: true,
  arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': '_bk.queue' },
};

/** Ack unless the subject is closing (the slow-consumer scenario stops mid-handler). */
function safely(ack: () => void): void {
  try {
    ack();
  } catch {
    // closed: the broker requeues
  }
}

/** The payload every subject publishes: ~1 KiB (or ~256 B) of JSON with a send time for latency. */
function payload(i: number, pad = PAD): { i: number; t: number; pad: string } {
  return { i, t: performance.now(), pad };
}

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Subjects: each can publish (confirmed) to a topic bound to `queue` and consume `queue`.

interface Subject {
  /** Publish payload `i`; `confirm: false` resolves once written (peers always confirm). */
  publish(i: number, confirm?: boolean, pad?: string): Promise<unknown>;
  consume(
    onMessage: (data: { i: number; t: number }) => void | Promise<void>,
    prefetch?: number,
  ): Promise<void>;
  close(): Promise<void>;
}

async function withQueue<T>(work: (queue: string, routingKey: string) => Promise<T>): Promise<T> {
  const model = await amqp.connect(URL_, { noDelay: true });
  const ch = await model.createChannel();
  const queue = `bench-${randomUUID().slice(0, 8)}`;
  const routingKey = `bench.${queue}`;
  await ch.assertExchange(EXCHANGE, 'topic', { durable: true });
  await ch.assertQueue(queue, BROKERKIT_QUEUE);
  await ch.bindQueue(queue, EXCHANGE, routingKey);
  try {
    return await work(queue, routingKey);
  } finally {
    await ch.deleteQueue(queue).catch(() => {});
    await model.close().catch(() => {});
  }
}

/** Properties of the `persistent` twin: delivery mode 2 only (shared, as amqplib only reads it). */
const PERSISTENT_ONLY: Options.Publish = Object.freeze({ persistent: true });
const NO_PROPERTIES: Options.Publish = Object.freeze({});

/**
 * The raw amqplib twins. `meta`: brokerkit's wire format (topic exchange, persistent, message id,
 * AMQP timestamp, content type; brokerkit adds no headers table when the user gives no headers).
 * `bare`: default exchange to the queue, no properties. `persistent`: `bare` plus
 * `persistent: true`. `topic`: `persistent` through brokerkit's topic exchange; with `bare` and
 * `persistent` it splits what the contract's wire format costs over a bare client into delivery
 * mode, topic routing and (the rest, up to `meta`) the properties.
 */
async function rawSubject(
  queue: string,
  routingKey: string,
  mode: 'meta' | 'bare' | 'persistent' | 'topic',
  consumerConnection = false,
): Promise<Subject> {
  const model: ChannelModel = await amqp.connect(URL_, { noDelay: true });
  const consuming: ChannelModel = consumerConnection ? await amqp.connect(URL_, { noDelay: true }) : model;
  const pub: ConfirmChannel = await model.createConfirmChannel();
  const fast: Channel = await model.createChannel();
  let drained: Promise<void> | undefined;
  const viaTopic = mode === 'meta' || mode === 'topic';
  const exchange = viaTopic ? EXCHANGE : '';
  const key = viaTopic ? routingKey : queue;
  const properties = (): Options.Publish =>
    mode === 'meta'
      ? {
          persistent: true,
          messageId: randomUUID(),
          timestamp: Math.floor(Date.now() / 1000),
          contentType: 'application/json',
        }
      : mode === 'persistent' || mode === 'topic'
        ? PERSISTENT_ONLY
        : NO_PROPERTIES;
  let sub: Channel | undefined;
  return {
    publish(i, confirm = true, pad = PAD) {
      const content = Buffer.from(JSON.stringify(payload(i, pad)));
      if (!confirm) {
        if (fast.publish(exchange, key, content, properties())) return Promise.resolve();
        drained ??= new Promise<void>((r) => fast.once('drain', () => ((drained = undefined), r())));
        return drained;
      }
      return new Promise<void>((resolve, reject) =>
        pub.publish(exchange, key, content, properties(), (err: unknown) => (err ? reject(err) : resolve())),
      );
    },
    async consume(onMessage, prefetch = PREFETCH) {
      sub = await consuming.createChannel();
      await sub.prefetch(prefetch);
      const channel = sub;
      await channel.consume(queue, (m: ConsumeMessage | null) => {
        if (!m) return;
        const data = JSON.parse(m.content.toString('utf8')) as { i: number; t: number };
        if (mode === 'meta') void (m.properties.messageId as string, m.properties.timestamp as number);
        const r = onMessage(data);
        if (r instanceof Promise) void r.then(() => safely(() => channel.ack(m)));
        else channel.ack(m);
      });
    },
    async close() {
      await model.close().catch(() => {});
      if (consuming !== model) await consuming.close().catch(() => {});
    },
  };
}

const NO_CONFIRM = Object.freeze({ confirm: false });

async function brokerkitSubject(queue: string, routingKey: string): Promise<Subject> {
  const broker: Broker = await connect(URL_);
  return {
    publish: (i, confirm = true, pad = PAD) =>
      broker.publish(routingKey, payload(i, pad), confirm ? undefined : NO_CONFIRM),
    async consume(onMessage, prefetch = PREFETCH) {
      // The bound queue is consumed as a work queue: same queue, same prefetch as the raw client.
      await broker.consume<{ i: number; t: number }>(queue, (m) => onMessage(m.data), {
        concurrency: prefetch,
        prefetch,
      });
    },
    close: () => broker.close(),
  };
}

interface RascalBroker {
  publish(name: string, message: unknown): Promise<NodeJS.EventEmitter>;
  subscribe(name: string): Promise<NodeJS.EventEmitter>;
  shutdown(): Promise<void>;
  on?(event: 'error', listener: (error: Error) => void): void;
}

async function rascalSubject(queue: string, routingKey: string): Promise<Subject> {
  const rascal = require('rascal') as {
    BrokerAsPromised: { create(config: unknown): Promise<RascalBroker> };
    withDefaultConfig(config: unknown): unknown;
  };
  const config = rascal.withDefaultConfig({
    vhosts: {
      '/': {
        connection: { url: URL_ },
        exchanges: { [EXCHANGE]: { assert: true, type: 'topic' } },
        queues: { [queue]: { assert: false, check: true } },
        publications: { p: { exchange: EXCHANGE, routingKey } },
        subscriptions: { s: { queue, prefetch: PREFETCH } },
      },
    },
  });
  const broker = await rascal.BrokerAsPromised.create(config);
  broker.on?.('error', () => {});
  return {
    async publish(i, _confirm, pad = PAD) {
      const publication = await broker.publish('p', payload(i, pad));
      await new Promise<void>((resolve, reject) => {
        publication.on('success', () => resolve());
        publication.on('error', reject);
      });
    },
    async consume(onMessage) {
      const sub = await broker.subscribe('s');
      sub.on('error', () => {});
      sub.on('message', (_m: unknown, content: { i: number; t: number }, ackOrNack: () => void) => {
        const r = onMessage(content);
        if (r instanceof Promise) void r.then(() => safely(ackOrNack));
        else ackOrNack();
      });
    },
    close: () => broker.shutdown(),
  };
}

async function acmSubject(queue: string, routingKey: string): Promise<Subject> {
  const conn = amqpcm.connect([URL_]);
  const ch = conn.createChannel({ json: true, confirm: true });
  await ch.waitForConnect();
  return {
    publish: (i, _confirm, pad = PAD) =>
      ch.publish(EXCHANGE, routingKey, payload(i, pad), {
        persistent: true,
        contentType: 'application/json',
      }),
    async consume(onMessage) {
      await ch.consume(
        queue,
        (m) => {
          const data = JSON.parse(m.content.toString('utf8')) as { i: number; t: number };
          const r = onMessage(data);
          if (r instanceof Promise) void r.then(() => safely(() => ch.ack(m)));
          else ch.ack(m);
        },
        { prefetch: PREFETCH },
      );
    },
    async close() {
      await ch.close().catch(() => {});
      await conn.close().catch(() => {});
    },
  };
}

type Factory = (queue: string, routingKey: string) => Promise<Subject>;

const BROKERKIT = 'brokerkit';
const BASELINE = 'amqplib (raw, same metadata)';
const BARE = 'amqplib (bare)';
const PERSISTENT = 'amqplib (bare, persistent)';
const TOPIC = 'amqplib (topic exchange, persistent)';
const TWO_CONNECTIONS = 'amqplib (same metadata, two connections)';
const SUBJECTS: Array<{ name: string; factory: Factory; peer: boolean }> = [
  { name: BASELINE, factory: (q, rk) => rawSubject(q, rk, 'meta'), peer: false },
  { name: BARE, factory: (q, rk) => rawSubject(q, rk, 'bare'), peer: false },
  { name: BROKERKIT, factory: brokerkitSubject, peer: false },
  { name: 'rascal', factory: rascalSubject, peer: true },
  { name: 'amqp-connection-manager', factory: acmSubject, peer: true },
];
const TWINS = SUBJECTS.filter((s) => !s.peer);
/** The twins plus the persistent bare twin, for the workloads of issue #14's goals 1 and 2. */
const GOAL_TWINS = [
  ...TWINS.slice(0, 2),
  { name: PERSISTENT, factory: (q: string, rk: string) => rawSubject(q, rk, 'persistent'), peer: false },
  ...TWINS.slice(2),
];
const TWO_CONNECTIONS_TWIN = {
  name: TWO_CONNECTIONS,
  factory: (q: string, rk: string) => rawSubject(q, rk, 'meta', true),
  peer: false,
};
/** The goal twins plus the two-connection twin, for the confirmed round trip. */
const CONFIRMED_ROUND_TRIP_TWINS = [...GOAL_TWINS.slice(0, 3), TWO_CONNECTIONS_TWIN, ...GOAL_TWINS.slice(3)];
/** And the topic twin: the `confirm: false` round trip, split by what costs what. */
const ROUND_TRIP_TWINS = [
  ...GOAL_TWINS.slice(0, 3),
  { name: TOPIC, factory: (q: string, rk: string) => rawSubject(q, rk, 'topic'), peer: false },
  TWO_CONNECTIONS_TWIN,
  ...GOAL_TWINS.slice(3),
];

// ---------------------------------------------------------------------------------------------
// Workloads

async function publishConfirmed(factory: Factory): Promise<Measurement> {
  return withQueue(async (queue, routingKey) => {
    const subject = await factory(queue, routingKey);
    try {
      await pipelined(500, WINDOW, (i) => subject.publish(i)); // warm-up
      const start = performance.now();
      await pipelined(PUBLISH_COUNT, WINDOW, (i) => subject.publish(i));
      const seconds = (performance.now() - start) / 1000;
      return { messages: PUBLISH_COUNT, perSecond: PUBLISH_COUNT / seconds, notes: `window ${WINDOW}` };
    } finally {
      await subject.close();
    }
  });
}

async function endToEnd(factory: Factory, count: number, window: number, pad = PAD): Promise<Measurement> {
  return withQueue(async (queue, routingKey) => {
    const subject = await factory(queue, routingKey);
    try {
      let received = 0;
      const samples: number[] = [];
      await subject.consume((data) => {
        received++;
        samples.push(performance.now() - data.t);
      });
      const start = performance.now();
      await pipelined(count, window, (i) => subject.publish(i, true, pad));
      await until(() => received, count);
      const seconds = (performance.now() - start) / 1000;
      return {
        messages: count,
        perSecond: count / seconds,
        ...latencySummary(samples),
        notes: `window ${window}, prefetch ${PREFETCH}`,
      };
    } finally {
      await subject.close();
    }
  });
}

/** `confirm: false` vs amqplib's plain channel: resolve once written, wait for 'drain' when full. */
async function fireAndForget(factory: Factory): Promise<Measurement> {
  return withQueue(async (queue, routingKey) => {
    const subject = await factory(queue, routingKey);
    try {
      const start = performance.now();
      await pipelined(FIRE_COUNT, WINDOW, (i) => subject.publish(i, false));
      const seconds = (performance.now() - start) / 1000;
      return { messages: FIRE_COUNT, perSecond: FIRE_COUNT / seconds, notes: 'resolved when written' };
    } finally {
      await subject.close();
    }
  });
}

/**
 * One message at a time: publish (confirmed or not), wait until the handler has it, publish the
 * next; prefetch 1. The p50 over the raw twin is the latency brokerkit adds to a round trip.
 */
async function roundTrips(factory: Factory, confirm: boolean): Promise<Measurement> {
  return withQueue(async (queue, routingKey) => {
    const subject = await factory(queue, routingKey);
    try {
      let wake: () => void = () => {};
      await subject.consume(() => wake(), 1);
      const samples: number[] = [];
      const total = ROUND_TRIP_WARMUP + ROUND_TRIPS;
      const start = performance.now();
      let measuredFrom = start;
      for (let i = 0; i < total; i++) {
        if (i === ROUND_TRIP_WARMUP) measuredFrom = performance.now();
        const handled = new Promise<void>((resolve) => (wake = resolve));
        const t = performance.now();
        await subject.publish(i, confirm, PAD_256);
        await handled;
        if (i >= ROUND_TRIP_WARMUP) samples.push(performance.now() - t);
      }
      const seconds = (performance.now() - measuredFrom) / 1000;
      return {
        messages: ROUND_TRIPS,
        perSecond: ROUND_TRIPS / seconds,
        ...latencySummary(samples),
        notes: `256 B, one in flight, prefetch 1${confirm ? ', confirmed' : ', confirm: false'}`,
      };
    } finally {
      await subject.close();
    }
  });
}

/** A backlog shared by the slow-consumer scenarios, filled once with the raw client. */
let backlog: { queue: string; model: ChannelModel } | undefined;

async function ensureBacklog(): Promise<string> {
  if (backlog) return backlog.queue;
  const model = await amqp.connect(URL_, { noDelay: true });
  const ch = await model.createConfirmChannel();
  const queue = `bench-backlog-${randomUUID().slice(0, 8)}`;
  await ch.assertQueue(queue, BROKERKIT_QUEUE);
  const body = Buffer.from(JSON.stringify({ i: 0, t: 0, pad: 'x'.repeat(200) }));
  for (let i = 0; i < BACKLOG; i += 1000) {
    for (let j = 0; j < 1000; j++) ch.sendToQueue(queue, body, { contentType: 'application/json' });
    await ch.waitForConfirms();
  }
  backlog = { queue, model };
  return queue;
}

async function slowConsumer(factory: Factory): Promise<Measurement> {
  const queue = await ensureBacklog();
  global.gc?.();
  const startRss = process.memoryUsage.rss() / (1024 * 1024);
  const subject = await factory(queue, `bench.${queue}`);
  const rss = trackPeakRss();
  let handled = 0;
  try {
    await subject.consume(async () => {
      await new Promise((r) => setTimeout(r, 20)); // a slow handler
      handled++;
    });
    await new Promise((r) => setTimeout(r, SLOW_MS));
  } finally {
    await subject.close();
  }
  const peak = rss.stop();
  return {
    messages: handled,
    perSecond: handled / (SLOW_MS / 1000),
    peakRssMiB: peak,
    // The process is shared by every scenario: growth over the start shows what this one added.
    notes: `backlog ${BACKLOG}, prefetch ${PREFETCH}, 20 ms handler, +${(peak - startRss).toFixed(1)} MiB over start`,
  };
}

async function dropBacklog(): Promise<Measurement> {
  if (backlog) {
    const ch = await backlog.model.createChannel();
    await ch.deleteQueue(backlog.queue).catch(() => {});
    await backlog.model.close().catch(() => {});
    backlog = undefined;
  }
  return { messages: 0, notes: 'cleanup' };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/**
 * Round trips get more rounds: their p50 differences are judged by pairs of rounds (see
 * {@link pairedP50}), and a shared VM moves a round's p50 by more than the 0.03 ms looked for.
 */
const ROUND_TRIP_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

/**
 * How a subject's p50 compares with `other`'s round by round: the median of (subject − other)
 * over the rounds they ran back to back, and in how many rounds it was above. Load that drifts
 * between rounds moves both members of a pair, so this resolves differences that the two
 * medians, taken from different rounds, do not.
 */
function pairedP50(mine: readonly Measurement[], other: readonly Measurement[], otherName: string): string {
  const diffs: number[] = [];
  for (let i = 0; i < mine.length && i < other.length; i++) {
    const a = mine[i]!.p50Ms;
    const b = other[i]!.p50Ms;
    if (a !== undefined && b !== undefined) diffs.push(a - b);
  }
  if (diffs.length === 0) return '';
  const above = diffs.filter((d) => d > 0).length;
  const median = percentile(
    diffs.sort((x, y) => x - y),
    50,
  );
  const sign = median >= 0 ? '+' : '';
  return `paired p50 vs ${otherName}: ${sign}${median.toFixed(3)} ms (above in ${above} of ${diffs.length} rounds)`;
}

/**
 * Scenarios of one workload whose subjects are measured in interleaved rounds (raw, brokerkit,
 * peers, raw, brokerkit, …) and reported by their median run: the machine is shared (2 cores,
 * other work running), so load drifts during a bench, and interleaving spreads the drift evenly
 * over the subjects. The first scenario's `run` measures all of them; the others report.
 */
/** How {@link interleaved} measures one workload. */
interface RoundOptions {
  /** Rounds of every subject (default {@link ROUNDS}). */
  rounds?: number;
  /** Subjects brokerkit's p50 is compared with round by round ({@link pairedP50}). */
  pairedWith?: readonly string[];
  /** A forced `gc()` before each run (default true). */
  forceGc?: boolean;
}

/**
 * Round trips: more rounds, paired with both same-metadata twins, and no forced `gc()` before each
 * run — after one, brokerkit's p50 stayed ~0.06 ms higher for the whole run of 2 000 (paired
 * rounds, 2026-12-02), a cost no service pays; the rotating order spreads the previous run's
 * garbage over the subjects instead.
 */
const ROUND_TRIP_OPTIONS: RoundOptions = {
  rounds: ROUND_TRIP_ROUNDS,
  pairedWith: [BASELINE, TWO_CONNECTIONS],
  forceGc: false,
};

function interleaved(
  workload: string,
  subjects: ReadonlyArray<{ name: string; run: () => Promise<Measurement> }>,
  { rounds = ROUNDS, pairedWith = [], forceGc = true }: RoundOptions = {},
): Scenario[] {
  let results: Promise<Map<string, Measurement>> | undefined;
  const measureAll = async (): Promise<Map<string, Measurement>> => {
    const runs = new Map<string, Measurement[]>(subjects.map((s) => [s.name, []]));
    for (let round = 0; round < rounds; round++) {
      // Each round starts one subject later, so no subject always runs right after the same one.
      for (let k = 0; k < subjects.length; k++) {
        const subject = subjects[(round + k) % subjects.length]!;
        if (forceGc) global.gc?.();
        runs.get(subject.name)!.push(await subject.run());
      }
    }
    const medians = new Map<string, Measurement>();
    for (const [name, list] of runs) {
      // Before sorting: pairs are the rounds in the order they ran.
      const paired =
        name === BROKERKIT
          ? pairedWith
              .filter((other) => runs.has(other))
              .map((other) => pairedP50(list, runs.get(other)!, other))
              .filter((text) => text !== '')
          : [];
      list.sort((a, b) => (a.perSecond ?? 0) - (b.perSecond ?? 0));
      const median = list[Math.floor(list.length / 2)]!;
      const rates = list.map((r) => Math.round(r.perSecond ?? 0)).join('/');
      const notes = [`${median.notes ?? ''}, median of ${rounds} (${rates})`, ...paired].join('; ');
      medians.set(name, { ...median, notes });
    }
    return medians;
  };
  return subjects.map((s) => ({
    workload,
    subject: s.name,
    baseline: s.name === BASELINE ? undefined : BASELINE,
    // The persistent twin against bare too: its second ratio is what persistence alone costs.
    alsoComparedWith: s.name === BASELINE || s.name === BARE ? undefined : BARE,
    suite: SUITE,
    requires: REQUIRES,
    run: async () => {
      results ??= measureAll();
      return (await results).get(s.name)!;
    },
  }));
}

function scenariosFor(
  workload: string,
  run: (factory: Factory) => Promise<Measurement>,
  subjects = SUBJECTS,
  options?: RoundOptions,
): Scenario[] {
  return interleaved(
    workload,
    subjects.map((s) => ({ name: s.name, run: () => run(s.factory) })),
    options,
  );
}

/** Scenarios of the `rabbitmq` suite. */
export const scenarios: Scenario[] = [
  ...scenariosFor('rabbitmq publish-confirmed 1KiB', publishConfirmed),
  ...scenariosFor('rabbitmq fire-and-forget (confirm: false) 1KiB', fireAndForget, TWINS),
  ...scenariosFor('rabbitmq end-to-end 1KiB', (f) => endToEnd(f, E2E_COUNT, WINDOW)),
  ...scenariosFor(
    'rabbitmq publish→consume 256B, window 1000, ack each',
    (f) => endToEnd(f, E2E_COUNT, WIDE_WINDOW, PAD_256),
    GOAL_TWINS,
  ),
  ...scenariosFor('rabbitmq latency (window 10)', (f) => endToEnd(f, LATENCY_COUNT, LATENCY_WINDOW)),
  ...scenariosFor(
    'rabbitmq round trip, one at a time (confirm: false)',
    (f) => roundTrips(f, false),
    ROUND_TRIP_TWINS,
    ROUND_TRIP_OPTIONS,
  ),
  ...scenariosFor(
    'rabbitmq round trip, one at a time (confirmed)',
    (f) => roundTrips(f, true),
    CONFIRMED_ROUND_TRIP_TWINS,
    ROUND_TRIP_OPTIONS,
  ),
  // One run each: the backlog is shared and consumed a little by every run.
  ...TWINS.filter((s) => s.name !== BARE).map((s): Scenario => ({
    workload: 'rabbitmq slow consumer, 200k backlog',
    subject: s.name,
    baseline: s.name === BASELINE ? undefined : BASELINE,
    suite: SUITE,
    requires: REQUIRES,
    run: () => slowConsumer(s.factory),
  })),
  {
    workload: 'rabbitmq slow consumer, 200k backlog',
    subject: 'cleanup',
    suite: SUITE,
    requires: REQUIRES,
    run: dropBacklog,
  },
];
