// `BROKER_URL=redis://… npm start`: the demo's real entry point on a private redis-server (its
// own port and directory, so its durable groups and queue touch no shared server), observed
// through its HTTP endpoints and exit code, like test/demo.test.ts on memory://.
import t from 'tap';
import { freePort, waitFor } from '@brokerkit/contract-tests';
import { DEMO_MAIN, spawnNode } from '../../subscriber/test/support.js';
import { PrivateRedis, haveRedisServer } from '../../../broker-adapters/redis/test/support/private-redis.js';

/** Sum of the samples of `name` whose labels include every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`)))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

t.test(
  'npm start on redis://: groups, worker, retries and dead letters, queue gauges, clean stop',
  async (t) => {
    if (!haveRedisServer()) {
      if (process.env.CI === 'true') t.fail('redis-server binary missing');
      else t.plan(0, 'redis-server binary missing');
      return;
    }
    const redis = await PrivateRedis.start(t);
    const port = await freePort();
    const demo = spawnNode(DEMO_MAIN, [], {
      env: {
        BROKER_URL: redis.url,
        ADMIN_PORT: String(port),
        ADMIN_HOST: '127.0.0.1',
        DEMO_RATE: '100',
        DEMO_FAILURE_RATE: '0.2',
        DEMO_POISON_RATE: '0.05',
      },
    });
    t.teardown(() => demo.kill());
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => {
        try {
          return (await fetch(`${base}/readyz`)).status === 200;
        } catch {
          return false; // not listening yet
        }
      },
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: () => `readyz never 200:\n${demo.stdout}\n${demo.stderr}`,
      },
    );
    t.match(demo.stdout, new RegExp(`brokerkit demo running on ${redis.url.replace(/\//g, '\\/')}`));

    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${base}/metrics`)).text();
        const acked = (labels: Record<string, string>) =>
          sample(text, 'brokerkit_messages_consumed_total', { ...labels, outcome: 'ack' });
        const ok =
          acked({ group: 'billing' }) > 0 &&
          acked({ group: 'shipping' }) > 0 &&
          acked({ destination: 'emails' }) > 0 &&
          sample(text, 'brokerkit_messages_consumed_total', { destination: 'emails', outcome: 'retry' }) >
            0 &&
          sample(text, 'brokerkit_queue_depth', { queue: 'emails.dlq' }) > 0;
        return ok ? text : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'consumption, retries and dead letters on redis://' },
    );
    t.pass('billing, shipping and emails consume; retries and dead letters show');
    t.match(metrics, /brokerkit_connection_up\{broker="redis"\} 1/, 'the broker label is redis');
    for (const [queue, kind] of [
      ['billing', 'group'],
      ['shipping', 'group'],
      ['emails', 'queue'],
      ['emails.dlq', 'dlq'],
    ] as const) {
      t.match(
        metrics,
        new RegExp(`brokerkit_queue_depth\\{[^}]*queue="${queue.replace('.', '\\.')}"[^}]*kind="${kind}"`),
        `depth gauge of ${queue}`,
      );
    }
    const queues = JSON.stringify(await (await fetch(`${base}/api/queues`)).json());
    for (const q of ['billing', 'shipping', 'emails', 'emails.dlq'])
      t.match(queues, `"${q}"`, `/api/queues lists ${q}`);

    demo.child.kill('SIGTERM');
    t.same(await demo.exited, { code: 0, signal: null }, 'SIGTERM: clean exit 0');
    t.match(demo.stdout, /stopped cleanly\n/);
    t.equal(demo.stderr, '', 'nothing on stderr');
  },
);
