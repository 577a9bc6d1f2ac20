/**
 * `buildApp({ broker, registry, config })`: the admin as a Fastify instance that has not started
 * listening, so tests call `app.inject()` and `server.ts` calls `listen`. Every feature is a
 * plugin registered below, in one visible place. The broker is only read and repaired through
 * its inspector: instrumenting it (`broker.use(metrics())`) is the caller's decision.
 */
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Broker } from '@brokerkit/core';
import type { Registry } from '@brokerkit/metrics';
import type { DestinationStream } from 'pino';
import { defaultConfig } from './config.js';
import type { AdminConfig } from './config.js';
import { installProblemHandlers, problem, sendProblem } from './problems.js';
import { probes } from './probes.js';
import { queueRoutes } from './routes/queues.js';
import { statusPage } from './status-page.js';
import { strictValidatorCompiler } from './validation.js';

/** Options of {@link buildApp}. */
export interface BuildAppOptions {
  /** The connected broker the admin inspects. Its lifecycle stays the caller's. */
  broker: Broker;
  /** Configuration; missing fields take {@link defaultConfig}'s values. */
  config?: Partial<AdminConfig>;
  /**
   * The registry `/metrics` serves: `m.registry` after the caller's own `const m = metrics();
   * broker.use(m)`. Required, because `buildApp` never adds middleware to the broker it is lent:
   * the middleware chain is the caller's, and a hidden `metrics()` on a broker the caller had
   * instrumented already would time every message twice while `/metrics` showed one registry.
   */
  registry: Registry;
  /** Where logs go (default stdout); tests pass a stream to read them. */
  logStream?: DestinationStream;
}

/** Header and field paths that never reach the logs. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'brokerUrl',
  'token',
];

/** Build the admin app (routes registered, not listening). Call `app.ready()` or `listen()`. */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const config: AdminConfig = { ...defaultConfig(), ...options.config };
  const { broker, registry } = options;

  const app = Fastify({
    logger:
      config.logLevel === false
        ? false
        : {
            level: config.logLevel,
            redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
            ...(options.logStream ? { stream: options.logStream } : {}),
          },
    bodyLimit: config.bodyLimit,
    // Long enough that an over-long queue name reaches the schema (a 400 naming the rule)
    // instead of the router's bare 414.
    routerOptions: { maxParamLength: 512 },
    // Router-level failures (a malformed URL, say) get problem bodies too.
    frameworkErrors: (error, request, reply) => {
      sendProblem(reply, { ...problem('BK_VALIDATION', error.message, 400), instance: request.url });
    },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // No type coercion, no stripping of unknown fields (validation.ts).
  app.setValidatorCompiler(strictValidatorCompiler);
  // Bodies are JSON or nothing: Fastify's built-in text/plain parser would turn a text body into
  // a string that then fails the schema with a 400; without it, any non-JSON body is a 415.
  app.removeContentTypeParser('text/plain');
  installProblemHandlers(app);
  await app.register(helmet, { global: true });
  await app.register(rateLimit, { global: false });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'brokerkit admin API',
        description: 'Queue depth, purge and dead-letter replay over RabbitMQ, NATS and memory.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' } },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(probes, { broker, registry });
  await app.register(queueRoutes, {
    broker,
    token: config.token,
    rateLimit: config.rateLimit,
    authFailureLimit: config.authFailureLimit,
  });
  await app.register(statusPage, {
    broker,
    registry,
    refreshMs: config.statusRefreshMs,
    historyMs: config.statusHistoryMs,
  });
  return app;
}
