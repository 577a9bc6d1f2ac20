/**
 * @brokerkit/metrics — Prometheus metrics for brokerkit: `broker.use(metrics())` counts and
 * times publishes and deliveries, and the queue gauges read the broker's inspector at scrape time.
 *
 * @packageDocumentation
 */
export { metrics, type MetricsOptions, type BrokerMetrics } from './middleware.js';
/** The prom-client registry type, re-exported so users need no direct prom-client import. */
export type { Registry } from 'prom-client';
export { instrumentsFor, type Instruments, type QueueSource } from './instruments.js';
export { queueSource, type QueueSourceOptions } from './queue-source.js';
