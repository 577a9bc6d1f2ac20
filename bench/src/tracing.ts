/**
 * What core's tracing middleware costs on confirmed publish → consume throughput, on memory,
 * RabbitMQ and NATS. Subjects, measured in interleaved rounds within one run (median reported):
 *
 * - `tracing: false` — the baseline: core skips even the "is an SDK registered?" check;
 * - `no SDK` — the default with nothing registered: one check per publish and per delivery;
 * - `tracing: false, SDK registered` — the application's SDK and context manager in place (its
 *   AsyncLocalStorage hooks on), brokerkit's tracing off: the reference for the middleware's cost;
 * - `SDK, sampled` — the real OpenTelemetry SDK (BasicTracerProvider, AlwaysOn sampler,
 *   BatchSpanProcessor, AsyncLocalStorage context manager) with an exporter that discards the
 *   batches: everything an application pays except serialising and sending spans;
 * - `SDK, not sampled` — the same with an AlwaysOff sampler (context still propagates);
 * - on RabbitMQ and NATS, the raw client (amqplib confirm channel, JetStream) with the same SDK:
 *   `raw, SDK registered` (no spans) and `raw, SDK, spans by hand` — a PRODUCER span per publish
 *   with the trace context injected through the global propagator, a CONSUMER span per message
 *   extracted from the headers with the handler run inside it, the same attributes: what a user
 *   instrumenting the client by hand pays, the SDK's floor for brokerkit's tracing.
 *
 * The SDK is set up as NodeTracerProvider.register() does (and `@brokerkit/admin/otel`): the
 * AsyncLocalStorage context manager and the W3C trace-context + baggage propagators.
 *
 * The SDK is registered only while its subjects run, so the other subjects see none.
 */
import { connect } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { resetMemoryBroker } from '@brokerkit/memory';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import type { ConsumeMessage } from 'amqplib';
import { connect as natsConnect, headers as natsHeaders } from '@nats-io/transport-node';
import type { MsgHdrs } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { ROOT_CONTEXT, SpanKind, context, propagation, trace } from '@opentelemetry/api';
import type { TextMapGetter, Tracer } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { pipelined, until } from './harness.js';
import type { Measurement, Scenario } from './harness.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WINDOW = 100;
const CONCURRENCY = 100;
const PAYLOAD = { orderId: 'o-123456', amount: 42.5, currency: 'EUR', items: 3, pad: 'x'.repeat(900) };
const BASELINE = 'brokerkit, tracing: false';
/** The application's SDK registered, brokerkit's tracing off: what the middleware itself adds to. */
const SDK_BASELINE = 'brokerkit, tracing: false, SDK registered';
/** The raw client with the SDK registered and no spans: the reference of the hand-made spans. */
const RAW_SDK_BASELINE = 'raw client, SDK registered';
const RAW_TRACED = 'raw client, SDK, spans by hand (sampled)';

interface Target {
  readonly suite: string;
  readonly url: () => string;
  readonly count: number;
  readonly requires?: Scenario['requires'];
  readonly cleanup?: (url: string) => void;
  /** The raw client doing the same work (RabbitMQ, NATS). */
  readonly raw?: (count: number, tracer: Tracer | undefined) => Promise<Timed>;
}

let serial = 0;
const TARGETS: readonly Target[] = [
  {
    suite: 'memory',
    url: () => `memory://bench-tracing-${process.pid}-${serial++}`,
    count: 100_000,
    cleanup: (url) => resetMemoryBroker(new URL(url).host),
  },
  {
    suite: 'rabbitmq',
    url: () => process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    count: 20_000,
    requires: [{ name: 'rabbitmq', host: '127.0.0.1', port: 5672 }],
    raw: (count, tracer) => rawRabbitmq(count, tracer),
  },
  {
    suite: 'nats',
    url: () => process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    count: 20_000,
    requires: [{ name: 'nats-server', host: '127.0.0.1', port: 4222 }],
    raw: (count, tracer) => rawNats(count, tracer),
  },
];

/** Receives every batch and drops it: the SDK's own cost without a network exporter. */
class DiscardingExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], done: (result: { code: number }) => void): void {
    this.exported += spans.length;
    done({ code: 0 }); // ExportResultCode.SUCCESS
  }
  async shutdown(): Promise<void> {}
}

interface Sdk {
  readonly exporter: DiscardingExporter;
  install(): void;
  uninstall(): Promise<void>;
}

