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
  ReplyOutcome,
} from '@brokerkit/core';
import { observe, type CounterCell, type HistogramCell } from './hot-metrics.js';
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
  /** Publishes and sends: until confirmed. Requests: until the reply arrived. */
  readonly duration: HistogramCell;
}

interface HandleChildren {
  /** `outcomes.ack`, held apart: nearly every delivery ends in it, so no keyed lookup for it. */
  readonly ack: CounterCell | undefined;
  readonly outcomes: Readonly<Partial<Record<OutcomeKind, CounterCell>>>;
  readonly duration: HistogramCell;
  readonly lag: HistogramCell;
}

/** Outcomes of subscriptions and consumers, and of responders: each exported from zero. */
const DELIVERY_OUTCOMES: readonly OutcomeKind[] = ['ack', 'retry', 'dead_letter', 'discarded'];
const REPLY_OUTCOMES: readonly OutcomeKind[] = ['reply', 'reply_error'];

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

  // One middleware serves one broker; `attach` sets the label. Before attach, `unattached`.
  let brokerLabel = 'unattached';
  const publishChildren = new Map<string, PublishChildren>();
  const requestChildren = new Map<string, PublishChildren>();
  // destination → group ('' for none) → children: two lookups, no key string built per message.
  const handleChildren = new Map<string, Map<string, HandleChildren>>();
  const respondChildren = new Map<string, Map<string, HandleChildren>>();

  function forPublish(destination: string, request: boolean): PublishChildren {
    const byDestination = request ? requestChildren : publishChildren;
    let children = byDestination.get(destination);
    if (!children) {
      const labels = { broker: brokerLabel, destination };
      // Cells exist (at zero) from the first publish: rate() and alerts see the first error.
      children = {
        published: instruments.published.cell(labels),
        errors: instruments.publishErrors.cell(labels),
        // A request's round trip includes the responder's work: not a publish confirmation time.
        duration: (request ? instruments.requestDuration : instruments.publishDuration).cell(labels),
      };
      byDestination.set(destination, children);
    }
    return children;
  }

  /** The children of the last publish's destination (a cache in front of `forPublish`). */
  let lastPublishDestination: string | undefined;
  let lastPublishChildren: PublishChildren | undefined;

  /** The children of the last delivery's subscription (a cache in front of `forHandle`). */
  let lastDestination: string | undefined;
  let lastGroup: string | undefined;
  let lastRespond = false;
  let lastChildren: HandleChildren | undefined;

  function forHandle(destination: string, group: string | undefined, respond: boolean): HandleChildren {
    const byDestination = respond ? respondChildren : handleChildren;
    let byGroup = byDestination.get(destination);
    if (!byGroup) {
      byGroup = new Map();
      byDestination.set(destination, byGroup);
    }
    const groupLabel = group ?? '';
    let children = byGroup.get(groupLabel);
    if (!children) {
      const labels = { broker: brokerLabel, destination, group: groupLabel };
      const outcomes: Partial<Record<OutcomeKind, CounterCell>> = {};
      for (const outcome of respond ? REPLY_OUTCOMES : DELIVERY_OUTCOMES)
        outcomes[outcome] = instruments.consumed.cell({ ...labels, outcome });
      children = {
        ack: outcomes.ack,
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
      requestChildren.clear();
      handleChildren.clear();
      respondChildren.clear();
      lastPublishDestination = undefined;
      lastPublishChildren = undefined;
      lastDestination = undefined;
      lastChildren = undefined;
      const up = instruments.connectionUp.labels({ broker: brokerLabel });
      const reconnects = instruments.reconnects.labels({ broker: brokerLabel });
      reconnects.inc(0); // export the series from the start, so rate() sees the first reconnect
      // `blocked` (a RabbitMQ alarm) is still a live connection: consumers run, publishes wait.
      const isUp = (status: string): number => (status === 'ready' || status === 'blocked' ? 1 : 0);
      up.set(isUp(broker.status));
      broker.on('status', (status) => up.set(isUp(status)));
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

    // Core calls this for requests only (publishes and sends go to `published`): a request's
    // duration is its round trip, so it has to wrap the call.
    // async + try/await: one promise per call and no closures; also catches a `next()` that throws.
    async publish(context: PublishContext, next: () => Promise<void>): Promise<void> {
      const request = context.kind === 'request';
      const children = forPublish(context.message.destination, request);
      const start = performance.now();
      try {
        await next();
      } catch (error) {
        children.errors.value++;
        throw error;
      }
      children.published.value++;
      // `children.duration` is the request or the publish family's, by `forPublish`.
      observe(children.duration, (performance.now() - start) / 1000);
    },

    // Publishes and sends: a synchronous observer, so core wraps no async chain around the
    // transport, and memory:// (confirmed within the call) is observed without any promise.
    published(context: PublishContext, error: Error | undefined, publishMs: number): void {
      // Publishes come in runs to one destination: the last children answer most lookups.
      const destination = context.message.destination;
      let children = lastPublishChildren;
      if (children === undefined || destination !== lastPublishDestination) {
        children = forPublish(destination, false);
        lastPublishDestination = destination;
        lastPublishChildren = children;
      }
      if (error !== undefined) {
        children.errors.value++;
        return;
      }
      children.published.value++;
      observe(children.duration, publishMs / 1000);
    },

    // Only `settled`, no `handle` hook: core then calls the handler directly and hands over the
    // handler time it measured, so a delivery costs metrics one call and no extra promise.
    settled(
      context: HandleContext,
      outcome: DeliveryOutcome | ReplyOutcome,
      handlerMs: number | undefined,
      startedAt?: number,
    ): void {
      const respond = context.kind === 'respond';
      // Deliveries come in runs from one subscription: the last children answer most lookups.
      let children = lastChildren;
      if (
        children === undefined ||
        context.destination !== lastDestination ||
        context.group !== lastGroup ||
        respond !== lastRespond
      ) {
        children = forHandle(context.destination, context.group, respond);
        lastDestination = context.destination;
        lastGroup = context.group;
        lastRespond = respond;
        lastChildren = children;
      }
      const kind = outcome.kind;
      const cell = kind === 'ack' ? children.ack : children.outcomes[kind];
      if (cell !== undefined) cell.value++;
      // Undecodable messages never reached the handler: nothing to time.
      if (handlerMs !== undefined) observe(children.duration, handlerMs / 1000);
      const sent = context.message.timestamp.getTime();
      // Epoch 0 means the broker carried no timestamp: no lag to report. Lag is up to the moment
      // the handler started: core's own clock read when it hands one over, else now minus the
      // handler's time.
      if (sent > 0) {
        const lagMs = (startedAt ?? Date.now() - (handlerMs ?? 0)) - sent;
        observe(children.lag, Math.max(0, lagMs) / 1000);
      }
    },
  };
  return middleware;
}
