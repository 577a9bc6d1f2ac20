/**
 * The subscriber's HTTP surface: the shared probes (`@brokerkit/admin/probes`), with `/readyz`
 * also 503 until every subscription is live and again while draining, so a load balancer or an
 * orchestrator stops counting on a member that is going away.
 */
import type { FastifyInstance } from 'fastify';
import type { Broker } from '@brokerkit/core';
import type { BrokerMetrics } from '@brokerkit/metrics';
import { probesApp } from '@brokerkit/admin/probes';

/** The service's own state, on top of the broker's, that `/readyz` reports. */
export type Readiness = 'starting' | 'ready' | 'draining';

/** Options of {@link buildHttpApp}. */
export interface HttpAppOptions {
  readonly broker: Broker;
  /** The middleware the service added to `broker`; `/metrics` serves its registry. */
  readonly metrics: BrokerMetrics;
  readonly readiness: () => Readiness;
}

/** Build the Fastify app without listening (tests use `app.inject()`). */
export function buildHttpApp(options: HttpAppOptions): FastifyInstance {
  const { broker, metrics, readiness } = options;
  return probesApp({
    broker,
    registry: metrics.registry,
    notReady: () => {
      const state = readiness();
      return state === 'ready' ? undefined : `the subscriber is ${state}`;
    },
  });
}