function sdk(sampled: boolean): Sdk {
  const exporter = new DiscardingExporter();
  // A queue large enough that no span is dropped at these rates (a dropped span costs less).
  const processor = new BatchSpanProcessor(exporter, {
    maxQueueSize: 200_000,
    maxExportBatchSize: 2048,
    scheduledDelayMillis: 200,
  });
  const provider = new BasicTracerProvider({
    sampler: sampled ? new AlwaysOnSampler() : new AlwaysOffSampler(),
    spanProcessors: [processor],
  });
  return {
    exporter,
    install() {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      // An application's own instrumentation (HTTP, …) has entered a context long before: from then
      // on Node's AsyncLocalStorage hooks cost every promise something, traced by brokerkit or not.
      context.with(context.active(), () => {});
      propagation.setGlobalPropagator(
        new CompositePropagator({
          propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
        }),
      );
      trace.setGlobalTracerProvider(provider);
    },
    async uninstall() {
      await provider.forceFlush();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

// -- the raw clients with spans by hand ------------------------------------------------------

const RAW_BODY = Buffer.from(JSON.stringify(PAYLOAD));

/** A PRODUCER span around `publish` with the context injected into `headers`, as by hand. */
function tracedPublish(
  tracer: Tracer | undefined,
  system: string,
  destination: string,
  headers: Record<string, string>,
  messageId: string,
  publish: () => Promise<unknown>,
): Promise<unknown> {
  if (tracer === undefined) return publish();
  const parent = context.active();
  const span = tracer.startSpan(
    `${destination} publish`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': system,
        'messaging.operation.type': 'publish',
        'messaging.operation.name': 'publish',
        'messaging.destination.name': destination,
        'messaging.message.id': messageId,
        'messaging.message.body.size': RAW_BODY.byteLength,
      },
    },
    parent,
  );
  propagation.inject(trace.setSpan(parent, span), headers);
  return publish().then(
    () => span.end(),
    (error: unknown) => {
      span.end();
      throw error;
    },
  );
}

/** A CONSUMER span, child of the producer's context in the headers, with `handle` run inside. */
function tracedHandle<C>(
  tracer: Tracer | undefined,
  system: string,
  destination: string,
  group: string,
  carrier: C,
  getter: TextMapGetter<C>,
  handle: () => void,
): void {
  if (tracer === undefined) return handle();
  const parent = propagation.extract(ROOT_CONTEXT, carrier, getter);
  const span = tracer.startSpan(
    `${destination} process`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': system,
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': destination,
        'messaging.consumer.group.name': group,
        'messaging.message.body.size': RAW_BODY.byteLength,
      },
    },
    parent,
  );
  context.with(trace.setSpan(parent, span), handle);
  span.end();
}

const amqpHeaderGetter: TextMapGetter<Record<string, unknown> | undefined> = {
  keys: (carrier) => Object.keys(carrier ?? {}),
  get: (carrier, key) => {
    const value = carrier?.[key];
    return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString() : undefined;
  },
};

const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  get: (carrier, key) => (carrier?.has(key) ? carrier.get(key) : undefined),
};

/** Throughput and this process's CPU per message of `count` pipelined publishes, all handled. */
interface Timed {
  readonly perSecond: number;
  readonly cpuUs: number;
}

async function timedRun(
  count: number,
  publishOne: () => Promise<unknown>,
  handled: () => number,
): Promise<Timed> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  await pipelined(count, WINDOW, publishOne);
  await until(handled, count);
  const used = process.cpuUsage(cpu);
  return {
    perSecond: count / ((performance.now() - start) / 1000),
    cpuUs: (used.user + used.system) / count,
  };
}

