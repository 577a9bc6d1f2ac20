import t from 'tap';
import { BYTES_TYPE, JSON_TYPE, TEXT_TYPE, decode, encode } from '../src/codec.js';

t.test('objects, strings and bytes round-trip by content type', async (t) => {
  const obj = encode({ a: 1, b: ['x'] });
  t.equal(obj.contentType, JSON_TYPE);
  t.same(decode(obj.body, obj.contentType), { a: 1, b: ['x'] });
  const text = encode('héllo');
  t.equal(text.contentType, TEXT_TYPE);
  t.equal(decode(text.body, text.contentType), 'héllo');
  const bytes = encode(new Uint8Array([0, 255, 7]));
  t.equal(bytes.contentType, BYTES_TYPE);
  t.same(Array.from(decode(bytes.body, bytes.contentType) as Uint8Array), [0, 255, 7]);
  t.same(decode(encode(null).body, JSON_TYPE), null);
  t.same(decode(encode(42).body, JSON_TYPE), 42);
});

t.test('content type parameters and +json are understood', async (t) => {
  const body = new TextEncoder().encode('{"x":1}');
  t.same(decode(body, 'application/json; charset=utf-8'), { x: 1 });
  t.same(decode(body, 'application/cloudevents+json'), { x: 1 });
  t.equal(decode(new TextEncoder().encode('hi'), 'text/csv'), 'hi');
});

t.test('undecodable bodies throw DecodeError', async (t) => {
  t.throws(() => decode(new TextEncoder().encode('{nope'), JSON_TYPE), { code: 'BK_DECODE' });
  t.throws(() => decode(new Uint8Array([0xff, 0xfe]), TEXT_TYPE), { code: 'BK_DECODE' });
});

t.test('unencodable payloads throw DecodeError', async (t) => {
  t.throws(() => encode(undefined), { code: 'BK_DECODE' });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  t.throws(() => encode(cyclic), { code: 'BK_DECODE' });
  t.throws(() => encode(() => 1), { code: 'BK_DECODE' });
});

t.test('every encoded body has bytes of its own, whatever its size', async (t) => {
  // 64 B and less live on V8's heap, 65 B – 1 KiB in a shared slab, larger ones alone.
  const sizes = [1, 64, 65, 300, 1024, 1025, 5000, 60_000];
  for (let round = 0; round < 40; round++) {
    const bodies = sizes.map((n) => encode('a'.repeat(n)).body);
    bodies.forEach((body, i) => t.equal(body.byteLength, sizes[i], `${sizes[i]} B`));
    for (const body of bodies) body.fill(0x62); // 'b': a consumer writing to its body
    const next = sizes.map((n) => encode({ s: 'c'.repeat(n) }).body);
    for (const body of bodies)
      t.ok(
        body.every((byte) => byte === 0x62),
        'untouched by later encodes',
      );
    next.forEach((body, i) => t.same(decode(body, 'application/json'), { s: 'c'.repeat(sizes[i]!) }));
    // Writes through one body never show in another sharing its ArrayBuffer.
    for (const body of next) body.fill(0);
    for (const body of bodies) t.ok(body.every((byte) => byte === 0x62));
  }
});
