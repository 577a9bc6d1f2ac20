// The header block codec of the adapter, alone: what goes on the wire and what comes back.
import t from 'tap';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Headers, OutgoingMessage } from '@brokerkit/core';
import { messageIdTime, newMessageId } from '@brokerkit/core/adapter';
import type { Msg, MsgHdrs } from '@nats-io/transport-node';
import {
  WIRE,
  outgoingHeaders,
  parseHeaderBlock,
  readHeaders,
  receivedHeaders,
  storedHeaders,
} from '../src/wire.js';
import { parseAckSubject } from '../src/nats-internals.js';
import type { AckSubjectFields, MsgImplFields } from '../src/nats-internals.js';

/** The encoded block nats.js would write (it calls `encode()`, which `MsgHdrs` does not declare). */
function encoded(h: MsgHdrs): Uint8Array {
  return (h as unknown as { encode(): Uint8Array }).encode();
}

const message: OutgoingMessage = {
  id: 'id-1',
  destination: 'orders.created',
  data: null,
  body: new Uint8Array(),
  contentType: 'application/json',
  headers: { 'x-custom': 'v: with colon ✓', trace: 't1' },
  timestamp: new Date(1_700_000_000_123),
};

t.test('outgoing headers round-trip through the parser', async (t) => {
  const bytes = encoded(outgoingHeaders(message, { [WIRE.notBefore]: '42' }));
  const text = Buffer.from(bytes).toString('utf8');
  t.match(text, /^NATS\/1\.0\r\n/, 'status line');
  t.match(text, /\r\n\r\n$/, 'blank line at the end');
  const parsed = parseHeaderBlock(bytes);
  t.same(parsed.headers, { 'x-custom': 'v: with colon ✓', trace: 't1', [WIRE.notBefore]: '42' });
  t.equal(parsed.id, 'id-1', 'id from Nats-Msg-Id');
  t.equal(parsed.contentType, 'application/json');
  t.equal(parsed.timestamp?.getTime(), 1_700_000_000_123);
});

t.test('an own id carries the publish time: no time header, the time read back from the id', async (t) => {
  const id = newMessageId();
  const ms = messageIdTime(id)!;
  const own: OutgoingMessage = { ...message, id, headers: {}, timestamp: new Date(ms) };
  const bytes = encoded(outgoingHeaders(own));
  const text = Buffer.from(bytes).toString('utf8');
  t.equal(text, `NATS/1.0\r\nNats-Msg-Id: ${id}\r\nContent-Type: application/json\r\n\r\n`, 'two headers');
  const parsed = parseHeaderBlock(bytes);
  t.equal(parsed.id, id);
  t.equal(parsed.timestamp?.getTime(), ms, 'timestamp from the id');
  t.same(parsed.headers, {});
  // A user id, or an own id with another time: the explicit header, which wins on reading.
  const other: OutgoingMessage = { ...own, timestamp: new Date(ms + 5) };
  t.equal(parseHeaderBlock(encoded(outgoingHeaders(other))).timestamp?.getTime(), ms + 5);
  t.match(
    Buffer.from(encoded(outgoingHeaders(message))).toString('utf8'),
    /x-brokerkit-timestamp: 1700000000123/,
  );
  // A foreign publisher: no id, no time; or a foreign non-v7 id.
  t.equal(parseHeaderBlock(Buffer.from('NATS/1.0\r\nNats-Msg-Id: abc\r\n\r\n')).timestamp, undefined);
});

t.test('nats.js parses what the adapter writes identically', async (t) => {
  const bytes = encoded(outgoingHeaders(message));
  const h = natsHeaders();
  const decoded = (h.constructor as unknown as { decode(b: Uint8Array): typeof h }).decode(bytes);
  t.same(readHeaders(decoded), parseHeaderBlock(bytes));
});

t.test('stored headers: x-brokerkit-id wins over the de-duplication key', async (t) => {
  const bytes = encoded(
    storedHeaders({ a: '1' }, { id: 'orig', contentType: 'text/plain', timestamp: new Date(5) }, 'dlq:S:1'),
  );
  const parsed = parseHeaderBlock(bytes);
  t.equal(parsed.id, 'orig');
  t.same(parsed.headers, { a: '1' }, 'Nats-* headers are transport headers, not user headers');
  t.equal(parsed.timestamp?.getTime(), 5);
});

t.test('the first value of a repeated key wins; no headers at all', async (t) => {
  const parsed = parseHeaderBlock(
    Buffer.from('NATS/1.0\r\nk: 1\r\nk: 2\r\nNats-Msg-Id: a\r\nNats-Msg-Id: b\r\n\r\n'),
  );
  t.same(parsed.headers, { k: '1' });
  t.equal(parsed.id, 'a');
  t.same(readHeaders(undefined), {
    headers: {},
    id: undefined,
    contentType: undefined,
    timestamp: undefined,
  });
});

