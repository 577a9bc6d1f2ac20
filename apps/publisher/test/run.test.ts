import t from 'tap';
import { PassThrough } from 'node:stream';
import { connect, type Broker, type Message, type PublishOptions } from '@brokerkit/core';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { generatedSource, listSource } from '../src/payload.js';
import { runPublisher } from '../src/run.js';
import { main, EXIT } from '../src/cli-main.js';

interface Call {
  kind: 'publish' | 'send';
  destination: string;
  data: unknown;
  options: PublishOptions | undefined;
}

/** A broker stand-in whose publishes settle when the test says, failing where `fail` says. */
function fakeBroker(fail: (index: number) => string | undefined = () => undefined) {
  const calls: Call[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let closed = 0;
  const settle = (index: number): Promise<void> => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return new Promise<void>((resolve, reject) =>
      setImmediate(() => {
        inFlight--;
        const code = fail(index);
        if (code) reject(Object.assign(new Error(`failure ${code} of #${index}`), { code }));
        else resolve();
      }),
    );
  };
  const broker = {
    adapter: 'fake',
    status: 'ready',
    publish(destination: string, data: unknown, options?: PublishOptions) {
      calls.push({ kind: 'publish', destination, data, options });
      return settle(calls.length - 1);
    },
    send(destination: string, data: unknown, options?: PublishOptions) {
      calls.push({ kind: 'send', destination, data, options });
      return settle(calls.length - 1);
    },
    async close() {
      closed++;
    },
  } as unknown as Broker;
  return { broker, calls, maxInFlight: () => maxInFlight, closed: () => closed };
}

t.test('generated payloads encode to exactly --size bytes', async (t) => {
  for (const size of [0, 10, 17, 18, 100, 4096]) {
    const source = generatedSource('a', 1001, size);
    for (const i of [0, 9, 10, 999, 1000]) {
      const body = Buffer.from(JSON.stringify(source.at(i).data));
      t.equal(body.byteLength, Math.max(size, 17 + String(i).length), `size ${size}, seq ${i}`);
    }
  }
});

t.test('publishes every message through the memory broker: published = received', async (t) => {
  const broker = await connect('memory://');
  t.teardown(() => broker.close());
  const topic = `${uniqueName('pub')}.created`;
  const seen = new Map<number, number>();
  const sizes = new Set<number>();
  await broker.subscribe(
    `${topic.split('.')[0]}.>`,
    (msg: Message<{ seq: number }>) => {
      seen.set(msg.data.seq, (seen.get(msg.data.seq) ?? 0) + 1);
      sizes.add(msg.body.byteLength);
    },
    { group: uniqueName('g'), concurrency: 8 },
  );
  const summary = await runPublisher({
    broker,
    mode: 'publish',
    events: generatedSource(topic, 500, 200),
    concurrency: 20,
  });
  t.match(summary, {
    total: 500,
    sent: 500,
    confirmed: 500,
    failed: 0,
    unsent: 0,
    interrupted: false,
    failures: {},
  });
  t.ok(summary.latencyMs.p50! > 0 && summary.latencyMs.p99! >= summary.latencyMs.p50!, 'latency percentiles');
  t.ok(summary.ratePerSec > 0);
  await waitFor(() => seen.size === 500, { message: () => `received ${seen.size} of 500` });
  t.same(
    [...seen.values()].filter((n) => n !== 1),
    [],
    'no duplicates',
  );
  t.same([...sizes], [200], 'every body is 200 bytes');
});

t.test('sends to a work queue with --send semantics', async (t) => {
  const broker = await connect('memory://');
  t.teardown(() => broker.close());
  const queue = uniqueName('q');
  let received = 0;
  await broker.consume(queue, () => void received++);
  const summary = await runPublisher({ broker, mode: 'send', events: generatedSource(queue, 50, 10) });
  t.equal(summary.confirmed, 50);
  await waitFor(() => received === 50);
});

t.test('failures are counted by error code and never stop the run', async (t) => {
  const fake = fakeBroker((i) => (i % 5 === 0 ? 'BK_TIMEOUT' : i % 7 === 0 ? 'BK_UNAVAILABLE' : undefined));
  const summary = await runPublisher({
    broker: fake.broker,
    mode: 'publish',
    events: generatedSource('a', 100, 0),
  });
  const timeouts = Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 5 === 0).length;
  const unavailable = Array.from({ length: 100 }, (_, i) => i).filter(
    (i) => i % 5 !== 0 && i % 7 === 0,
  ).length;
  t.match(summary, {
    sent: 100,
    failed: timeouts + unavailable,
    confirmed: 100 - timeouts - unavailable,
    failures: { BK_TIMEOUT: timeouts, BK_UNAVAILABLE: unavailable },
    examples: { BK_TIMEOUT: 'failure BK_TIMEOUT of #0', BK_UNAVAILABLE: 'failure BK_UNAVAILABLE of #7' },
  });
});

