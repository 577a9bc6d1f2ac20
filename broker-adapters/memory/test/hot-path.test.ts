// The memory hot path's shortcuts keep their promises: the codec's reused encode buffer, the slab
// the adapter copies mid-sized bodies into, and the dispatch loop settling synchronous outcomes
// at once (no recursion per waiting delivery, same concurrency bound, same settle-failure rule).
import t from 'tap';
import { connect } from '@brokerkit/core';
import type { Broker, DeliveryOutcome, RawDelivery } from '@brokerkit/core';
import { DeliveryLoop, decode, encode, JSON_TYPE, TEXT_TYPE } from '@brokerkit/core/adapter';
import { resetMemoryBroker } from '@brokerkit/memory';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

async function open(t: TapTest): Promise<Broker> {
  const name = uniqueName('hot');
  const broker = await connect(`memory://${name}`);
  t.teardown(async () => {
    await broker.close();
    resetMemoryBroker(name);
  });
  return broker;
}

t.test('encode: every body is its own buffer, whatever the string length', async (t) => {
  const samples = [
    '',
    'a',
    'héllo ✓ 😀',
    'x'.repeat(5000),
    'é'.repeat(6000),
    'y'.repeat(70_000),
    '\ud800 lone',
  ];
  const bodies = samples.map((s) => encode(s).body);
  for (let i = 0; i < samples.length; i++) {
    const body = bodies[i]!;
    t.same(
      [...body],
      [...new TextEncoder().encode(samples[i])],
      `bytes of sample ${i} as TextEncoder writes them`,
    );
    t.equal(body.byteOffset, 0, `sample ${i} starts its buffer`);
    t.equal(body.buffer.byteLength, body.byteLength, `sample ${i} owns its whole buffer`);
  }
  t.equal(decode(bodies[2]!, TEXT_TYPE), samples[2]);
  const a = encode({ n: 1 }).body;
  const b = encode({ n: 2 }).body;
  t.not(a.buffer, b.buffer, 'two encodes share no buffer');
  t.same(decode(a, JSON_TYPE), { n: 1 }, 'the first body is not overwritten by the second encode');
});

t.test('encode: the quick JSON check still hands odd values to the full check', async (t) => {
  t.same(decode(encode({ a: [1, 'x', null, true, { b: undefined }] }).body, JSON_TYPE), {
    a: [1, 'x', null, true, {}],
  });
  t.same(
    decode(encode({ at: new Date(0) }).body, JSON_TYPE),
    { at: '1970-01-01T00:00:00.000Z' },
    'toJSON is trusted',
  );
  t.same(decode(encode(Object.assign(Object.create(null), { x: 1 })).body, JSON_TYPE), { x: 1 });
  for (const [value, path] of [
    [{ a: { b: new Map() } }, 'payload.a.b'],
    [{ list: [1, NaN] }, 'payload.list[1]'],
    [[undefined], 'payload[0]'],
    [{ f: { g: () => 1 } }, 'payload.f.g'],
  ] as const) {
    t.throws(() => encode(value), {
      code: 'BK_VALIDATION',
      message: new RegExp(path.replace(/[[\].]/g, '\\$&')),
    });
  }
  let deep: unknown = { leaf: Infinity };
  for (let i = 0; i < 40; i++) deep = { d: deep };
  t.throws(() => encode(deep), { code: 'BK_VALIDATION' }, 'deeper than the quick check looks');
});

