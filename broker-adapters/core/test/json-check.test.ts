// The default codec refuses payloads JSON would change silently (Map/Set → {}, NaN → null, …)
// with BK_VALIDATION naming the path; a custom codec is the way to send such values.
import t from 'tap';
import { createBroker } from '../src/broker.js';
import { decode, encode } from '../src/codec.js';
import { resolveBrokerSettings } from '../src/settings.js';
import type { Codec, OutgoingMessage, Transport } from '../src/types.js';
import { findUnrepresentable } from '../src/json-check.js';

t.test('values JSON cannot represent faithfully reject with BK_VALIDATION naming the path', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ tags: new Set(['a']) }, /^payload\.tags is a Set, .*\{\}/],
    [{ byId: new Map([[1, 'x']]) }, /^payload\.byId is a Map/],
    [{ total: Number.NaN }, /^payload\.total is NaN, .*arrive as null/],
    [{ a: { b: [1, Number.POSITIVE_INFINITY] } }, /^payload\.a\.b\[1\] is Infinity/],
    [{ 'odd key': -Infinity }, /^payload\["odd key"\] is -Infinity/],
    [{ run() {} }, /^payload\.run is a function, .*the key is dropped/],
    [[1, () => 2], /^payload\[1\] is a function, .*arrive as null/],
    [[1, undefined], /^payload\[1\] is undefined, .*arrive as null/],
    [{ n: 10n }, /^payload\.n is a bigint, which JSON cannot represent:/],
    [{ err: new TypeError('boom') }, /^payload\.err is an error \(TypeError\)/],
    [{ bytes: new Uint8Array([1]) }, /^payload\.bytes is a Uint8Array/],
    [{ re: /x/ }, /^payload\.re is a RegExp/],
    [Number.NaN, /^payload is NaN/],
  ];
  for (const [value, message] of cases) {
    t.throws(() => encode(value), { code: 'BK_VALIDATION', message }, String(message));
  }
});

t.test('what JSON represents faithfully still encodes', async (t) => {
  const when = new Date('2026-01-02T03:04:05.000Z');
  const encoded = encode({ at: when, missing: undefined, n: null, list: [1, 'a', { ok: true }], zero: -0 });
  t.same(decode(encoded.body, encoded.contentType), {
    at: '2026-01-02T03:04:05.000Z', // toJSON is trusted: a Date arrives as its ISO string
    n: null,
    list: [1, 'a', { ok: true }],
    zero: 0,
  });
  const bare = Object.assign(Object.create(null) as object, { a: 1 });
  t.equal(findUnrepresentable(bare), undefined, 'objects without a prototype are plain');
  class Order {
    constructor(readonly id: string) {}
  }
  t.equal(findUnrepresentable(new Order('o-1')), undefined, 'class instances encode their own fields');
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  t.throws(() => encode(cyclic), { code: 'BK_DECODE' }, 'a cycle is still an encode failure');
});

t.test(
  'publish and send reject before the transport sees anything; a custom codec is the way out',
  async (t) => {
    const sent: OutgoingMessage[] = [];
    const recording = async (): Promise<Transport> => ({
      adapter: 'recording',
      publish: async (m) => void sent.push(m),
      send: async (m) => void sent.push(m),
      subscribe: async () => ({ close: async () => {} }),
      consume: async () => ({ close: async () => {} }),
      close: async () => {},
    });
    const broker = await createBroker(recording);
    t.teardown(() => broker.close());
    await t.rejects(broker.send('jobs', { counts: new Map([['a', 1]]) }), {
      code: 'BK_VALIDATION',
      message: /^payload\.counts is a Map/,
    });
    await t.rejects(broker.publish('orders.created', { amount: Number.NaN }), {
      code: 'BK_VALIDATION',
      message: /^payload\.amount is NaN/,
    });
    t.equal(sent.length, 0, 'nothing reached the transport');

    // A codec that writes Maps as entry lists (and reads them back) sends them as the user meant.
    const mapCodec: Codec = {
      encode: (data) => ({
        body: new TextEncoder().encode(
          JSON.stringify(data, (_k, v: unknown) => (v instanceof Map ? { $map: [...v] } : v)),
        ),
        contentType: 'application/json',
      }),
      decode: (body) =>
        JSON.parse(new TextDecoder().decode(body), (_k, v: { $map?: [unknown, unknown][] } | null) =>
          v && v.$map ? new Map(v.$map) : v,
        ) as unknown,
    };
    const custom = await createBroker(
      recording,
      resolveBrokerSettings([new URL('memory://')], { codec: mapCodec }, new Set()),
    );
    t.teardown(() => custom.close());
    await custom.send('jobs', { counts: new Map([['a', 1]]) });
    t.equal(sent.length, 1);
    t.same(mapCodec.decode(sent[0]!.body, sent[0]!.contentType), { counts: new Map([['a', 1]]) });
  },
);
