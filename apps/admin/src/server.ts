/**
 * `npm run admin`: connect to `BROKER_URL` (default `memory://`), serve the admin on
 * `ADMIN_HOST:ADMIN_PORT` (default 127.0.0.1:3000), and on SIGTERM / SIGINT stop accepting
 * requests, then close the broker (draining it) before exiting. `RABBITMQ_MANAGEMENT_URL`
 * (e.g. `http://guest:guest@127.0.0.1:15672`) gives the RabbitMQ adapter the management API for
 * in-flight numbers and queues declared by other processes.
 */
import closeWithGrace from 'close-with-grace';
import { connect, defaultBrokerUrl, redactUrl } from '@brokerkit/core';
import type { BrokerOptions } from '@brokerkit/core';
import { metrics } from '@brokerkit/metrics';
import { buildApp } from './app.js';
import { configFromEnv } from './config.js';

const config = configFromEnv();
const url = defaultBrokerUrl();
// The `rabbitmq` key is declared by the adapter package, which apps never import.
const options = (
  process.env.RABBITMQ_MANAGEMENT_URL
    ? { rabbitmq: { managementUrl: process.env.RABBITMQ_MANAGEMENT_URL } }
    : {}
) as BrokerOptions;
const broker = await connect(url, options);
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
});

await app.listen({ host: config.host, port: config.port });
app.log.info(
  { broker: redactUrl(url), auth: config.token ? 'bearer token' : 'none: mutating routes answer 403' },
  `brokerkit admin ready: status page http://${config.host}:${config.port}/ , API docs /docs`,
);