/** amqplib: confirmed persistent publishes to a durable queue, consumed with prefetch 100. */
async function rawRabbitmq(count: number, tracer: Tracer | undefined): Promise<Timed> {
  const model = await amqp.connect(process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672', {
    noDelay: true,
  });
  try {
    const pub = await model.createConfirmChannel();
    const sub = await model.createChannel();
    const queue = `bench-tracing-raw-${randomUUID().slice(0, 8)}`;
    await pub.assertQueue(queue, { durable: true });
    await sub.prefetch(CONCURRENCY);
    let handled = 0;
    await sub.consume(queue, (m: ConsumeMessage | null) => {
      if (!m) return;
      tracedHandle(tracer, 'rabbitmq', queue, queue, m.properties.headers, amqpHeaderGetter, () => {
        JSON.parse(m.content.toString('utf8'));
        handled++;
      });
      sub.ack(m);
    });
    const publishOne = () => {
      const headers: Record<string, string> = {};
      const messageId = randomUUID();
      return tracedPublish(tracer, 'rabbitmq', queue, headers, messageId, () => {
        const body = Buffer.from(JSON.stringify(PAYLOAD));
        return new Promise<void>((resolve, reject) =>
          pub.sendToQueue(
            queue,
            body,
            { persistent: true, messageId, contentType: 'application/json', headers },
            (err: unknown) => (err ? reject(err) : resolve()),
          ),
        );
      });
    };
    await pipelined(500, WINDOW, publishOne);
    await until(() => handled, 500);
    handled = 0;
    const timed = await timedRun(count, publishOne, () => handled);
    await pub.deleteQueue(queue).catch(() => {});
    return timed;
  } finally {
    await model.close().catch(() => {});
  }
}

/** JetStream: acknowledged publishes to a file stream, a durable explicit-ack consumer. */
async function rawNats(count: number, tracer: Tracer | undefined): Promise<Timed> {
  const nc = await natsConnect({
    servers: (process.env.NATS_URL ?? 'nats://127.0.0.1:4222').replace('nats://', ''),
    noAsyncTraces: true,
  });
  const jsm = await jetstreamManager(nc);
  const t = `benchtrraw${randomUUID().slice(0, 8)}`;
  const stream = `BK_EV_${t}`;
  try {
    await jsm.streams.add({
      name: stream,
      subjects: [`${t}.>`],
      retention: RetentionPolicy.Interest,
      storage: StorageType.File,
    });
    await jsm.consumers.add(stream, {
      durable_name: 'group',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      max_ack_pending: CONCURRENCY,
    });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream, 'group');
    let handled = 0;
    const subject = `${t}.x`;
    const msgs = await consumer.consume({
      max_messages: 256,
      callback: (m) => {
        tracedHandle(tracer, 'nats', subject, 'group', m.headers, natsHeaderGetter, () => {
          JSON.parse(new TextDecoder().decode(m.data));
          handled++;
        });
        m.ack();
      },
    });
    const publishOne = () => {
      const carrier: Record<string, string> = {};
      const messageId = randomUUID();
      return tracedPublish(tracer, 'nats', subject, carrier, messageId, () => {
        const h = natsHeaders();
        for (const key in carrier) h.set(key, carrier[key]!);
        return js.publish(subject, Buffer.from(JSON.stringify(PAYLOAD)), { headers: h, msgID: messageId });
      });
    };
    await pipelined(500, WINDOW, publishOne);
    await until(() => handled, 500);
    handled = 0;
    const timed = await timedRun(count, publishOne, () => handled);
    await msgs.close();
    return timed;
  } finally {
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  }
}

/** The raw twin of {@link publishToGroup}: the SDK registered, spans by hand or none. */
async function rawRun(target: Target, tracer: Sdk, handSpans: boolean): Promise<Run> {
  tracer.install();
  const before = tracer.exporter.exported;
  try {
    const timed = await target.raw!(target.count, handSpans ? trace.getTracer('by-hand') : undefined);
    await tracer.uninstall();
    const notes = `${tracer.exporter.exported - before} spans exported`;
    return { messages: target.count, perSecond: timed.perSecond, cpuUs: timed.cpuUs, notes };
  } finally {
    await tracer.uninstall();
  }
}

