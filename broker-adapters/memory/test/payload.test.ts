// memory:// behaves like a real broker with byte payloads: the body is copied at publish (no
// aliasing between the publisher, fan-out subscribers and retries) and there is a payload limit
// (1 MiB by default, as on NATS; `maxPayloadBytes` changes it). Requests and replies are copied too.
import t from 'tap';
import { connect } from '@brokerkit/core';
import type { Broker, BrokerOptions, Codec } from '@brokerkit/core';
import { DEFAULT_MAX_PAYLOAD_BYTES, resetMemoryBroker } from '@brokerkit/memory';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

async function open(t: TapTest, options?: BrokerOptions): Promise<Broker> {
  const name = uniqueName('payload');
  const broker = await connect(`memory://${name}`, options);
  t.teardown(async () => {
    await broker.close();
    resetMemoryBroker(name);
  });
  return broker;
}

t.test('one buffer sent three times, changed in between, arrives as three different bodies', async (t) => {
  const broker = await open(t);
  const received: number[] = [];
  await broker.consume<Uint8Array>('jobs', (m) => void received.push(m.data[0]!));
  const buf = new Uint8Array([1]);
  await broker.send('jobs', buf);
  buf[0] = 2;
  await broker.send('jobs', buf);
  buf[0] = 3;
  await broker.send('jobs', buf);
  buf[0] = 99;
  await waitFor(() => received.length === 3);
  t.same(received, [1, 2, 3]);
});

t.test(
  "a consumer writing to m.data changes neither the publisher's buffer nor the next delivery",
  async (t) => {
    const broker = await open(t);
    const seen: number[] = [];
    await broker.consume<Uint8Array>(
      'jobs',
      (m) => {
        seen.push(m.data[0]!);
        m.data[0] = 42; // scribble, then fail: the retry must see the original bytes
        if (m.attempt === 1) throw new Error('retry me');
      },
      { retry: { attempts: 2, backoff: { initialMs: 1, jitter: false } } },
    );
    const buf = new Uint8Array([7, 7]);
    await broker.send('jobs', buf);
    await waitFor(() => seen.length === 2);
    t.same(seen, [7, 7], 'attempt 2 got the bytes as published');
    t.same([...buf], [7, 7], "the publisher's buffer is untouched");
  },
);

t.test('fan-out subscribers each get their own bytes', async (t) => {
  const broker = await open(t);
  const got: Record<string, number[]> = { a: [], b: [], g: [] };
  const scribbler = (key: string) => (m: { data: Uint8Array }) => {
    got[key]!.push(m.data[0]!);
    m.data[0] = 0;
  };
  await broker.subscribe<Uint8Array>('bytes.*', scribbler('a'));
  await broker.subscribe<Uint8Array>('bytes.*', scribbler('b'));
  await broker.subscribe<Uint8Array>('bytes.>', scribbler('g'), { group: uniqueName('g') });
  await broker.publish('bytes.x', new Uint8Array([5]));
  await waitFor(() => got.a!.length + got.b!.length + got.g!.length === 3);
  t.same(got, { a: [5], b: [5], g: [5] });
});

t.test('payloads over 1 MiB reject with BK_PAYLOAD_TOO_LARGE by default; nothing is enqueued', async (t) => {
  const broker = await open(t);
  t.equal(DEFAULT_MAX_PAYLOAD_BYTES, 1024 * 1024);
  await broker.send('big', new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES));
  t.pass('exactly the limit is accepted');
  const over = new Uint8Array(DEFAULT_MAX_PAYLOAD_BYTES + 1);
  await t.rejects(broker.send('big', over), { code: 'BK_PAYLOAD_TOO_LARGE', name: 'PayloadTooLargeError' });
  await t.rejects(broker.publish('big.event', over), { code: 'BK_PAYLOAD_TOO_LARGE' });
  // A JSON payload is measured encoded.
  await t.rejects(broker.send('big', { pad: 'x'.repeat(DEFAULT_MAX_PAYLOAD_BYTES) }), {
    code: 'BK_PAYLOAD_TOO_LARGE',
  });
  t.equal((await broker.inspector!.queueInfo('big')).depth, 1, 'only the accepted one is queued');
  await broker.send('big', 'still usable');
  t.equal((await broker.inspector!.queueInfo('big')).depth, 2, 'the connection stays usable');
});

