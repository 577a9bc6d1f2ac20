// `npm start` as a user runs it: the real entry point in a child process on memory://, observed
// only through its HTTP endpoints and its exit code.
import t from 'tap';
import { freePort, waitFor } from '@brokerkit/contract-tests';
import { DEMO_MAIN, spawnNode } from '../../subscriber/test/support.js';

/** Sum of the samples of `name` whose labels include every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (!Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

t.test(
  'npm start: admin ready, consumption growing, retries and dead letters, queue gauges, clean stop',
  async (t) => {
    const port = await freePort();
    const demo = spawnNode(DEMO_MAIN, [], {
      env: {
        BROKER_URL: 'memory://',
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
    t.match(demo.stdout, new RegExp(`status page +${base}/\n`), 'banner lists the status page');
    t.match(demo.stdout, new RegExp(`metrics +${base}/metrics\n`), 'banner lists /metrics');
    t.match(demo.stdout, /brokerkit demo running on memory:\/\//);

    const scrape = async (): Promise<string> => {
      const res = await fetch(`${base}/metrics`);
      t.equal(res.status, 200);
      return res.text();
    };
    const acked = (text: string, labels: Record<string, string>) =>
      sample(text, 'brokerkit_messages_consumed_total', { ...labels, outcome: 'ack' }) ?? 0;

    const first = await waitFor(async () => {
      const text = await scrape();
      return acked(text, { group: 'billing' }) > 0 ? text : undefined;
    });
    const before = {
      billing: acked(first, { group: 'billing' }),
      shipping: acked(first, { group: 'shipping' }),
      emails: acked(first, { destination: 'emails' }),
    };
    const later = await waitFor(
      async () => {
        const text = await scrape();
        const grown =
          acked(text, { group: 'billing' }) > before.billing &&
          acked(text, { group: 'shipping' }) > before.shipping &&
          acked(text, { destination: 'emails' }) > before.emails;
        const dead =
          sample(text, 'brokerkit_messages_consumed_total', {
            destination: 'emails',
            outcome: 'dead_letter',
          }) ?? 0;
        const retried =
          sample(text, 'brokerkit_messages_consumed_total', { destination: 'emails', outcome: 'retry' }) ?? 0;
        const dlqDepth = sample(text, 'brokerkit_queue_depth', { queue: 'emails.dlq' }) ?? 0;
        return grown && dead > 0 && retried > 0 && dlqDepth > 0 ? text : undefined;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 250,
        message: 'consumption did not grow, or no retries / dead letters',
      },
    );
    t.pass('consumed counts grow for billing, shipping and emails');
    t.ok(
      (sample(later, 'brokerkit_messages_consumed_total', { outcome: 'dead_letter' }) ?? 0) > 0,
      'dead letters counted',
    );
    for (const [queue, kind] of [
      ['billing', 'group'],
      ['shipping', 'group'],
      ['emails', 'queue'],
      ['emails.dlq', 'dlq'],
    ] as const) {
      t.type(sample(later, 'brokerkit_queue_depth', { queue, kind }), 'number', `depth gauge of ${queue}`);
    }
    t.ok(
      sample(later, 'brokerkit_queue_depth', { queue: 'emails.dlq' })! > 0,
      'emails.dlq holds dead letters',
    );

    const queues = await fetch(`${base}/api/queues`);
    t.equal(queues.status, 200);
    const names = JSON.stringify(await queues.json());
    for (const q of ['billing', 'shipping', 'emails', 'emails.dlq'])
      t.match(names, `"${q}"`, `/api/queues lists ${q}`);
    const page = await fetch(`${base}/`);
    t.equal(page.status, 200, 'status page');

    demo.child.kill('SIGTERM');
    const exit = await demo.exited;
    t.same(exit, { code: 0, signal: null }, 'SIGTERM: clean exit 0');
    t.match(demo.stdout, /SIGTERM: draining\.\.\.\nstopped cleanly\n/);
    t.equal(demo.stderr, '', 'nothing on stderr');
  },
);

t.test('bad demo settings: exit 2 naming the variable', async (t) => {
  const demo = spawnNode(DEMO_MAIN, [], { env: { DEMO_RATE: 'fast', ADMIN_PORT: '0' } });
  t.teardown(() => demo.kill());
  const exit = await demo.exited;
  t.equal(exit.code, 2);
  t.match(demo.stderr, /^brokerkit demo: DEMO_RATE must be a number from 0\.1 to 100000, got "fast"/);
});
