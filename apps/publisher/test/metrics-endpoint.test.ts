// `--metrics-port`: the real bin serves Prometheus /metrics (and the probes) while it publishes,
// counting what it published; a taken port is a usage error that sends nothing.
import t from 'tap';
import { createServer } from 'node:net';
import { freePort, waitFor } from '@brokerkit/contract-tests';
import { PUBLISHER_BIN, runNode, spawnNode } from '../../subscriber/test/support.js';

function publishedCount(text: string, topic: string): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith('brokerkit_messages_published_total{') && l.includes(`destination="${topic}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

t.test('serves /metrics while publishing, with the published count growing', async (t) => {
  const port = await freePort();
  const topic = 'orders.metered';
  // 600 at 200/s: three seconds of publishing to observe.
  const child = spawnNode(
    PUBLISHER_BIN,
    ['--url', 'memory://', '--topic', topic, '--count', '600', '--rate', '200', '--quiet', '--json'],
    { env: { PUBLISHER_METRICS_PORT: String(port), BROKER_URL: '' } },
  );
  t.teardown(() => child.kill());
  const url = `http://127.0.0.1:${port}/metrics`;
  const scrape = async () => {
    try {
      const response = await fetch(url);
      return response.ok ? await response.text() : undefined;
    } catch {
      return undefined;
    }
  };
  const first = await waitFor(async () => {
    const text = await scrape();
    return text !== undefined && publishedCount(text, topic) > 0 ? text : undefined;
  });
  t.match(first, /# TYPE brokerkit_publish_duration_seconds histogram/);
  const firstCount = publishedCount(first, topic);
  await waitFor(async () => publishedCount((await scrape()) ?? '', topic) > firstCount);
  t.pass(`published count grew past ${firstCount} while running`);
  const base = `http://127.0.0.1:${port}`;
  const ready = await fetch(`${base}/readyz`);
  t.equal(ready.status, 200);
  t.same(await ready.json(), { status: 'ready', broker: 'memory' }, 'the shared probes answer too');
  t.same(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });
  const notFound = await fetch(`${base}/other`);
  t.equal(notFound.status, 404);
  t.match(notFound.headers.get('content-type'), /^application\/problem\+json/);
  const { code } = await child.exited;
  t.equal(code, 0, child.stderr);
  t.match(JSON.parse(child.stdout), { confirmed: 600, failed: 0 });
  t.match(child.stderr, `metrics on http://127.0.0.1:${port}/metrics`);
});

t.test('a port already taken is a usage error (exit 2) and nothing is published', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const r = await runNode(
    PUBLISHER_BIN,
    ['--url', 'memory://', '--topic', 'a.b', '--metrics-port', String(port), '--json'],
    {
      env: { BROKER_URL: '' },
    },
  );
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /cannot serve metrics/);
  t.equal(r.stdout, '', 'no summary: nothing was published');
});

t.test('--metrics-port must be a port number', async (t) => {
  const r = await runNode(PUBLISHER_BIN, ['--topic', 'a.b', '--metrics-port', '70000'], {
    env: { BROKER_URL: '' },
  });
  t.equal(r.code, 2);
  t.match(r.stderr, '--metrics-port must be an integer from 0 to 65535, got "70000"');
});
