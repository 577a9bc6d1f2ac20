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
 * - `SDK, not sampled` — the same with an AlwaysOff sampler (context still propagates).
 *
 * The SDK is registered only while its subjects run, so the other subjects see none.
 */
import { connect } from '@brokerkit/core';
import type { Broker } from '@brokerkit/core';
import { resetMemoryBroker } from '@brokerkit/memory';
import { context, trace } from '@opentelemetry/api';
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

interface Target {
  readonly suite: string;
  readonly url: () => string;
  readonly count: number;
  readonly requires?: Scenario['requires'];
  readonly cleanup?: (url: string) => void;
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
  },
  {
    suite: 'nats',
    url: () => process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
    count: 20_000,
    requires: [{ name: 'nats-server', host: '127.0.0.1', port: 4222 }],
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
      trace.setGlobalTracerProvider(provider);
    },
    async uninstall() {
      await provider.forceFlush();
      trace.disable();
      context.disable();
    },
  };
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
  const subjects: ReadonlyArray<{ name: string; run: () => Promise<Run> }> = [
    { name: BASELINE, run: () => publishToGroup(target, { tracing: false }) },
    { name: 'brokerkit, no SDK', run: () => publishToGroup(target, {}) },
    { name: SDK_BASELINE, run: () => publishToGroup(target, { tracing: false }, sampled) },
    { name: 'brokerkit, SDK, sampled', run: () => publishToGroup(target, {}, sampled) },
    { name: 'brokerkit, SDK, not sampled', run: () => publishToGroup(target, {}, unsampled) },
  ];
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
      const traced = name !== BASELINE && name !== SDK_BASELINE && name !== 'brokerkit, no SDK';
      const notes = [
        list.find((r) => r.notes)?.notes,
        // CPU per message is the steadier figure on a shared machine (the server's CPU not included).
        `${cpu.toFixed(1)} CPU µs/msg`,
        name === BASELINE ? undefined : vs(BASELINE, 'tracing: false'),
        traced ? vs(SDK_BASELINE, 'tracing: false with the SDK') : undefined,
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
