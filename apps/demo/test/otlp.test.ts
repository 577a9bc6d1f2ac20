// `npm start` with OTEL_EXPORTER_OTLP_ENDPOINT: the demo process exports its traces to a real
// OTLP/HTTP receiver, and the spans still queued at SIGTERM are exported before it exits.
import t from 'tap';
import { freePort, waitFor } from '@brokerkit/contract-tests';
import { DEMO_MAIN, spawnNode } from '../../subscriber/test/support.js';
import {
  SPAN_KIND_CONSUMER,
  SPAN_KIND_PRODUCER,
  producerConsumerPairs,
  startOtlpReceiver,
} from '../../admin/test/otlp-receiver.js';

t.test('the demo exports PRODUCER → CONSUMER traces over OTLP, flushed on SIGTERM', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const port = await freePort();
  const demo = spawnNode(DEMO_MAIN, [], {
    env: {
      BROKER_URL: 'memory://',
      ADMIN_PORT: String(port),
      ADMIN_HOST: '127.0.0.1',
      DEMO_RATE: '20',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      // No scheduled export and a batch larger than the run: every span waits for the shutdown.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '100000',
      OTEL_BSP_MAX_QUEUE_SIZE: '100000',
    },
  });
  t.teardown(() => demo.kill());
  await demo.waitForOutput(/traces +(\S+) \(OTLP, service brokerkit-demo\)/, 60_000);
  t.match(demo.stdout, `traces        ${receiver.endpoint}/v1/traces (OTLP, service brokerkit-demo)`);

  // Wait until the billing group has handled some orders (counted by the demo's own metrics).
  await waitFor(
    async () => {
      try {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /brokerkit_messages_consumed_total\{[^}]*group="billing"[^}]*outcome="ack"[^}]*\} [1-9]/.test(
          text,
        );
      } catch {
        return false; // not listening yet
      }
    },
    { timeoutMs: 60_000, intervalMs: 200, message: () => `no billing acks:\n${demo.stdout}\n${demo.stderr}` },
  );
  t.equal(receiver.requests, 0, 'nothing exported while running (the batch waits)');

  demo.child.kill('SIGTERM');
  const { code } = await demo.exited;
  t.equal(code, 0, `exit 0 after SIGTERM:\n${demo.stderr}`);
  t.match(demo.stdout, /stopped cleanly/);
  t.ok(receiver.requests > 0, 'the queued spans were exported at shutdown');

  const spans = receiver.spans;
  t.ok(spans.some((s) => s.kind === SPAN_KIND_PRODUCER && s.name === 'orders.created publish'));
  t.ok(
    spans.some(
      (s) => s.kind === SPAN_KIND_CONSUMER && s.attributes['messaging.consumer.group.name'] === 'billing',
    ),
  );
  t.ok(
    spans.every((s) => s.serviceName === 'brokerkit-demo'),
    'service.name brokerkit-demo',
  );
  const pairs = producerConsumerPairs(spans);
  const groups = new Set(pairs.map(([, consumer]) => consumer.attributes['messaging.consumer.group.name']));
  t.ok(groups.has('billing') && groups.has('shipping'), 'both groups continue the producer trace');
  t.ok(
    pairs.some(([producer]) => producer.name === 'emails publish'),
    'the email work queue continues the trace too',
  );
});
