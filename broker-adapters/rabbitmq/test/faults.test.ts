// Faults through a TCP proxy the test controls (it only cuts this file's own connections, so it
// runs in parallel with other tests): confirmed messages are never lost, failures are typed,
// subscriptions resume by themselves.
import t from 'tap';
import { connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions, BrokerStatus, Message } from '@brokerkit/core';
import { Tally, TcpProxy, requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { RABBIT_HOST, RABBIT_PORT, RABBIT_URL, RawRabbit } from './helpers.js';
import { streamThroughFault } from './stream.js';

type Tap = Parameters<Parameters<typeof t.test>[0]>[0];

if (await requireService(t, 'RabbitMQ', RABBIT_HOST, RABBIT_PORT)) await suite();

function proxied(proxy: TcpProxy): string {
  const u = new URL(RABBIT_URL);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.href;
}

async function startProxy(tt: Tap): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(RABBIT_HOST, RABBIT_PORT);
  tt.teardown(() => proxy.close());
  return proxy;
}

async function open(tt: Tap, url: string, options: BrokerOptions = {}): Promise<Broker> {
  const broker = await connect(url, { reconnect: { initialMs: 50, maxMs: 500 }, ...options });
  broker.on('error', () => {});
  tt.teardown(() => broker.close());
  return broker;
}