t.test('concurrency bounds publishes in flight; headers merge, the event wins', async (t) => {
  const fake = fakeBroker();
  const events = listSource([
    { destination: 'a', data: 1 },
    { destination: 'b', data: 2, headers: { k: 'event', only: 'e' }, messageId: 'id-2' },
    ...Array.from({ length: 98 }, (_, i) => ({ destination: 'c', data: i })),
  ]);
  const summary = await runPublisher({
    broker: fake.broker,
    mode: 'send',
    events,
    concurrency: 3,
    headers: { k: 'cli', base: 'b' },
    timeoutMs: 1234,
  });
  t.equal(summary.confirmed, 100);
  t.equal(fake.maxInFlight(), 3);
  t.same(fake.calls[0], {
    kind: 'send',
    destination: 'a',
    data: 1,
    options: { headers: { k: 'cli', base: 'b' }, messageId: undefined, timeoutMs: 1234 },
  });
  t.same(fake.calls[1]!.options, {
    headers: { k: 'event', base: 'b', only: 'e' },
    messageId: 'id-2',
    timeoutMs: 1234,
  });
});

t.test('--rate paces sends against the start time', async (t) => {
  const fake = fakeBroker();
  const summary = await runPublisher({
    broker: fake.broker,
    mode: 'publish',
    events: generatedSource('a', 21, 0),
    rate: 200,
  });
  t.equal(summary.confirmed, 21);
  // The 21st message is due 20 intervals of 5 ms after the start: pacing can only be later.
  t.ok(summary.elapsedMs >= 99, `elapsed ${summary.elapsedMs} ms >= 100 ms`);
});

t.test('an abort stops new publishes; in-flight ones settle and are counted', async (t) => {
  const controller = new AbortController();
  const fake = fakeBroker();
  const progress: number[] = [];
  const summary = await runPublisher({
    broker: fake.broker,
    mode: 'publish',
    events: generatedSource('a', 1000, 0),
    rate: 1000,
    signal: controller.signal,
    onProgress: (s) => {
      progress.push(s.sent);
      if (s.confirmed >= 10) controller.abort();
    },
    progressEveryMs: 5,
  });
  t.ok(summary.interrupted);
  t.ok(summary.sent >= 10 && summary.sent < 1000, `sent ${summary.sent}`);
  t.equal(summary.confirmed + summary.failed, summary.sent, 'everything sent settled');
  t.equal(summary.unsent, 1000 - summary.sent);
  t.ok(progress.length >= 2);
});

/** Run main() in-process with captured output. */
async function runMain(
  argv: string[],
  extra: { stdin?: string; connect?: (url: string) => Promise<Broker> } = {},
) {
  let stdout = '';
  let stderr = '';
  const out = new PassThrough().on('data', (c: Buffer) => (stdout += c.toString()));
  const err = new PassThrough().on('data', (c: Buffer) => (stderr += c.toString()));
  const stdin = new PassThrough();
  stdin.end(extra.stdin ?? '');
  const code = await main(argv, { stdout: out, stderr: err, stdin, env: {}, connect: extra.connect });
  return { code, stdout, stderr };
}

t.test('main: failures give exit code 1 and a summary by code', async (t) => {
  const fake = fakeBroker((i) => (i === 3 ? 'BK_PAYLOAD_TOO_LARGE' : undefined));
  const r = await runMain(['--topic', 'a', '--count', '10', '--quiet'], { connect: async () => fake.broker });
  t.equal(r.code, EXIT.failed);
  t.match(r.stdout, /published: 10 of 10 attempted, 9 confirmed, 1 failed\n/);
  t.match(r.stdout, /failures:\n {2}BK_PAYLOAD_TOO_LARGE: 1 \(e\.g\. failure BK_PAYLOAD_TOO_LARGE of #3\)/);
  t.equal(r.stderr, '');
});

t.test('main: stdin NDJSON is read, validated and published', async (t) => {
  const fake = fakeBroker();
  const r = await runMain(['--file', '-', '--json'], {
    stdin: '{"topic":"orders.created","data":{"n":1}}\n{"topic":"orders.paid","data":{"n":2}}\n',
    connect: async () => fake.broker,
  });
  t.equal(r.code, EXIT.ok);
  t.match(JSON.parse(r.stdout), { total: 2, confirmed: 2, failed: 0 });
  t.same(
    fake.calls.map((c) => [c.destination, c.data]),
    [
      ['orders.created', { n: 1 }],
      ['orders.paid', { n: 2 }],
    ],
  );
  t.match(r.stderr, /^progress: 2\/2 settled/m, 'plain progress lines when not a TTY');
});

t.test('main: a malformed stdin line → exit 2 before connecting', async (t) => {
  let connected = false;
  const r = await runMain(['--file', '-', '--topic', 'a'], {
    stdin: '{"n":1}\n{"n":2\n',
    connect: async () => {
      connected = true;
      return fakeBroker().broker;
    },
  });
  t.equal(r.code, EXIT.usage);
  t.match(r.stderr, /^brokerkit-publish: stdin:2: malformed JSON/);
  t.notOk(connected, 'never connected');
  t.equal(r.stdout, '');
});
