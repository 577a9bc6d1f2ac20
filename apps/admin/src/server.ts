/**
 * `npm run admin`: connect to `BROKER_URL` (default `memory://`), serve the admin on
 * `ADMIN_HOST:ADMIN_PORT` (default 127.0.0.1:3000), and on SIGTERM / SIGINT stop accepting
 * requests, then close the broker (draining it) before exiting. `RABBITMQ_MANAGEMENT_URL`
 * (e.g. `http://guest:guest@127.0.0.1:15672`) gives the RabbitMQ adapter the management API for
 * in-flight numbers and queues declared by other processes. `OTEL_EXPORTER_OTLP_ENDPOINT` exports
 * traces over OTLP (otel.ts; service name `brokerkit-admin` unless `OTEL_SERVICE_NAME` is set),
 * the spans still queued at shutdown included. A bad variable exits 2 with one line
 * naming it; an unreachable broker or a taken port exits 1 (startup.ts).
 */
import closeWithGrace from 'close-with-grace';
import { connect, defaultBrokerUrl, redactUrl } from '@brokerkit/core';
import type { Broker, BrokerOptions } from '@brokerkit/core';
import { metrics } from '@brokerkit/metrics';
import { buildApp } from './app.js';
import { configFromEnv, type AdminConfig } from './config.js';
import { startOtlpTracing, type OtlpTracing } from './otel.js';
import { configFailure, connectFailure, listenFailure, type StartupFailure } from './startup.js';

function exit(failure: StartupFailure): never {
  process.stderr.write(`brokerkit-admin: ${failure.line}\n`);
  process.exit(failure.exitCode);
}

let config: AdminConfig;
try {
  config = configFromEnv();
} catch (error) {
  exit(configFailure(error));
}
// Before connect, so every publish (dead-letter replays) is traced; loads nothing when unset.
let tracing: OtlpTracing | undefined;
try {
  tracing = await startOtlpTracing('brokerkit-admin');
} catch (error) {
  exit(configFailure(error)); // e.g. a malformed OTEL_RESOURCE_ATTRIBUTES
}
const url = defaultBrokerUrl();
// The `rabbitmq` key is declared by the adapter package, which apps never import.
const options = (
  process.env.RABBITMQ_MANAGEMENT_URL
    ? { rabbitmq: { managementUrl: process.env.RABBITMQ_MANAGEMENT_URL } }
    : {}
) as BrokerOptions;
let broker: Broker;
try {
  broker = await connect(url, options);
} catch (error) {
  exit(connectFailure(error, url));
}
// The admin serves what this process measures; buildApp itself never adds middleware.
const brokerMetrics = metrics();
broker.use(brokerMetrics);
const app = await buildApp({ broker, registry: brokerMetrics.registry, config });
broker.on('error', (error) => app.log.warn({ err: error }, 'broker error'));
broker.on('status', (status) => app.log.info({ status }, 'broker status'));

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an error');
  else app.log.info({ signal }, 'shutting down');
  await app.close();
  await broker.close();
  await tracing?.shutdown(); // after the drain, so the last spans are queued
});

try {
  await app.listen({ host: config.host, port: config.port });
} catch (error) {
  await broker.close();
  exit(listenFailure(error, config.host, config.port));
}
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : config.port;
app.log.info(
  {
    broker: redactUrl(url),
    traces: tracing ? `${tracing.endpoint} (service ${tracing.serviceName})` : 'off',
    auth: config.token ? 'bearer token' : 'none: mutating routes answer 403',
  },
  `brokerkit admin ready: status page http://${config.host}:${port}/ , API docs /docs`,
);