t.test('maxPayloadBytes raises or lowers the limit', async (t) => {
  const large = await open(t, { maxPayloadBytes: 4 * 1024 * 1024 });
  await large.send('big', new Uint8Array(2 * 1024 * 1024));
  t.equal((await large.inspector!.queueInfo('big')).depth, 1, '2 MiB accepted under a 4 MiB limit');
  const small = await open(t, { maxPayloadBytes: 16 });
  await small.send('small', new Uint8Array(16));
  await t.rejects(small.send('small', new Uint8Array(17)), { code: 'BK_PAYLOAD_TOO_LARGE' });
});

t.test('a custom codec that reuses its buffer still delivers each message as it was sent', async (t) => {
  const shared = new Uint8Array(1);
  const reusing: Codec = {
    encode: (data) => {
      shared[0] = data as number;
      return { body: shared, contentType: 'application/x-one-byte' };
    },
    decode: (body) => body[0],
  };
  const broker = await open(t, { codec: reusing });
  const received: unknown[] = [];
  const sub = await broker.consume('jobs', (m) => void received.push(m.data));
  await sub.close(); // let the messages wait in the queue while the codec overwrites its buffer
  for (const n of [1, 2, 3]) await broker.send('jobs', n);
  await broker.consume('jobs', (m) => void received.push(m.data));
  await waitFor(() => received.length === 3);
  t.same(received, [1, 2, 3]);
});

t.test(
  'a request buffer changed after request(), or by one responder, reaches each responder as sent',
  async (t) => {
    const broker = await open(t);
    const seen: number[][] = [];
    // Two ungrouped responders both receive the request; the first scribbles on its copy.
    await broker.respond<Uint8Array>('rpc.bytes', (m) => {
      seen.push([...m.data]);
      m.data[0] = 42;
      return 'a';
    });
    await broker.respond<Uint8Array>('rpc.bytes', async (m) => {
      await new Promise((resolve) => setImmediate(resolve)); // after the other one has written
      seen.push([...m.data]);
      return 'b';
    });
    const buf = new Uint8Array([7, 8]);
    const reply = broker.request('rpc.bytes', buf, { timeoutMs: 5_000 });
    buf[0] = 99; // the caller reuses its buffer at once
    t.ok(['a', 'b'].includes((await reply).data as string), 'answered');
    await waitFor(() => seen.length === 2);
    t.same(seen, [
      [7, 8],
      [7, 8],
    ]);
  },
);

t.test('a reply buffer the responder changes after returning it arrives as returned', async (t) => {
  const broker = await open(t);
  const returned = new Uint8Array([1, 2, 3]);
  await broker.respond('rpc.reply', () => {
    setImmediate(() => returned.fill(0)); // the responder reuses its buffer for the next answer
    return returned;
  });
  const reply = await broker.request<Uint8Array>('rpc.reply', 'go', { timeoutMs: 5_000 });
  await new Promise((resolve) => setImmediate(resolve));
  t.same([...returned], [0, 0, 0], "the responder's buffer did change");
  t.same([...(reply.data as Uint8Array)], [1, 2, 3]);
});

t.test('a Node Buffer payload of any size is copied, not viewed (Buffer#slice would share)', async (t) => {
  const broker = await open(t);
  const received: number[][] = [];
  await broker.consume<Uint8Array>('jobs', (m) => void received.push([m.data.length, m.data[0]!]));
  for (const size of [10, 300, 5000]) {
    const buf = Buffer.alloc(size, 1);
    await broker.send('jobs', buf);
    buf.fill(9); // the publisher reuses its Buffer at once
  }
  await waitFor(() => received.length === 3);
  t.same(received, [
    [10, 1],
    [300, 1],
    [5000, 1],
  ]);
});
