// OTLP export (`@brokerkit/admin/otel`) with the real SDK and exporter against a local receiver:
// in-process on memory://, and the admin process started with OTEL_EXPORTER_OTLP_ENDPOINT.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { trace } from '@opentelemetry/api';
import { connect } from '@brokerkit/core';
import { waitFor } from '@brokerkit/contract-tests';
import '@brokerkit/memory';
import { otlpTracesEndpoint, startOtlpTracing } from '../src/otel.js';
import { producerConsumerPairs, startOtlpReceiver } from './otlp-receiver.js';

/** True once an SDK is registered globally (the API's no-op tracer never records). */
const tracingActive = (): boolean => {
  const span = trace.getTracer('probe').startSpan('probe');
  span.end();
  return span.isRecording() || span.spanContext().traceId !== '0'.repeat(32);
};

const SERVER = fileURLToPath(new URL('../dist/server.js', import.meta.url));

t.test('otlpTracesEndpoint: the traces variable as given, else the base with /v1/traces', async (t) => {
  t.equal(otlpTracesEndpoint({}), undefined);
  t.equal(otlpTracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }), undefined);
  t.equal(otlpTracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), 'http://c:4318/v1/traces');
  t.equal(otlpTracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }), 'http://c:4318/v1/traces');
  t.equal(
    otlpTracesEndpoint({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/custom',
    }),
    'http://t:4318/custom',
  );
});

t.test('no endpoint, or the SDK disabled: nothing registered', async (t) => {
  t.equal(await startOtlpTracing('x', {}), undefined);
  const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };
  t.equal(await startOtlpTracing('x', { ...on, OTEL_SDK_DISABLED: 'true' }), undefined);
  t.equal(await startOtlpTracing('x', { ...on, OTEL_TRACES_EXPORTER: 'none' }), undefined);
  t.equal(tracingActive(), false, 'core sees no SDK');
});

t.test('in-process: publish → handler on memory:// reaches the receiver as one trace', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  // The exporter reads its endpoint from the environment, as in the apps.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
  t.teardown(() => void delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const tracing = await startOtlpTracing('brokerkit-admin-test', {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  });
  t.ok(tracing);
  t.equal(tracing!.serviceName, 'brokerkit-admin-test');
  t.equal(tracing!.endpoint, `${receiver.endpoint}/v1/traces`);
  t.equal(tracingActive(), true, 'core sees the SDK');

  const broker = await connect(`memory://otel-${process.pid}`);
  let handled = 0;
  await broker.subscribe('otel.test', () => void handled++, { group: 'otel-group' });
  for (let i = 0; i < 3; i++) await broker.publish('otel.test', { i });
  await waitFor(() => handled === 3);
  await broker.close();
  t.equal(receiver.requests, 0, 'nothing exported before shutdown (batch delay not reached)');
  await tracing!.shutdown();
  await tracing!.shutdown(); // idempotent

  t.match(receiver.contentTypes[0], /application\/json/, 'OTLP/HTTP JSON');
  const pairs = producerConsumerPairs(receiver.spans);
  t.equal(pairs.length, 3, 'three PRODUCER → CONSUMER pairs, each one trace');
  const [producer, consumer] = pairs[0]!;
  t.equal(producer.name, 'otel.test publish');
  t.equal(consumer.name, 'otel.test process');
  t.equal(producer.serviceName, 'brokerkit-admin-test');
  t.equal(producer.scope, '@brokerkit/core');
  t.equal(consumer.attributes['messaging.system'], 'memory');
  t.equal(consumer.attributes['messaging.consumer.group.name'], 'otel-group');
});

t.test('the admin process with OTEL_EXPORTER_OTLP_ENDPOINT: says where, exits 0 on SIGTERM', async (t) => {
  if (!existsSync(SERVER)) {
    t.plan(0, `skip: ${SERVER} not built (npm test builds it)`);
    return;
  }
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const child = spawn(process.execPath, [SERVER], {
    env: {
      ...process.env,
      BROKER_URL: 'memory://',
      ADMIN_PORT: '0',
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'admin-under-test',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor(() => /brokerkit admin ready/.test(output), {
    timeoutMs: 60_000,
    message: () => `server output: ${output}`,
  });
  t.match(output, `"traces":"${receiver.endpoint}/v1/traces (service admin-under-test)"`);
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit code 0 after SIGTERM (the SDK shut down)');
});
