/** `GET /healthz` (the process answers) and `GET /readyz` (the broker is ready). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Broker } from '@brokerkit/core';
import { HealthSchema, ProblemSchema } from '../schemas.js';
import { problem, sendProblem } from '../problems.js';

/** Options of {@link healthRoutes}. */
export interface HealthRoutesOptions {
  broker: Broker;
}

/** Liveness and readiness probes (no auth: orchestrators call them). */
export const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (app, { broker }) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the admin process is up',
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
      const status = broker.status;
      if (status === 'ready') return { status, broker: broker.adapter };
      return sendProblem(reply, problem('BK_UNAVAILABLE', `the ${broker.adapter} broker is ${status}`));
    },
  );
};
