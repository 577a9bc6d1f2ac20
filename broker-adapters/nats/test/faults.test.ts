// Real failures, counted: a private nats-server SIGKILLed and restarted mid-stream, a TCP proxy
// cut, a member that dies before acking, and close() in the middle of a stream. Pass = nothing
// confirmed is lost, every failure is typed, and consumers resume by themselves.
import t from 'tap';
import { connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions } from '@brokerkit/core';
import { Tally, TcpProxy, requireService, uniqueName, waitFor } from '@brokerkit/contract-tests';
import { NATS_HOST, NATS_PORT, NATS_URL, deleteStreams, rawClient, streamsOf } from './support/nats.js';
import { PrivateServer, haveNatsServer } from './support/private-server.js';
// Brings the `nats` key of connect options into scope (declaration merging).
import type { NatsOptions } from '../src/index.js';

// Messages in flight on a dead connection come back after the ack wait: keep it short here.
const SHORT_ACK_WAIT: NatsOptions = { ackWaitMs: 5_000 };

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

async function open(t: Test, url: string, options?: BrokerOptions): Promise<Broker> {
  const broker = await connect(url, options);
  t.teardown(() => broker.close());
  return broker;
}

/** Publish `total` keyed messages, `window` at a time; returns confirmed keys and failure codes. */
async function stream(
  broker: Broker,
  topic: string,
  total: number,
  window: number,
  onConfirmed?: (count: number) => void,
): Promise<{ confirmed: string[]; failures: string[] }> {
  const confirmed: string[] = [];
  const failures: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const key = `m${next++}`;
      try {
        await broker.publish(topic, { key });
        confirmed.push(key);
        onConfirmed?.(confirmed.length);
      } catch (error) {
        failures.push(isBrokerkitError(error) ? error.code : `untyped: ${String(error)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return { confirmed, failures };
}

function checkFailures(t: Test, failures: string[]): void {
  const untyped = failures.filter((c) => c !== 'BK_UNAVAILABLE' && c !== 'BK_TIMEOUT');
  t.same(untyped, [], `every failed publish is BK_UNAVAILABLE or BK_TIMEOUT (${failures.length} failed)`);
}

t.test('private server SIGKILLed and restarted while a publisher streams to a group', async (t) => {
  if (!haveNatsServer()) {
    if (process.env.CI === 'true') t.fail('nats-server binary missing');
    else t.plan(0, 'nats-server binary missing');
    return;
  }
  const server = await PrivateServer.start(t);
  const broker = await open(t, server.url, {
    publishTimeoutMs: 20_000,
    reconnect: { initialMs: 50, maxMs: 500 },
    nats: SHORT_ACK_WAIT,
  });
  const events: string[] = [];
  broker.on('disconnected', () => events.push('disconnected'));
  broker.on('reconnected', () => events.push('reconnected'));
  const errors: Error[] = [];
  broker.on('error', (e) => errors.push(e));
  const got = new Tally();
  await broker.subscribe('faults.*', (m) => got.add((m.data as { key: string }).key), {
    group: 'crash',
    concurrency: 8,
    prefetch: 64,
  });

  let killed = false;
  const restarted = (async () => {
    await waitFor(() => killed, { timeoutMs: 60_000 });
    await waitFor(() => broker.status === 'reconnecting', { timeoutMs: 10_000, message: 'client to notice' });
    await server.restart();
  })();
  const total = 4_000;
  const result = await stream(broker, 'faults.created', total, 64, (n) => {
    if (n === 1_000 && !killed) {
      killed = true;
      void server.kill();
    }
  });
  await restarted;
  t.ok(killed, 'the server was killed mid-stream');
  await waitFor(() => broker.status === 'ready', { timeoutMs: 20_000 });
  t.same(events.slice(0, 2), ['disconnected', 'reconnected'], 'disconnected and reconnected events');
  checkFailures(t, result.failures);
  t.ok(result.confirmed.length >= 1_000, `confirmed ${result.confirmed.length} of ${total}`);
  await waitFor(() => got.lost(result.confirmed).length === 0, {
    timeoutMs: 60_000,
    message: () => `lost ${got.lost(result.confirmed).length} confirmed messages`,
  });
  t.equal(got.lost(result.confirmed).length, 0, 'no confirmed message lost');
  t.comment(
    `attempted ${total}, confirmed ${result.confirmed.length}, failed ${result.failures.length}, ` +
      `received ${got.total}, duplicated ${got.duplicated}`,
  );
  // The consumer resumed by itself: a message published now arrives.
  await broker.publish('faults.after', { key: 'after' });
  await waitFor(() => got.counts.has('after'), { timeoutMs: 30_000 });
  t.pass('the group consumes again without being re-subscribed');
});

t.test('publishes during an outage wait, bounded, then reject with BK_UNAVAILABLE', async (t) => {
  if (!haveNatsServer()) {
    if (process.env.CI === 'true') t.fail('nats-server binary missing');
    else t.plan(0, 'nats-server binary missing');
    return;
  }
  const server = await PrivateServer.start(t);
  const broker = await open(t, server.url, {
    maxBufferedPublishes: 2,
    reconnect: { initialMs: 50, maxMs: 200 },
  });
  const got = new Tally();
  await broker.subscribe('outage.*', (m) => got.add(String(m.data)), { group: 'outage' });
  const live = new Tally();
  await broker.subscribe('outage.*', (m) => live.add(String(m.data)));
  await broker.publish('outage.a', 'before');
  await server.kill();
  await waitFor(() => broker.status === 'reconnecting', { message: 'status reconnecting' });

  const started = Date.now();
  const short = await broker.publish('outage.a', 'short', { timeoutMs: 300 }).then(
    () => 'resolved',
    (e: unknown) => (isBrokerkitError(e) ? e.code : String(e)),
  );
  t.equal(short, 'BK_UNAVAILABLE', 'a publish outlasting its timeout: BK_UNAVAILABLE');
  t.ok(Date.now() - started < 3_000, 'after about its timeout');
  t.equal(
    await broker.send('outage-q', 'short', { timeoutMs: 300 }).then(
      () => 'resolved',
      (e: unknown) => (isBrokerkitError(e) ? e.code : String(e)),
    ),
    'BK_UNAVAILABLE',
    'send too',
  );

  const waiting = [broker.publish('outage.a', 'w1'), broker.publish('outage.a', 'w2')];
  const overflow = await broker.publish('outage.a', 'w3').then(
    () => 'resolved',
    (e: unknown) => (isBrokerkitError(e) ? e.code : String(e)),
  );
  t.equal(overflow, 'BK_UNAVAILABLE', 'beyond maxBufferedPublishes: BK_UNAVAILABLE at once');

  await server.restart();
  await Promise.all(waiting);
  t.pass('the waiting publishes were confirmed after the restart');
  await waitFor(() => got.counts.has('w1') && got.counts.has('w2'), { timeoutMs: 30_000 });
  t.same([...got.counts.keys()].sort(), ['before', 'w1', 'w2'], 'the group got exactly the confirmed ones');
  await broker.publish('outage.a', 'live-after');
  await waitFor(() => live.counts.has('live-after'), { timeoutMs: 10_000 });
  t.pass('the ephemeral subscription was restored by the reconnect');
  await broker.inspector!.deleteQueue('outage-q').catch(() => undefined);
});

t.test('against the shared server through a TCP proxy', async (t) => {
  if (!(await requireService(t, 'nats-server', NATS_HOST, NATS_PORT))) return;

  t.test('a TCP cut mid-stream: nothing confirmed is lost', async (t) => {
    const token = uniqueName('cut');
    const group = uniqueName('g');
    const { jsm } = await rawClient(t);
    t.teardown(() => deleteStreams(jsm, streamsOf(token, [group])));
    const proxy = await TcpProxy.start(NATS_HOST, NATS_PORT);
    t.teardown(() => proxy.close());
    const broker = await open(t, `nats://127.0.0.1:${proxy.port}`, {
      publishTimeoutMs: 20_000,
      reconnect: { initialMs: 50, maxMs: 500 },
      // Messages in flight on a dead connection come back after the ack wait: keep it short here.
      nats: { ackWaitMs: 5_000 },
    });
    const events: string[] = [];
    broker.on('disconnected', () => events.push('disconnected'));
    broker.on('reconnected', () => events.push('reconnected'));
    const got = new Tally();
    await broker.subscribe(`${token}.*`, (m) => got.add((m.data as { key: string }).key), {
      group,
      concurrency: 8,
      prefetch: 64,
    });
    let cut = false;
    const result = await stream(broker, `${token}.x`, 3_000, 64, (n) => {
      if (n === 800 && !cut) {
        cut = true;
        proxy.cut();
      }
    });
    t.ok(cut, 'the connection was cut mid-stream');
    checkFailures(t, result.failures);
    await waitFor(() => got.lost(result.confirmed).length === 0, {
      timeoutMs: 60_000,
      message: () => `lost ${got.lost(result.confirmed).length}`,
    });
    t.equal(got.lost(result.confirmed).length, 0, 'no confirmed message lost');
    t.same(events.slice(0, 2), ['disconnected', 'reconnected'], 'disconnected and reconnected events');
    t.comment(
      `confirmed ${result.confirmed.length}, failed ${result.failures.length}, duplicated ${got.duplicated}`,
    );
  });

  t.test('a member that dies before acking: its message is redelivered after the ack wait', async (t) => {
    const token = uniqueName('die');
    const group = uniqueName('g');
    const { jsm } = await rawClient(t);
    t.teardown(() => deleteStreams(jsm, streamsOf(token, [group])));
    const proxy = await TcpProxy.start(NATS_HOST, NATS_PORT);
    t.teardown(() => proxy.close());
    const ackWaitMs = 1_000;
    const doomed = await connect(`nats://127.0.0.1:${proxy.port}`, { nats: { ackWaitMs } });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    t.teardown(async () => {
      release();
      await doomed.close();
    });
    const first: string[] = [];
    await doomed.subscribe(
      `${token}.*`,
      async (m) => {
        first.push(m.id);
        await held;
      },
      { group },
    );
    const publisher = await open(t, NATS_URL);
    await publisher.publish(`${token}.job`, 'work', { messageId: 'the-job' });
    await waitFor(() => first.length === 1, { message: 'first member got it' });
    proxy.pause(); // the member's connection dies with the message unacked
    const started = Date.now();
    const survivor = await open(t, NATS_URL, { nats: { ackWaitMs } });
    const second: { id: string; redelivered: boolean; attempt: number }[] = [];
    await survivor.subscribe(
      `${token}.*`,
      (m) => void second.push({ id: m.id, redelivered: m.redelivered, attempt: m.attempt }),
      { group },
    );
    await waitFor(() => second.length === 1, { timeoutMs: 10_000, message: 'redelivery to the survivor' });
    t.same(second[0], { id: 'the-job', redelivered: true, attempt: 2 }, 'redelivered as attempt 2');
    t.ok(Date.now() - started < ackWaitMs + 5_000, 'within about one ack wait');
  });

  t.test('close() mid-stream lets running handlers finish and loses nothing', async (t) => {
    const token = uniqueName('drain');
    const group = uniqueName('g');
    const { jsm } = await rawClient(t);
    t.teardown(() => deleteStreams(jsm, streamsOf(token, [group])));
    const publisher = await open(t, NATS_URL);
    const first = await connect(NATS_URL);
    t.teardown(() => first.close());
    const done = new Tally();
    let running = 0;
    let cutShort = 0;
    await first.subscribe(
      `${token}.*`,
      async (m) => {
        running++;
        await new Promise((resolve) => setTimeout(resolve, 1));
        running--;
        done.add((m.data as { key: string }).key);
      },
      { group, concurrency: 4, prefetch: 32 },
    );
    const total = 1_000;
    let closing: Promise<void> | undefined;
    const published = stream(publisher, `${token}.x`, total, 32, (n) => {
      if (n === 300) closing ??= first.close().then(() => void (cutShort = running));
    });
    await waitFor(() => closing !== undefined);
    await closing;
    t.equal(cutShort, 0, 'no handler was still running when close() resolved');
    const handledByFirst = done.total;
    const second = await open(t, NATS_URL);
    await second.subscribe(`${token}.*`, (m) => done.add((m.data as { key: string }).key), {
      group,
      concurrency: 4,
    });
    const result = await published;
    t.equal(result.failures.length, 0, 'every publish confirmed');
    await waitFor(() => done.lost(result.confirmed).length === 0, {
      timeoutMs: 30_000,
      message: () => `lost ${done.lost(result.confirmed).length}`,
    });
    t.equal(done.lost(result.confirmed).length, 0, 'lost 0');
    t.equal(
      done.duplicated,
      0,
      'duplicated 0: what the first member handled was acked before close resolved',
    );
    t.comment(`first member handled ${handledByFirst}, total ${done.total}`);
  });
});
