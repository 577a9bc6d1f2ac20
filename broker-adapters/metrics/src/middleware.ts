/**
 * `metrics()`: the middleware that counts and times publishes and deliveries, follows the
 * connection state and registers the queue-depth collector. Label children are cached per
 * destination, so the per-message cost is a few map lookups and counter increments.
 */
import { Registry } from 'prom-client';
import type {
  Broker,
  DeliveryOutcome,
  HandleContext,
  Middleware,
  OutcomeKind,
  PublishContext,
} from '@brokerkit/core';
import type { CounterCell, HistogramCell } from './hot-metrics.js';
import { instrumentsFor } from './instruments.js';
import { queueSource } from './queue-source.js';

/** Options of {@link metrics}. */
export interface MetricsOptions {
  /** Registry to register with. Default: a new registry, exposed as {@link BrokerMetrics.registry}. */
  registry?: Registry;
  /** Also register prom-client's default process metrics (once per registry). Default true. */
  defaultMetrics?: boolean;
  /** Longest one scrape waits for queue inspection, in ms. Default 2 000. */
  inspectTimeoutMs?: number;
  /** How long one queue inspection answers further scrapes, in ms. Default 1 000. */
  inspectCacheMs?: number;
  /**
   * Where inspection failures are logged (they are also counted in
   * `brokerkit_inspector_errors_total`). Default: `console.warn`.
   */
  log?: (message: string, error: Error) => void;
}

/** The metrics middleware, with the registry to expose (e.g. at `/metrics`). */
export interface BrokerMetrics extends Middleware {
  readonly registry: Registry;
}

interface PublishChildren {
  readonly published: CounterCell;
  readonly errors: CounterCell;
  readonly duration: HistogramCell;
}

interface HandleChildren {
  readonly outcomes: Readonly<Record<OutcomeKind, CounterCell>>;
  readonly duration: HistogramCell;
  readonly lag: HistogramCell;
}

const OUTCOMES: readonly OutcomeKind[] = ['ack', 'retry', 'dead_letter', 'discarded'];

function positiveMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`metrics: ${name} must be > 0, got ${value}`);
  return value;
}

/**
 * Create the metrics middleware: `broker.use(metrics())`, then serve `registry.metrics()`.
 * Names and labels follow docs/architecture.md#metrics-and-admin (see the package README for label cardinality).
 */
export function metrics(options: MetricsOptions = {}): BrokerMetrics {
  const registry = options.registry ?? new Registry();
  const instruments = instrumentsFor(registry, options.defaultMetrics ?? true);
  const inspectTimeoutMs = positiveMs('inspectTimeoutMs', options.inspectTimeoutMs, 2_000);
  const inspectCacheMs = positiveMs('inspectCacheMs', options.inspectCacheMs, 1_000);
  const log =
    options.log ??
    ((message: string, error: Error) => console.warn(`brokerkit metrics: ${message}: ${error.message}`));

  const { publishDuration, processDuration, deliveryLag } = instruments;
  // One middleware serves one broker; `attach` sets the label. Before attach, `unattached`.
  let brokerLabel = 'unattached';
  const publishChildren = new Map<string, PublishChildren>();
  // destination → group ('' for none) → children: two lookups, no key string built per message.
  const handleChildren = new Map<string, Map<string, HandleChildren>>();

  function forPublish(destination: string): PublishChildren {
    let children = publishChildren.get(destination);
    if (!children) {
      const labels = { broker: brokerLabel, destination };
      // Cells exist (at zero) from the first publish: rate() and alerts see the first error.
      children = {
        published: instruments.published.cell(labels),
        errors: instruments.publishErrors.cell(labels),
        duration: instruments.publishDuration.cell(labels),
      };
      publishChildren.set(destination, children);
    }
    return children;
  }

  function forHandle(destination: string, group: string | undefined): HandleChildren {
    let byGroup = handleChildren.get(destination);
    if (!byGroup) {
      byGroup = new Map();
      handleChildren.set(destination, byGroup);
    }
    const groupLabel = group ?? '';
    let children = byGroup.get(groupLabel);
    if (!children) {
      const labels = { broker: brokerLabel, destination, group: groupLabel };
      const outcomes = {} as Record<OutcomeKind, CounterCell>;
      for (const outcome of OUTCOMES) outcomes[outcome] = instruments.consumed.cell({ ...labels, outcome });
      children = {
        outcomes,
        duration: instruments.processDuration.cell(labels),
        lag: instruments.deliveryLag.cell(labels),
      };
      byGroup.set(groupLabel, children);
    }
    return children;
  }

  const middleware: BrokerMetrics = {
    registry,

    attach(broker: Broker): void {
      brokerLabel = broker.adapter;
      publishChildren.clear();
      handleChildren.clear();
      const up = instruments.connectionUp.labels({ broker: brokerLabel });
      const reconnects = instruments.reconnects.labels({ broker: brokerLabel });
      reconnects.inc(0); // export the series from the start, so rate() sees the first reconnect
      up.set(broker.status === 'ready' ? 1 : 0);
      broker.on('status', (status) => up.set(status === 'ready' ? 1 : 0));
      broker.on('reconnected', () => reconnects.inc());
      const inspectorErrors = instruments.inspectorErrors.labels({ broker: brokerLabel });
      inspectorErrors.inc(0);
      const source = queueSource(broker, {
        timeoutMs: inspectTimeoutMs,
        cacheMs: inspectCacheMs,
        countError: () => inspectorErrors.inc(),
        onError: (error) => log(`queue inspection of the ${brokerLabel} broker failed`, error),
      });
      instruments.queueSources.add(source);
      // A closed broker no longer contributes queue series.
      broker.on('status', (status) => {
        if (status === 'closed') instruments.queueSources.delete(source);
      });
    },

    // async + try/await: one promise per call and no closures; also catches a `next()` that
    // throws synchronously (core calls a sync handler directly, so its throw arrives that way).
    async publish(context: PublishContext, next: () => Promise<void>): Promise<void> {
      const children = forPublish(context.message.destination);
      const start = performance.now();
      try {
        await next();
      } catch (error) {
        children.errors.value++;
        throw error;
      }
      children.published.value++;
      publishDuration.observe(children.duration, (performance.now() - start) / 1000);
    },

    // Only `settled`, no `handle` hook: core then calls the handler directly and hands over the
    // handler time it measured, so a delivery costs metrics one call and no extra promise.
    settled(context: HandleContext, outcome: DeliveryOutcome, handlerMs: number | undefined): void {
      const children = forHandle(context.destination, context.group);
      children.outcomes[outcome.kind].value++;
      // Undecodable messages never reached the handler: nothing to time.
      if (handlerMs !== undefined) processDuration.observe(children.duration, handlerMs / 1000);
      const sent = context.message.timestamp.getTime();
      // Epoch 0 means the broker carried no timestamp: no lag to report. Lag is up to the moment
      // the handler started, so the handler's own time is taken off.
      if (sent > 0) {
        const lagMs = Date.now() - (handlerMs ?? 0) - sent;
        deliveryLag.observe(children.lag, Math.max(0, lagMs) / 1000);
      }
    },
  };
  return middleware;
}
