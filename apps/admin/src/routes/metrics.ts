/** `GET /metrics`: the Prometheus exposition of the broker's metrics registry. */
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from '@brokerkit/metrics';

/** Options of {@link metricsRoute}. */
export interface MetricsRouteOptions {
  registry: Registry;
}

/** Serves `registry` in the text format Prometheus scrapes (no auth, like every exporter). */
export const metricsRoute: FastifyPluginAsync<MetricsRouteOptions> = async (app, { registry }) => {
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['metrics'],
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).header('cache-control', 'no-store').send(text);
    },
  );
};
