/**
 * The metric families of docs/architecture.md#metrics-and-admin, created once per prom-client registry so several brokers (or
 * several `metrics()` calls) can share one registry without "already registered" errors.
 */
import { Counter, Gauge, collectDefaultMetrics } from 'prom-client';
import type { Registry } from 'prom-client';
import type { QueueInfo } from '@brokerkit/core';
import { CounterFamily, HistogramFamily } from './hot-metrics.js';

/** Labels of the publish-side families. */
export const PUBLISH_LABELS = ['broker', 'destination'] as const;
/** Labels of `brokerkit_messages_consumed_total`. */
export const CONSUME_LABELS = ['broker', 'destination', 'group', 'outcome'] as const;
/** Labels of the handler duration and delivery lag histograms. */
export const HANDLE_LABELS = ['broker', 'destination', 'group'] as const;
/** Labels of the queue gauges. */
export const QUEUE_LABELS = ['broker', 'queue', 'kind'] as const;

/** Publish confirmation takes ~0.1–5 ms on a local broker and up to the 30 s timeout in an outage. */
const PUBLISH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Handlers range from sub-millisecond to long jobs. */
const PROCESS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Lag includes backlog and retry delays (backoff caps at 30 s by default, queues may hold hours). */
const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

/** Every metric family brokerkit exports, bound to one registry. */
export interface Instruments {
  readonly registry: Registry;
  // Per-message families: recorded on every publish and delivery.
  readonly published: CounterFamily;
  readonly publishErrors: CounterFamily;
  readonly consumed: CounterFamily;
  readonly publishDuration: HistogramFamily;
  readonly requestDuration: HistogramFamily;
  readonly processDuration: HistogramFamily;
  readonly deliveryLag: HistogramFamily;
  // Rare events and scrape-time gauges: prom-client's own classes.
  readonly connectionUp: Gauge<'broker'>;
  readonly reconnects: Counter<'broker'>;
  readonly inspectorErrors: Counter<'broker'>;
  readonly queueDepth: Gauge<(typeof QUEUE_LABELS)[number]>;
  readonly queueInFlight: Gauge<(typeof QUEUE_LABELS)[number]>;
  readonly queueConsumers: Gauge<(typeof QUEUE_LABELS)[number]>;
  /** Read by the queue gauges at scrape time; one round per scrape fills all three. */
  readonly queueSources: Set<QueueSource>;
}

/** One broker's queues as a scrape sees them; `undefined` when inspection failed this time. */
export type QueueSource = () => Promise<{ broker: string; queues: readonly QueueInfo[] } | undefined>;

const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const byRegistry = new WeakMap<Registry, Instruments>();

/**
 * The instruments of `registry`, created on first use. With `defaultMetrics`, prom-client's
 * process metrics (CPU, memory, event loop lag, GC) are registered too, once per registry.
 */
export function instrumentsFor(registry: Registry, defaultMetrics: boolean): Instruments {
  let instruments = byRegistry.get(registry);
  if (!instruments) {
    instruments = createInstruments(registry);
    byRegistry.set(registry, instruments);
  }
  if (defaultMetrics && !registry.getSingleMetric('process_cpu_user_seconds_total')) {
    collectDefaultMetrics({ register: registry });
    // Gauges named `_total` that `promtool check metrics` rejects; the same numbers are in
    // nodejs_active_{handles,requests,resources} (by type) anyway.
    for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  }
  return instruments;
}

function createInstruments(registry: Registry): Instruments {
  const registers = [registry];
  const queueSources = new Set<QueueSource>();
  // prom-client collects every metric of a scrape concurrently: the first queue gauge starts a
  // round, the other two join it, so one scrape inspects each broker once.
  let round: Promise<void> | undefined;
  const fill = async (): Promise<void> => {
    const snapshots = await Promise.all([...queueSources].map((source) => source()));
    const { queueDepth, queueInFlight, queueConsumers } = instruments;
    // Reset first: a deleted queue must disappear instead of repeating its last value.
    queueDepth.reset();
    queueInFlight.reset();
    queueConsumers.reset();
    for (const snapshot of snapshots) {
      if (!snapshot) continue;
      for (const q of snapshot.queues) {
        const labels = { broker: snapshot.broker, queue: q.name, kind: q.kind };
        queueDepth.set(labels, q.depth);
        if (q.inFlight !== null) queueInFlight.set(labels, q.inFlight);
        queueConsumers.set(labels, q.consumers);
      }
    }
  };
  const refreshQueues = (): Promise<void> => {
    round ??= fill().finally(() => {
      round = undefined;
    });
    return round;
  };
  const queueGauge = (name: string, help: string) =>
    new Gauge({
      name,
      help,
      labelNames: QUEUE_LABELS,
      registers,
      collect: refreshQueues,
    });
  const instruments: Instruments = {
    registry,
    queueSources,
    published: new CounterFamily(
      'brokerkit_messages_published_total',
      'Messages published or sent and confirmed by the broker; requests answered.',
      PUBLISH_LABELS,
      registry,
    ),
    publishErrors: new CounterFamily(
      'brokerkit_publish_errors_total',
      'Publishes, sends and requests that rejected (timeout, outage, broker refusal, no responders).',
      PUBLISH_LABELS,
      registry,
    ),
    consumed: new CounterFamily(
      'brokerkit_messages_consumed_total',
      'Deliveries handled, by outcome: ack, retry, dead_letter or discarded (responders: reply or reply_error).',
      CONSUME_LABELS,
      registry,
    ),
    publishDuration: new HistogramFamily(
      'brokerkit_publish_duration_seconds',
      'Time from publish/send until the broker confirmed it.',
      PUBLISH_LABELS,
      PUBLISH_BUCKETS,
      registry,
    ),
    requestDuration: new HistogramFamily(
      'brokerkit_request_duration_seconds',
      'Time from request until its reply arrived (the responder handler included).',
      PUBLISH_LABELS,
      PUBLISH_BUCKETS,
      registry,
    ),
    processDuration: new HistogramFamily(
      'brokerkit_process_duration_seconds',
      'Time a handler took (resolved or thrown).',
      HANDLE_LABELS,
      PROCESS_BUCKETS,
      registry,
    ),
    deliveryLag: new HistogramFamily(
      'brokerkit_delivery_lag_seconds',
      'Time from first publish to the start of this delivery (backlog plus retry delays).',
      HANDLE_LABELS,
      LAG_BUCKETS,
      registry,
    ),
    connectionUp: new Gauge({
      name: 'brokerkit_connection_up',
      help: '1 while the broker connection is ready, 0 while connecting, reconnecting or closed.',
      labelNames: ['broker'],
      registers,
    }),
    reconnects: new Counter({
      name: 'brokerkit_reconnects_total',
      help: 'Times the connection was lost and restored.',
      labelNames: ['broker'],
      registers,
    }),
    inspectorErrors: new Counter({
      name: 'brokerkit_inspector_errors_total',
      help: 'Scrapes whose queue inspection failed or timed out (queue gauges were left out).',
      labelNames: ['broker'],
      registers,
      // Joins the scrape's inspection round, so a failure shows in the same scrape.
      collect: refreshQueues,
    }),
    queueDepth: queueGauge(
      'brokerkit_queue_depth',
      'Messages ready for delivery, read from the broker at scrape time.',
    ),
    queueInFlight: queueGauge(
      'brokerkit_queue_in_flight',
      'Messages delivered but not acked, plus those waiting for a retry delay (absent where the broker cannot tell).',
    ),
    queueConsumers: queueGauge('brokerkit_queue_consumers', 'Consumers attached to the queue.'),
  };
  return instruments;
}
