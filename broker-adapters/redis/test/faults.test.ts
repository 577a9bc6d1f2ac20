// Real failures, counted, each on a private redis-server (free port, own directory, append-only
// file fsynced on every write): the server SIGKILLed and restarted mid-stream, a consumer process
// SIGKILLed before it acks, a TCP proxy cut mid-stream, close() in the middle of a stream, and
// publishes during an outage. Pass = nothing confirmed is lost, every failure is typed, and
// consumers resume by themselves.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { connect, isBrokerkitError } from '@brokerkit/core';
import type { Broker, BrokerOptions, Message } from '@brokerkit/core';
import { Tally, TcpProxy, waitFor } from '@brokerkit/contract-tests';
import { PrivateRedis, haveRedisServer } from './support/private-redis.js';
// Brings the `redis` key of connect options into scope (declaration merging).
import type { RedisOptions } from '../src/index.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** Messages a dead member held come back after this: short here, so the tests do not wait long. */
const VISIBILITY: RedisOptions = { visibilityTimeoutMs: 1_000 };
const DOOMED = fileURLToPath(new URL('./support/doomed-consumer.mjs', import.meta.url));

async function open(t: Test, url: string, options?: BrokerOptions): Promise<Broker> {
  const broker = await connect(url, options);
  t.teardown(() => broker.close());
  return broker;
}

/** Every event of a broker, in order. */
function record(broker: Broker): { events: string[]; errors: Error[] } {
  const log = { events: [] as string[], errors: [] as Error[] };
  broker.on('disconnected', () => log.events.push('disconnected'));
  broker.on('reconnected', () => log.events.push('reconnected'));
  broker.on('error', (e) => log.errors.push(e));
  return log;
}

