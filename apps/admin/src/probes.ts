/**
 * The HTTP edges every brokerkit process shares: `GET /healthz`, `GET /readyz` and `GET /metrics`,
 * written once here and served by the admin, the subscriber and the publisher alike. Imported as
 * `@brokerkit/admin/probes`: this entry loads Fastify and TypeBox but none of the admin's API,
 * Swagger or security plugins, so the CLIs start no slower for sharing it.
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Broker } from '@brokerkit/core';
import type { Registry } from '@brokerkit/metrics';
// For the `summary` / `tags` / `produces` schema fields the admin's OpenAPI document reads.
import type {} from '@fastify/swagger';
import { installProblemHandlers, problem, sendProblem } from './problems.js';
import { HealthSchema, ProblemSchema } from './schemas.js';

/** Options of {@link probes} and {@link probesApp}. */
export interface ProbesOptions {
  /** The broker whose status `/readyz` reports. Read only: the probes never change it. */
  readonly broker: Broker;
  /** The registry `/metrics` serves, usually `metrics().registry` after `broker.use(...)`. */
  readonly registry: Registry;
  /**
   * The process's own readiness on top of the broker's: `undefined` when it is ready, otherwise
   * the reason, which becomes the 503's `detail` (the subscriber: `"the subscriber is draining"`).
   * Checked before the broker, since a draining process must leave the load balancer even while
   * its connection is still up.
   */
  readonly notReady?: () => string | undefined;
}

/**
 * Fastify plugin with the three probes; no auth (orchestrators and Prometheus call them):
 * - `GET /healthz`: 200 `{"status":"ok"}` while the process answers at all;
 * - `GET /readyz`: 200 `{"status":"ready","broker":"<adapter>"}` once `broker.status` is
 *   `ready` (`"status":"blocked"` during a RabbitMQ alarm, still 200), else 503
 *   `application/problem+json` with code `BK_UNAVAILABLE`;
 * - `GET /metrics`: the registry in the Prometheus text format, with the registry's content type.
 */
export const probes: FastifyPluginAsyncTypebox<ProbesOptions> = async (app, options) => {
  const { broker, registry, notReady } = options;

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process is up',
        tags: ['health'],
        response: { 200: HealthSchema },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: 200 once the broker connection is ready, 503 otherwise',
        tags: ['health'],
        response: { 200: HealthSchema, 503: ProblemSchema },
      },
    },
    async (_request, reply) => {
      const reason = notReady?.();
      if (reason !== undefined) return sendProblem(reply, problem('BK_UNAVAILABLE', reason));
      const status = broker.status;
      // Blocked (a RabbitMQ alarm) is ready: consuming goes on, publishes wait bounded by timeoutMs.
      if (status === 'ready' || status === 'blocked') return { status, broker: broker.adapter };
      return sendProblem(reply, problem('BK_UNAVAILABLE', `the ${broker.adapter} broker is ${status}`));
    },
  );

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
      // A cached scrape would show Prometheus stale counters.
      return reply.type(registry.contentType).header('cache-control', 'no-store').send(text);
    },
  );
};

/**
 * A Fastify app serving only {@link probes}, errors and unknown routes as problem+json, no logs:
 * the whole HTTP surface of a process whose real work is elsewhere (the subscriber, the
 * publisher's `--metrics-port`). Not listening yet: call `listen()`, or `inject()` in tests.
 */
export function probesApp(options: ProbesOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  installProblemHandlers(app);
  // Not awaited: Fastify loads registered plugins on ready(), listen() or inject().
  void app.register(probes, options);
  return app;
}
