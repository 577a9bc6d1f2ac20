/**
 * `npm start`: the embedded demo in one process. Env: BROKER_URL (default memory://), ADMIN_HOST
 * (127.0.0.1), ADMIN_PORT (3000), ADMIN_TOKEN, LOG_LEVEL (admin request logs, default warn),
 * DEMO_RATE (orders/s, 20), DEMO_FAILURE_RATE (0.1), DEMO_POISON_RATE (0.02);
 * OTEL_EXPORTER_OTLP_ENDPOINT exports traces over OTLP (`@brokerkit/admin/otel`, service name
 * `brokerkit-demo` unless OTEL_SERVICE_NAME says otherwise). Ctrl-C or SIGTERM stops publishing,
 * drains every handler, closes the broker, exports the spans still queued and exits 0 (also when
 * it arrives during startup: the demo then stops as soon as it has started).
 * `npm start` execs this file (root package.json), so a SIGTERM sent to npm reaches it. A bad
 * variable exits 2 with one line naming it; an unreachable broker or a taken port exits 1.
 */
import { randomBytes } from 'node:crypto';
import { connect, defaultBrokerUrl, redactUrl, type Broker } from '@brokerkit/core';
import { metrics } from '@brokerkit/metrics';
import {
  buildApp,
  configFailure,
  configFromEnv,
  connectFailure,
  listenFailure,
  type AdminConfig,
  type StartupFailure,
} from '@brokerkit/admin';
import { startOtlpTracing, type OtlpTracing } from '@brokerkit/admin/otel';
import { startDemo } from './demo.js';
import { demoSettings, formatBanner, type DemoSettings } from './settings.js';

/**
 * A Ctrl-C or SIGTERM while the demo is still starting (connecting, subscribing, listening) is
 * kept and honoured once it has started: Node's default would end the process on the spot,
 * before the handlers below exist, with nothing drained. A second signal still ends it at once.
 */
let pendingSignal: NodeJS.Signals | undefined;
let onSignal = (signal: NodeJS.Signals): void => void (pendingSignal ??= signal);
process.once('SIGINT', () => onSignal('SIGINT'));
process.once('SIGTERM', () => onSignal('SIGTERM'));

function exit(failure: StartupFailure): never {
  console.error(`brokerkit demo: ${failure.line}`);
  process.exit(failure.exitCode);
}

let settings: DemoSettings;
let adminConfig: AdminConfig;
try {
  settings = demoSettings(process.env);
  // The status page polls every 2 s: per-request info logs would bury the demo's own lines.
  adminConfig = { ...configFromEnv(process.env), logLevel: process.env.LOG_LEVEL || 'warn' };
} catch (error) {
  exit(configFailure(error));
}
// Without ADMIN_TOKEN the demo makes one for this run (printed in the banner), so the status
// page's purge / replay / delete buttons can be tried at once.
const generatedToken = adminConfig.token === undefined;
if (generatedToken) adminConfig.token = randomBytes(12).toString('hex');

// Before connect, so the first publish is traced; loads nothing unless an OTLP endpoint is set.
let tracing: OtlpTracing | undefined;
try {
  tracing = await startOtlpTracing('brokerkit-demo');
} catch (error) {
  exit(configFailure(error)); // e.g. a malformed OTEL_RESOURCE_ATTRIBUTES
}

const url = defaultBrokerUrl();
let broker: Broker;
try {
  broker = await connect(url);
} catch (error) {
  exit(connectFailure(error, url));
}
// Metrics first, so every subscription the demo opens is measured. buildApp adds no middleware
// of its own: it serves this registry.
const brokerMetrics = metrics();
broker.use(brokerMetrics);
broker.on('error', (error) => console.error(`broker error: ${error.message}`));
const demo = await startDemo(
  { rate: settings.rate, failureRate: settings.failureRate, poisonRate: settings.poisonRate },
  broker,
);
const app = await buildApp({ broker, config: adminConfig, registry: brokerMetrics.registry });
try {
  await app.listen({ host: adminConfig.host, port: adminConfig.port });
} catch (error) {
  await demo.close();
  await broker.close();
  exit(listenFailure(error, adminConfig.host, adminConfig.port));
}
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : adminConfig.port;
console.log(
  formatBanner({
    brokerUrl: redactUrl(url),
    host: adminConfig.host,
    port,
    settings,
    generatedToken: generatedToken ? adminConfig.token : undefined,
  }),
);
if (tracing) console.log(`  traces        ${tracing.endpoint} (OTLP, service ${tracing.serviceName})`);

let stopping = false;
const stop = async (signal: string): Promise<void> => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: draining...`);
  try {
    await demo.close();
    await app.close();
    await broker.close();
    // After the drain: the last handlers' spans are queued by now.
    await tracing?.shutdown();
    console.log('stopped cleanly');
    process.exit(0);
  } catch (error) {
    console.error(`shutdown failed: ${(error as Error).message}`);
    process.exit(1);
  }
};
onSignal = (signal) => void stop(signal);
if (pendingSignal !== undefined) void stop(pendingSignal);
