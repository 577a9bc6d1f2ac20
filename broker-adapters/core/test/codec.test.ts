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