t.test('mid-sized byte bodies (slab copies) stay private per publish and per subscriber', async (t) => {
  const broker = await open(t);
  const sizes = [65, 200, 1024, 1025, 4000];
  const rounds = 200; // enough 65 B – 1 KiB copies to go through several slabs
  const seen: Array<Array<{ size: number; first: number; last: number }>> = [[], [], []];
  for (let s = 0; s < 3; s++) {
    await broker.subscribe<Uint8Array>('blob.*', (m) => {
      seen[s]!.push({ size: m.data.byteLength, first: m.data[0]!, last: m.data[m.data.byteLength - 1]! });
      m.data.fill(255); // scribble over the whole view: must not reach anyone else
    });
  }
  const buf = new Uint8Array(4000);
  for (let r = 0; r < rounds; r++) {
    for (const size of sizes) {
      const view = buf.subarray(0, size);
      view.fill(r % 200);
      await broker.publish('blob.x', view);
    }
  }
  buf.fill(254);
  await waitFor(() => seen.every((list) => list.length === rounds * sizes.length));
  for (let s = 0; s < 3; s++) {
    const wrong = seen[s]!.filter((d, i) => {
      const r = Math.floor(i / sizes.length);
      return d.size !== sizes[i % sizes.length] || d.first !== r % 200 || d.last !== r % 200;
    });
    t.equal(wrong.length, 0, `subscriber ${s}: every body as published`);
  }
});

const ACK: DeliveryOutcome = { kind: 'ack' };

function raw(n: number): RawDelivery {
  return {
    topic: 't',
    body: new Uint8Array([n & 0xff]),
    headers: {},
    contentType: undefined,
    id: String(n),
    timestamp: undefined,
    attempt: 1,
    redelivered: false,
  };
}

t.test(
  'DeliveryLoop: synchronous outcomes settle at once, without recursing per waiting delivery',
  async (t) => {
    const count = 200_000;
    let settled = 0;
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    const loop = new DeliveryLoop<number, undefined>({
      concurrency: 1,
      deliver: (d) => {
        active++;
        maxActive = Math.max(maxActive, active);
        active--;
        if (order.length < 5) order.push(Number(d.id));
        return ACK;
      },
      toDelivery: raw,
      settle: () => void settled++,
      release: () => t.fail('nothing to release'),
      report: (e) => t.fail(e.message),
    });
    loop.stop(); // let a long backlog wait, then start it in one go
    for (let i = 0; i < count; i++) loop.push(i, undefined);
    t.equal(loop.waiting, count);
    loop.resume();
    t.equal(settled, count, 'all settled inside resume(): no microtask per delivery, no stack overflow');
    t.equal(maxActive, 1);
    t.same(order, [0, 1, 2, 3, 4], 'arrival order');
    t.equal(loop.size, 0);
  },
);

t.test(
  'DeliveryLoop: a push from onFree during a synchronous settle waits for the running loop',
  async (t) => {
    let started = 0;
    let depth = 0;
    let maxDepth = 0;
    const loop: DeliveryLoop<number, undefined> = new DeliveryLoop<number, undefined>({
      concurrency: 2,
      deliver: () => {
        depth++;
        maxDepth = Math.max(maxDepth, depth);
        started++;
        depth--;
        return ACK;
      },
      toDelivery: raw,
      settle: () => undefined,
      release: () => t.fail('nothing to release'),
      report: (e) => t.fail(e.message),
      onFree: () => {
        if (started < 50_000) loop.push(started, undefined);
      },
    });
    loop.push(0, undefined);
    t.equal(started, 50_000, 'each freed slot took the next one');
    t.equal(maxDepth, 1);
  },
);

t.test('DeliveryLoop: a deliver that throws synchronously is released and reported once', async (t) => {
  const released: number[] = [];
  const reported: string[] = [];
  let settled = 0;
  const loop = new DeliveryLoop<number, undefined>({
    concurrency: 1,
    deliver: (d) => {
      if (d.id === '1') throw new Error('broken dispatcher');
      return ACK;
    },
    toDelivery: raw,
    settle: () => void settled++,
    release: (n) => void released.push(n),
    report: (e) => void reported.push(e.message),
  });
  for (let i = 0; i < 3; i++) loop.push(i, undefined);
  await loop.idle();
  t.same(released, [1]);
  t.same(reported, ['broken dispatcher']);
  t.equal(settled, 2);
  t.equal(loop.running, 0);
});