/** Emit `total` keyed messages, `window` at a time; returns confirmed keys and failure codes. */
async function stream(
  total: number,
  window: number,
  emit: (key: string) => Promise<void>,
  onConfirmed?: (count: number) => void,
): Promise<{ confirmed: string[]; failures: string[] }> {
  const confirmed: string[] = [];
  const failures: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const key = `m${next++}`;
      try {
        await emit(key);
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

const keyOf = (m: Message) => (m.data as { key: string }).key;

function needServer(t: Test): boolean {
  if (haveRedisServer()) return true;
  if (process.env.CI === 'true') t.fail('redis-server binary missing');
  else t.plan(0, 'redis-server binary missing');
  return false;
}

t.test(
  'redis-server SIGKILLed and restarted while publishes and sends stream: 0 confirmed lost',
  async (t) => {
    if (!needServer(t)) return;
    const server = await PrivateRedis.start(t);
    const broker = await open(t, server.url, {
      publishTimeoutMs: 20_000,
      reconnect: { initialMs: 50, maxMs: 500 },
      redis: VISIBILITY,
    });
    const log = record(broker);
    const group = new Tally();
    const queue = new Tally();
    await broker.subscribe('faults.*', (m) => group.add(keyOf(m)), {
      group: 'crash',
      concurrency: 8,
      prefetch: 64,
    });
    await broker.consume('crash-q', (m) => queue.add(keyOf(m)), { concurrency: 8, prefetch: 64 });

    let killed = false;
    const restarted = (async () => {
      await waitFor(() => killed, { timeoutMs: 60_000 });
      await waitFor(() => broker.status === 'reconnecting', {
        timeoutMs: 10_000,
        message: 'client to notice',
      });
      await server.restart();
    })();
    const total = 3_000;
    const kill = (n: number) => {
      if (n === 800 && !killed) {
        killed = true;
        void server.kill();
      }
    };
    const [published, sent] = await Promise.all([
      stream(total, 64, (key) => broker.publish('faults.created', { key }), kill),
      stream(total, 64, (key) => broker.send('crash-q', { key })),
    ]);
    await restarted;
    t.ok(killed, 'the server was killed mid-stream');
    await waitFor(() => broker.status === 'ready', { timeoutMs: 20_000 });
    t.same(log.events.slice(0, 2), ['disconnected', 'reconnected'], 'disconnected and reconnected events');
    checkFailures(t, [...published.failures, ...sent.failures]);
    for (const [what, result, got] of [
      ['group', published, group],
      ['queue', sent, queue],
    ] as const) {
      t.ok(result.confirmed.length >= 800, `${what}: confirmed ${result.confirmed.length} of ${total}`);
      await waitFor(() => got.lost(result.confirmed).length === 0, {
        timeoutMs: 60_000,
        message: () => `${what}: lost ${got.lost(result.confirmed).length} confirmed messages`,
      });
      t.equal(got.lost(result.confirmed).length, 0, `${what}: no confirmed message lost`);
      t.comment(
        `${what}: attempted ${total}, confirmed ${result.confirmed.length}, failed ${result.failures.length}, ` +
          `received ${got.total}, duplicated ${got.duplicated}`,
      );
    }
    await broker.publish('faults.after', { key: 'after' });
    await broker.send('crash-q', { key: 'after' });
    await waitFor(() => group.counts.has('after') && queue.counts.has('after'), { timeoutMs: 30_000 });
    t.pass('the group and the queue consume again without being re-subscribed');
  },
);

for (const kind of ['queue', 'group'] as const) {
  t.test(
    `a consumer process SIGKILLed before acking: its message is claimed as attempt 2 (${kind})`,
    async (t) => {
      if (!needServer(t)) return;
      const server = await PrivateRedis.start(t);
      const name = `doomed-${kind}`;
      const doomed = spawn(process.execPath, [DOOMED, server.url, kind, name, 'jobs.*'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      t.teardown(() => void doomed.kill('SIGKILL'));
      let out = '';
      doomed.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await waitFor(() => out.includes('ready'), {
        timeoutMs: 20_000,
        message: () => `doomed consumer: ${out}`,
      });
      const publisher = await open(t, server.url);
      if (kind === 'queue') await publisher.send(name, 'work', { messageId: 'the-job' });
      else await publisher.publish('jobs.run', 'work', { messageId: 'the-job' });
      await waitFor(() => out.includes('got the-job 1'), { message: () => `first delivery: ${out}` });
      const gone = new Promise((resolve) => doomed.once('exit', resolve));
      doomed.kill('SIGKILL');
      await gone;
      const started = Date.now();
      const survivor = await open(t, server.url, { redis: VISIBILITY });
      const got: { id: string; redelivered: boolean; attempt: number }[] = [];
      const handler = (m: Message) =>
        void got.push({ id: m.id, redelivered: m.redelivered, attempt: m.attempt });
      if (kind === 'queue') await survivor.consume(name, handler);
      else await survivor.subscribe('jobs.*', handler, { group: name });
      await waitFor(() => got.length === 1, { timeoutMs: 15_000, message: 'the claim by the survivor' });
      t.same(got[0], { id: 'the-job', redelivered: true, attempt: 2 }, 'claimed (XAUTOCLAIM) as attempt 2');
      t.ok(Date.now() - started < 1_000 + 5_000, 'within about one visibility timeout');
      await waitFor(async () => (await survivor.inspector!.queueInfo(name)).inFlight === 0);
      t.same(got.length, 1, 'and acked once');
    },
  );
}

t.test('a TCP cut mid-stream: nothing confirmed is lost', async (t) => {
  if (!needServer(t)) return;
  const server = await PrivateRedis.start(t);
  const proxy = await TcpProxy.start('127.0.0.1', server.port);
  t.teardown(() => proxy.close());
  const broker = await open(t, `redis://127.0.0.1:${proxy.port}`, {
    publishTimeoutMs: 20_000,
    reconnect: { initialMs: 50, maxMs: 500 },
    redis: VISIBILITY,
  });
  const log = record(broker);
  const group = new Tally();
  const queue = new Tally();
  await broker.subscribe('cut.*', (m) => group.add(keyOf(m)), { group: 'cut', concurrency: 8, prefetch: 64 });
  await broker.consume('cut-q', (m) => queue.add(keyOf(m)), { concurrency: 8, prefetch: 64 });
  let cut = false;
  const cutAt = (n: number) => {
    if (n === 800 && !cut) {
      cut = true;
      proxy.cut();
    }
  };
  const [published, sent] = await Promise.all([
    stream(3_000, 64, (key) => broker.publish('cut.x', { key }), cutAt),
    stream(3_000, 64, (key) => broker.send('cut-q', { key })),
  ]);
  t.ok(cut, 'the connections were cut mid-stream');
  checkFailures(t, [...published.failures, ...sent.failures]);
  for (const [what, result, got] of [
    ['group', published, group],
    ['queue', sent, queue],
  ] as const) {
    await waitFor(() => got.lost(result.confirmed).length === 0, {
      timeoutMs: 60_000,
      message: () => `${what}: lost ${got.lost(result.confirmed).length}`,
    });
    t.equal(got.lost(result.confirmed).length, 0, `${what}: no confirmed message lost`);
    t.comment(
      `${what}: confirmed ${result.confirmed.length}, failed ${result.failures.length}, duplicated ${got.duplicated}`,
    );
  }
  t.same(log.events.slice(0, 2), ['disconnected', 'reconnected'], 'disconnected and reconnected events');
});

t.test('close() mid-stream lets running handlers finish and loses nothing', async (t) => {
  if (!needServer(t)) return;
  const server = await PrivateRedis.start(t);
  const publisher = await open(t, server.url);
  for (const kind of ['queue', 'group'] as const) {
    const first = await connect(server.url);
    t.teardown(() => first.close());
    const done = new Tally();
    let running = 0;
    let cutShort = -1;
    const handler = async (m: Message) => {
      running++;
      await new Promise((resolve) => setTimeout(resolve, 1));
      running--;
      done.add(keyOf(m));
    };
    const name = `drain-${kind}`;
    const options = { concurrency: 4, prefetch: 32 };
    if (kind === 'queue') await first.consume(name, handler, options);
    else await first.subscribe('drain.*', handler, { ...options, group: name });
    const emit = (key: string) =>
      kind === 'queue' ? publisher.send(name, { key }) : publisher.publish('drain.x', { key });
    let closing: Promise<void> | undefined;
    const published = stream(1_000, 32, emit, (n) => {
      if (n === 300) closing ??= first.close().then(() => void (cutShort = running));
    });
    await waitFor(() => closing !== undefined);
    await closing;
    t.equal(cutShort, 0, `${kind}: no handler was still running when close() resolved`);
    const handledByFirst = done.total;
    const second = await open(t, server.url);
    const record = (m: Message) => done.add(keyOf(m));
    if (kind === 'queue') await second.consume(name, record, { concurrency: 4 });
    else await second.subscribe('drain.*', record, { group: name, concurrency: 4 });
    const result = await published;
    t.equal(result.failures.length, 0, `${kind}: every publish confirmed`);
    await waitFor(() => done.lost(result.confirmed).length === 0, {
      timeoutMs: 30_000,
      message: () => `${kind}: lost ${done.lost(result.confirmed).length}`,
    });
    t.equal(done.lost(result.confirmed).length, 0, `${kind}: lost 0`);
    t.equal(
      done.duplicated,
      0,
      `${kind}: duplicated 0 (what the first member handled was acked before close resolved)`,
    );
    t.comment(`${kind}: first member handled ${handledByFirst}, total ${done.total}`);
  }
});

t.test('publishes during an outage wait, bounded, then reject with BK_UNAVAILABLE', async (t) => {
  if (!needServer(t)) return;
  const server = await PrivateRedis.start(t);
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

  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'resolved',
      (e: unknown) => (isBrokerkitError(e) ? e.code : String(e)),
    );
  const started = Date.now();
  t.equal(
    await code(broker.publish('outage.a', 'short', { timeoutMs: 300 })),
    'BK_UNAVAILABLE',
    'a publish outlasting its timeout: BK_UNAVAILABLE',
  );
  t.ok(Date.now() - started < 3_000, 'after about its timeout');
  t.equal(await code(broker.send('outage-q', 'short', { timeoutMs: 300 })), 'BK_UNAVAILABLE', 'send too');
  const waiting = [broker.publish('outage.a', 'w1'), broker.publish('outage.a', 'w2')];
  t.equal(
    await code(broker.publish('outage.a', 'w3')),
    'BK_UNAVAILABLE',
    'beyond maxBufferedPublishes: at once',
  );

  await server.restart();
  await Promise.all(waiting);
  t.pass('the waiting publishes were confirmed after the restart');
  await waitFor(() => got.counts.has('w1') && got.counts.has('w2'), { timeoutMs: 30_000 });
  t.same([...got.counts.keys()].sort(), ['before', 'w1', 'w2'], 'the group got exactly the confirmed ones');
  await broker.publish('outage.a', 'live-after');
  await waitFor(() => live.counts.has('live-after'), { timeoutMs: 10_000 });
  t.pass('the ephemeral subscription reads again after the reconnect');
});

/**
 * Request/reply through a fault: a TCP cut of every connection, or the server SIGKILLed and
 * restarted with its data gone (responder routes included). Requests in flight fail typed, or are
 * answered with their own answer; afterwards requests are answered again without anyone calling
 * `respond` again (the responders re-register when their connection comes back).
 */
for (const fault of ['a TCP cut', 'a restart that lost every key'] as const) {
  t.test(`request/reply across ${fault}: typed failures, then answered again`, async (t) => {
    if (!needServer(t)) return;
    const server = await PrivateRedis.start(t);
    const proxy = await TcpProxy.start('127.0.0.1', server.port);
    t.teardown(() => proxy.close());
    const url = `redis://127.0.0.1:${proxy.port}`;
    const options: BrokerOptions = { publishTimeoutMs: 5_000, reconnect: { initialMs: 50, maxMs: 300 } };
    const responder = await open(t, url, options);
    const requester = await open(t, url, options);
    const answered = new Tally();
    await responder.respond<{ key: string }>(
      'rr.fault.*',
      (m) => {
        answered.add(m.data.key);
        return { echo: m.data.key };
      },
      { group: 'rr-fault', concurrency: 8 },
    );
    let faulted = false;
    const injected = (async () => {
      await waitFor(() => faulted, { timeoutMs: 60_000 });
      if (fault === 'a TCP cut') {
        proxy.cut();
        return;
      }
      await server.kill();
      rmSync(server.dir, { recursive: true, force: true });
      mkdirSync(server.dir);
      await waitFor(() => requester.status === 'reconnecting', { timeoutMs: 10_000 });
      await server.restart();
    })();
    const wrong: string[] = [];
    const result = await stream(
      600,
      16,
      async (key) => {
        const reply = await requester.request<{ echo: string }>('rr.fault.x', { key }, { timeoutMs: 3_000 });
        if (reply.data.echo !== key) wrong.push(`${key} → ${reply.data.echo}`);
      },
      (n) => {
        if (n === 150) faulted = true;
      },
    );
    await injected;
    t.ok(faulted, `the fault came mid-stream (${result.confirmed.length} answered)`);
    t.same(wrong, [], 'every answered request got its own answer');
    const untyped = result.failures.filter(
      (c) => c !== 'BK_UNAVAILABLE' && c !== 'BK_TIMEOUT' && c !== 'BK_NO_RESPONDERS',
    );
    t.same(
      untyped,
      [],
      `failures are BK_UNAVAILABLE, BK_TIMEOUT or BK_NO_RESPONDERS (${result.failures.length})`,
    );
    let after: string | undefined;
    await waitFor(
      async () => {
        after = await requester
          .request<{ echo: string }>('rr.fault.y', { key: 'after' }, { timeoutMs: 1_000 })
          .then(
            (r) => r.data.echo,
            () => undefined,
          );
        return after === 'after';
      },
      { timeoutMs: 30_000, message: 'a request to be answered after the fault' },
    );
    t.equal(after, 'after', 'answered again after the fault, without calling respond again');
    t.comment(`answered ${result.confirmed.length}, failed ${result.failures.length}`);
  });
}