async function suite(): Promise<void> {
  const raw = await RawRabbit.open();
  t.teardown(() => raw.close());

  t.test('TCP cut twice while streaming 3000 messages to a group: 0 confirmed lost', async (tt) => {
    const proxy = await startProxy(tt);
    const report = await streamThroughFault({
      url: proxied(proxy),
      total: 3000,
      window: 50,
      atConfirmed: 800,
      secondFaultAt: 2000,
      fault: () => proxy.cut(),
    });
    tt.teardown(() => report.cleanup());
    tt.comment(JSON.stringify({ ...report, cleanup: undefined }));
    tt.equal(report.lost, 0, 'no confirmed message lost');
    tt.equal(report.confirmed + report.failed, report.attempted, 'every publish settled');
    for (const code of Object.keys(report.failureCodes)) {
      tt.ok(code === 'BK_UNAVAILABLE' || code === 'BK_TIMEOUT', `failure typed: ${code}`);
    }
    tt.ok(report.distinct >= report.confirmed, 'received at least every confirmed message');
    tt.ok(report.statuses.filter((s) => s === 'reconnecting').length >= 2, 'reported both outages');
    tt.equal(report.statuses.at(-1), 'ready', 'ready again');
  });

  t.test(
    'during an outage publishes wait (bounded buffer, bounded time), then BK_UNAVAILABLE',
    async (tt) => {
      // Registered first so it runs last (teardowns run in reverse), after the broker closed.
      const queue = uniqueName('q');
      tt.teardown(() => raw.deleteQueues(queue, `${queue}.dlq`));
      const proxy = await startProxy(tt);
      const broker = await open(tt, proxied(proxy), { maxBufferedPublishes: 5 });
      await broker.send(queue, { n: 0 });
      const statuses: BrokerStatus[] = [];
      broker.on('status', (s) => statuses.push(s));
      const disconnected = new Promise<Error | undefined>((resolve) => broker.once('disconnected', resolve));
      proxy.pause();
      const cause = await disconnected;
      tt.ok(cause instanceof Error, 'disconnected carries the cause');
      tt.equal(broker.status, 'reconnecting');

      // Waits that outlive their timeout reject BK_UNAVAILABLE.
      const started = Date.now();
      await tt.rejects(broker.send(queue, { n: 1 }, { timeoutMs: 300 }), { code: 'BK_UNAVAILABLE' });
      tt.ok(Date.now() - started >= 250, 'waited for the timeout first');

      // Five may wait; the sixth is refused at once.
      const waiting = [2, 3, 4, 5, 6].map((n) => broker.send(queue, { n }, { timeoutMs: 20_000 }));
      await tt.rejects(broker.publish('bk.any', { n: 7 }, { timeoutMs: 20_000 }), { code: 'BK_UNAVAILABLE' });

      const reconnected = new Promise<void>((resolve) => broker.once('reconnected', resolve));
      proxy.resume();
      await reconnected;
      await Promise.all(waiting);
      tt.equal(broker.status, 'ready');
      tt.equal(
        (await raw.check(queue))?.messageCount,
        6,
        'the first send and the five that waited, none lost',
      );
      tt.same(statuses.slice(0, 1), ['reconnecting']);
      tt.equal(statuses.at(-1), 'ready');
    },
  );

  t.test(
    'a consumer whose connection dies before it acks: the message is redelivered to another',
    async (tt) => {
      const queue = uniqueName('q');
      tt.teardown(() => raw.deleteQueues(queue, `${queue}.dlq`));
      const proxy = await startProxy(tt);
      const direct = await open(tt, RABBIT_URL);
      const doomed = await open(tt, proxied(proxy));
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      tt.teardown(() => release());
      const first: Message[] = [];
      await doomed.consume(queue, async (m) => {
        first.push(m);
        await held; // never acks before its connection dies
      });
      await direct.send(queue, { n: 1 }, { messageId: 'the-one' });
      await waitFor(() => first.length === 1);
      proxy.pause(); // the consumer's connection dies and stays down

      const second: Message[] = [];
      await direct.consume(queue, (m) => void second.push(m));
      await waitFor(() => second.length === 1, { message: 'redelivered to the other consumer' });
      tt.equal(second[0]!.id, 'the-one');
      tt.equal(second[0]!.redelivered, true);
      tt.equal(second[0]!.attempt, 1, 'a crash is not a failed attempt');
      release();
      await waitFor(async () => (await raw.check(queue))?.messageCount === 0);
      tt.equal(second.length, 1, "the dead consumer's late ack changed nothing");
    },
  );

  t.test('broker.close() mid-stream drains: every message handled exactly once overall', async (tt) => {
    const queue = uniqueName('q');
    tt.teardown(() => raw.deleteQueues(queue, `${queue}.dlq`));
    const producer = await open(tt, RABBIT_URL);
    const total = 2000;
    const tally = new Tally();
    let running = 0;
    let finishedWhenClosed = -1;
    const worker = await connect(RABBIT_URL);
    await worker.consume(
      queue,
      async (m) => {
        running++;
        await new Promise((r) => setImmediate(r));
        tally.add((m.data as { k: string }).k);
        running--;
      },
      { concurrency: 8, prefetch: 32 },
    );
    let sent = 0;
    const sending = (async () => {
      const lanes = Array.from({ length: 20 }, async () => {
        while (sent < total) await producer.send(queue, { k: `m-${sent++}` });
      });
      await Promise.all(lanes);
    })();
    await waitFor(() => tally.total >= 500);
    await worker.close();
    finishedWhenClosed = running;
    const handledByFirst = tally.total;
    await sending;
    const rest = await open(tt, RABBIT_URL);
    await rest.consume(queue, (m) => void tally.add((m.data as { k: string }).k), { concurrency: 8 });
    const expected = Array.from({ length: total }, (_, i) => `m-${i}`);
    await waitFor(() => tally.lost(expected).length === 0, {
      timeoutMs: 20_000,
      message: () => `${tally.lost(expected).length} missing`,
    });
    tt.comment(`first worker handled ${handledByFirst} before close; total ${tally.total}`);
    tt.equal(finishedWhenClosed, 0, 'close resolved after in-flight handlers finished');
    tt.equal(tally.lost(expected).length, 0, 'lost 0');
    tt.equal(tally.duplicated, 0, 'duplicated 0: handled messages were acked before the channel closed');
    tt.ok(isBrokerkitError(await worker.publish('bk.x', {}).catch((e: unknown) => e), 'BK_CLOSED'));
  });
}
