// The CLIs export traces when OTEL_EXPORTER_OTLP_ENDPOINT is set: brokerkit-publish's PRODUCER spans
// and brokerkit-subscribe's CONSUMER spans (two processes, real NATS) reach a real OTLP/HTTP
// receiver with one trace id per message, flushed when each process ends.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { freePort, waitFor } from '@brokerkit/contract-tests';
import { repoPath, runNode, spawnNode } from '../../subscriber/test/support.js';
import {
  SPAN_KIND_CONSUMER,
  SPAN_KIND_PRODUCER,
  producerConsumerPairs,
  startOtlpReceiver,
} from '../../admin/test/otlp-receiver.js';

const PUBLISH = repoPath('apps/publisher/bin/brokerkit-publish.js');
const SUBSCRIBE = repoPath('apps/subscriber/bin/brokerkit-subscribe.js');
const NATS = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

t.test('brokerkit-publish → NATS → brokerkit-subscribe: one trace per message over OTLP', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const topic = `otlp-${randomUUID().slice(0, 8)}`;
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '600000' };

  const port = await freePort();
  const sub = spawnNode(
    SUBSCRIBE,
    ['--subscribe', `${topic}.>`, '--port', String(port), '--report-every', '0'],
    {
      env: { ...otel, BROKER_URL: NATS },
    },
  );
  t.teardown(() => sub.kill());
  await sub.waitForOutput(/^ready: /m, 60_000);

  const pub = await runNode(PUBLISH, ['--topic', `${topic}.created`, '--count', '5', '--quiet'], {
    env: { ...otel, BROKER_URL: NATS },
  });
  t.equal(pub.code, 0, pub.stderr);
  const produced = receiver.spans.filter((s) => s.kind === SPAN_KIND_PRODUCER);
  t.equal(produced.length, 5, 'the publisher exported its 5 PRODUCER spans before exiting');
  t.ok(
    produced.every((s) => s.serviceName === 'brokerkit-publisher'),
    'service.name brokerkit-publisher',
  );

  // Its spans wait for the shutdown: stop it once its own metrics count the 5 handled messages.
  await waitFor(
    async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /brokerkit_messages_consumed_total\{[^}]*outcome="ack"[^}]*\} 5\b/.test(text);
    },
    { timeoutMs: 30_000, intervalMs: 100, message: () => `subscriber did not handle 5:\n${sub.stdout}` },
  );
  sub.child.kill('SIGTERM');
  t.equal((await sub.exited).code, 0, sub.stderr);
  const consumed = receiver.spans.filter((s) => s.kind === SPAN_KIND_CONSUMER);
  t.equal(consumed.length, 5, 'the subscriber exported 5 CONSUMER spans at SIGTERM');
  t.ok(
    consumed.every((s) => s.serviceName === 'brokerkit-subscriber'),
    'service.name brokerkit-subscriber',
  );
  t.equal(producerConsumerPairs(receiver.spans).length, 5, 'each CONSUMER span continues its PRODUCER trace');
});