t.test('header names and values that would break the block are BK_VALIDATION', async (t) => {
  for (const headers of <Headers[]>[
    { 'bad key': 'v' },
    { 'a:b': 'v' },
    { ok: 'line\r\nbreak' },
    { ok: 'nl\n' },
  ]) {
    t.throws(
      () => outgoingHeaders({ ...message, headers }),
      { code: 'BK_VALIDATION' },
      JSON.stringify(headers),
    );
  }
});

t.test('delivery details are read from both ack subject forms', async (t) => {
  const { PulledMessage } = await import('../src/pulled.js');
  const msg = (reply: string) =>
    ({ reply, subject: 's' }) as unknown as ConstructorParameters<typeof PulledMessage>[0];
  const ns = 1_700_000_000_123 * 1e6;
  const old = new PulledMessage(msg(`$JS.ACK.STREAM.cons.3.41.7.${ns}.0`));
  t.same([old.deliveryCount, old.streamSequence, old.storedAt.getTime()], [3, 41, 1_700_000_000_123]);
  const v2 = new PulledMessage(msg(`$JS.ACK._.hash.STREAM.cons.3.41.7.${ns}.0.rnd`));
  t.same([v2.deliveryCount, v2.streamSequence, v2.storedAt.getTime()], [3, 41, 1_700_000_000_123]);
  const before = Date.now();
  const odd = new PulledMessage(msg('$JS.ACK.not.an.ack'));
  t.same([odd.deliveryCount, odd.streamSequence], [1, 0], 'an unreadable subject: first delivery');
  t.ok(odd.storedAt.getTime() >= before, 'stored "now"');
});

t.test('the ack subject parser: every form, exact milliseconds, malformed subjects refused', async (t) => {
  const read = (reply: string): AckSubjectFields | false => {
    const out: AckSubjectFields = { deliveryCount: -1, streamSequence: -1, storedAtMs: -1 };
    return parseAckSubject(reply, out) && out;
  };
  // 2^53 < ns: a float of the ns would round this one up to the next millisecond.
  const ns = '1700000000123999999';
  const want = { deliveryCount: 12, streamSequence: 9_007_199_254, storedAtMs: 1_700_000_000_123 };
  t.same(read(`$JS.ACK.S.c.12.9007199254.5.${ns}.3`), want, '2.9: 9 tokens');
  t.same(read(`$JS.ACK.dom.HASH.S.c.12.9007199254.5.${ns}.3.r4nd0m`), want, '2.10: 12 tokens');
  t.same(read(`$JS.ACK._.HASH.S.c.12.9007199254.5.${ns}.3`), want, '2.10 without the random token');
  for (const bad of [
    '',
    '$JS.ACK.',
    '$JS.API.S.c.1.2.3.1700000000123000000.0',
    '$JS.ACK.S.c.1.2.3.1700000000123000000',
    '$JS.ACK.S.c.x.2.3.1700000000123000000.0',
    '$JS.ACK.S.c.1..3.1700000000123000000.0',
    '$JS.ACK.S.c.1.2.3.123.0',
    '$JS.ACK.S.c.1.2.3.17000000001230000x0.0',
    '$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p',
  ]) {
    t.equal(read(bad), false, JSON.stringify(bad));
  }
});

t.test(
  'fan-out copies of one header block share one frozen parse; another block is parsed anew',
  async (t) => {
    /** What nats.js hands out (the fields nats-internals.ts reads; its guard test checks them). */
    function received(block: Uint8Array, body = 'x'): Msg {
      const fields: MsgImplFields = {
        _rdata: Buffer.concat([block, Buffer.from(body)]),
        _msg: { hdr: block.byteLength },
      };
      return fields as unknown as Msg;
    }
    const a = encoded(outgoingHeaders(message));
    const b = encoded(outgoingHeaders({ ...message, id: 'id-2' }));
    const first = receivedHeaders(received(a), true);
    const copy = receivedHeaders(received(a, 'other body'), true);
    t.equal(copy, first, 'the same parse for the same block');
    t.ok(Object.isFrozen(first.headers), 'shared headers cannot be changed by one subscriber');
    const other = receivedHeaders(received(b), true);
    t.not(other, first);
    t.equal(other.id, 'id-2');
    t.equal(receivedHeaders(received(a), false).id, 'id-1', 'without reuse: parsed');
    t.not(receivedHeaders(received(a), false), receivedHeaders(received(a), false));
  },
);
