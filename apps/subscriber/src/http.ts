/**
 * The subscriber's small HTTP surface: `/healthz` (process up), `/readyz` (503 until every
 * subscription is live, and again while draining) and `/metrics` (Prometheus text).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Broker } from '@brokerkit/core';
import type { BrokerMetrics } from '@brokerkit/metrics';

/** What `/readyz` reports. */
export type Readiness = 'starting' | 'ready' | 'draining';

/** Options of {@link buildHttpApp}. */
export interface HttpAppOptions {
  readonly broker: Broker;
  readonly metrics: BrokerMetrics;
  readonly readiness: () => Readiness;
}

/** Build the Fastify app without listening (tests use `app.inject()`). */
export function buildHttpApp(options: HttpAppOptions): FastifyInstance {
  const { broker, metrics, readiness } = options;
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = readiness();
    const ready = state === 'ready' && broker.status === 'ready';
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : state === 'ready' ? broker.status : state, broker: broker.status });
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  return app;
}