/** One run: a measurement plus this process's CPU time per message (µs). */
interface Run extends Measurement {
  cpuUs: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Confirmed publishes to a group, `count` of them (after a warm-up), timed until all are handled. */
async function publishToGroup(target: Target, options: { tracing?: boolean }, tracer?: Sdk): Promise<Run> {
  const url = target.url();
  tracer?.install();
  const broker: Broker = await connect(url, options);
  const group = `bench-tracing-${process.pid}-${serial++}`;
  const topic = `benchtr.${group}`;
  const before = tracer?.exporter.exported ?? 0;
  try {
    let handled = 0;
    await broker.subscribe(topic, () => void handled++, { group, concurrency: CONCURRENCY });
    await pipelined(500, WINDOW, () => broker.publish(topic, PAYLOAD));
    await until(() => handled, 500);
    handled = 0;
    const start = performance.now();
    const cpu = process.cpuUsage();
    await pipelined(target.count, WINDOW, () => broker.publish(topic, PAYLOAD));
    await until(() => handled, target.count);
    const seconds = (performance.now() - start) / 1000;
    // This process's CPU per message: less sensitive than throughput to other work on the machine.
    const used = process.cpuUsage(cpu);
    const cpuUs = (used.user + used.system) / target.count;
    await broker.close();
    await tracer?.uninstall();
    // Every publish and every delivery (warm-up included) should have exported one span.
    const notes = tracer ? `${tracer.exporter.exported - before} spans exported` : undefined;
    return { messages: target.count, perSecond: target.count / seconds, cpuUs, notes };
  } finally {
    await broker.close();
    await tracer?.uninstall(); // idempotent: also after a failed run
    const janitor = await connect(url);
    await janitor.inspector?.deleteQueue(group).catch(() => {});
    await janitor.close();
    target.cleanup?.(url);
  }
}

function scenariosFor(target: Target): Scenario[] {
  const sampled = sdk(true);
  const unsampled = sdk(false);
  const subjects: Array<{ name: string; run: () => Promise<Run> }> = [
    { name: BASELINE, run: () => publishToGroup(target, { tracing: false }) },
    { name: 'brokerkit, no SDK', run: () => publishToGroup(target, {}) },
    { name: SDK_BASELINE, run: () => publishToGroup(target, { tracing: false }, sampled) },
    { name: 'brokerkit, SDK, sampled', run: () => publishToGroup(target, {}, sampled) },
    { name: 'brokerkit, SDK, not sampled', run: () => publishToGroup(target, {}, unsampled) },
  ];
  if (target.raw) {
    subjects.push(
      { name: RAW_SDK_BASELINE, run: () => rawRun(target, sampled, false) },
      { name: RAW_TRACED, run: () => rawRun(target, sampled, true) },
    );
  }
  const workload = `${target.suite} tracing: publish-confirmed → group handler`;
  let results: Promise<Map<string, Measurement>> | undefined;
  const measureAll = async (): Promise<Map<string, Measurement>> => {
    const runs = new Map<string, Run[]>(subjects.map((s) => [s.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const subject of subjects) {
        global.gc?.();
        runs.get(subject.name)!.push(await subject.run());
      }
    }
    const cpuOf = (name: string) => median(runs.get(name)!.map((r) => r.cpuUs));
    const rateOf = (name: string) => median(runs.get(name)!.map((r) => r.perSecond ?? 0));
    const medians = new Map<string, Measurement>();
    for (const [name, list] of runs) {
      const rates = list.map((r) => r.perSecond ?? 0);
      const cpu = cpuOf(name);
      const vs = (reference: string, label: string) =>
        `${((cpu / cpuOf(reference) - 1) * 100).toFixed(1)}% CPU, ${((rateOf(name) / rateOf(reference) - 1) * 100).toFixed(1)}% msg/s vs ${label}`;
      const traced = name.startsWith('brokerkit, SDK');
      const notes = [
        list.find((r) => r.notes)?.notes,
        // CPU per message is the steadier figure on a shared machine (the server's CPU not included).
        `${cpu.toFixed(1)} CPU µs/msg`,
        name === BASELINE ? undefined : vs(BASELINE, 'tracing: false'),
        traced ? vs(SDK_BASELINE, 'tracing: false with the SDK') : undefined,
        name === RAW_TRACED ? vs(RAW_SDK_BASELINE, 'the raw client with the SDK, no spans') : undefined,
        `median of ${ROUNDS}: ${rates.map((r) => Math.round(r)).join('/')} msg/s`,
        `window ${WINDOW}, concurrency ${CONCURRENCY}`,
      ];
      medians.set(name, {
        messages: list[0]!.messages,
        perSecond: median(rates),
        notes: notes.filter(Boolean).join(', '),
      });
    }
    return medians;
  };
  return subjects.map((s) => ({
    workload,
    subject: s.name,
    baseline: s.name === BASELINE ? undefined : BASELINE,
    suite: 'tracing',
    requires: target.requires,
    run: async () => {
      results ??= measureAll();
      return (await results).get(s.name)!;
    },
  }));
}

/** Scenarios of the `tracing` suite (`npm run bench -- tracing`). */
export const scenarios: Scenario[] = TARGETS.flatMap(scenariosFor);
