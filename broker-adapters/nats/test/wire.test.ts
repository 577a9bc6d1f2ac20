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
  receivedCopy,
  receivedHeaders,
  storedHeaders,
} from '../src/wire.js';
import { parseAckSubject, rawHeaderLength } from '../src/nats-internals.js';
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

t.test('Content-Type is read in any case; the first one wins; Nats-* names stay exact', async (t) => {
  for (const name of ['content-type', 'CONTENT-TYPE', 'Content-type']) {
    const parsed = parseHeaderBlock(Buffer.from(`NATS/1.0\r\n${name}: text/plain\r\nk: v\r\n\r\n`));
    t.equal(parsed.contentType, 'text/plain', name);
    t.same(parsed.headers, { k: 'v' }, `${name} is not a user header`);
  }
  const both = parseHeaderBlock(
    Buffer.from('NATS/1.0\r\ncontent-type: text/plain\r\nContent-Type: application/json\r\n\r\n'),
  );
  t.equal(both.contentType, 'text/plain', 'the first of two spellings');
  const near = parseHeaderBlock(Buffer.from('NATS/1.0\r\ncontent-types: x\r\nnats-msg-id: a\r\n\r\n'));
  t.equal(near.contentType, undefined);
  t.equal(near.id, undefined, 'nats-msg-id is not Nats-Msg-Id');
  t.same(near.headers, { 'content-types': 'x', 'nats-msg-id': 'a' });
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
  'fan-out copies of one subject and header block share one frozen result; another block or subject is read anew',
  async (t) => {
    /** What nats.js hands out (the fields nats-internals.ts reads; its guard test checks them). */
    function received(block: Uint8Array, body = 'x', subject = 'orders.created'): Msg {
      const fields: MsgImplFields = {
        _rdata: Buffer.concat([block, Buffer.from(body)]),
        _msg: { hdr: block.byteLength, subject: Buffer.from(subject) },
      };
      return fields as unknown as Msg;
    }
    const copyOf = (m: Msg) => receivedCopy(m, rawHeaderLength(m));
    const a = encoded(outgoingHeaders(message));
    const b = encoded(outgoingHeaders({ ...message, id: 'id-2' }));
    const first = copyOf(received(a));
    t.equal(first.subject, 'orders.created');
    t.equal(first.meta.id, 'id-1');
    t.equal(first.skip, false);
    const copy = copyOf(received(a, 'other body'));
    t.equal(copy, first, 'the same result for the same subject and block');
    t.ok(Object.isFrozen(first) && Object.isFrozen(first.meta.headers), 'shared, so nobody can change it');
    const other = copyOf(received(b));
    t.not(other, first);
    t.equal(other.meta.id, 'id-2');
    const elsewhere = copyOf(received(b, 'x', 'orders.updated'));
    t.not(elsewhere, other, 'same block, another subject: read anew');
    t.equal(elsewhere.subject, 'orders.updated');
    t.same(elsewhere.meta, other.meta);
    const longer = copyOf(received(b, 'x', 'orders.updated.more'));
    t.equal(longer.subject, 'orders.updated.more', 'a longer subject after a shorter one');
    const unicode = copyOf(received(b, 'x', 'orders.größe'));
    t.equal(unicode.subject, 'orders.größe', 'subjects are UTF-8');
    t.same(receivedHeaders(received(a)), first.meta, 'the same parse as a single delivery gets');
    t.not(receivedHeaders(received(a)), receivedHeaders(received(a)), 'single deliveries: parsed each time');
  },
);

t.test('what an ephemeral subscriber skips', async (t) => {
  function received(block: Uint8Array | undefined, subject: string): Msg {
    const fields: MsgImplFields = {
      _rdata: Buffer.concat([block ?? new Uint8Array(), Buffer.from('x')]),
      _msg: { hdr: block ? block.byteLength : -1, subject: Buffer.from(subject) },
    };
    return fields as unknown as Msg;
  }
  const copyOf = (m: Msg) => receivedCopy(m, rawHeaderLength(m));
  const plain = encoded(outgoingHeaders(message));
  for (const subject of ['$JS.API.INFO', '_INBOX.abc.1', '_bk.q.mail']) {
    t.equal(copyOf(received(plain, subject)).skip, true, subject);
  }
  t.equal(copyOf(received(undefined, 'orders.x')).skip, false, 'a foreign message without headers');
  t.same(copyOf(received(undefined, 'orders.x')).meta.headers, {});
  const replay = encoded(outgoingHeaders(message, { [WIRE.replayTo]: 'billing' }));
  t.equal(copyOf(received(replay, 'orders.x')).skip, true, 'a replayed group dead letter');
  const request = encoded(outgoingHeaders(message, { [WIRE.request]: '1' }));
  t.equal(copyOf(received(request, 'orders.x')).skip, true, 'a brokerkit request');
});

t.test("the own-id fast path writes exactly the general path's block", async (t) => {
  const id = newMessageId();
  const ms = messageIdTime(id)!;
  for (const contentType of ['application/octet-stream', 'application/json', 'text/plain; charset=utf-8']) {
    const own: OutgoingMessage = { ...message, id, contentType, headers: {}, timestamp: new Date(ms) };
    const first = encoded(outgoingHeaders(own));
    t.equal(
      Buffer.from(first).toString('utf8'),
      `NATS/1.0\r\nNats-Msg-Id: ${id}\r\nContent-Type: ${contentType}\r\n\r\n`,
      contentType,
    );
    const second = encoded(outgoingHeaders({ ...own, id: newMessageId() }));
    t.not(second, first, 'a block of its own per message');
    t.not(Buffer.from(second).toString('utf8'), Buffer.from(first).toString('utf8'));
  }
  // Shaped like a v7 id of that time, but not ASCII: the general path (UTF-8).
  const odd = `${id.slice(0, 30)}ü${id.slice(31)}`;
  t.equal(messageIdTime(odd), ms, 'still carries the time');
  const text = Buffer.from(
    encoded(outgoingHeaders({ ...message, id: odd, headers: {}, timestamp: new Date(ms) })),
  ).toString('utf8');
  t.equal(text, `NATS/1.0\r\nNats-Msg-Id: ${odd}\r\nContent-Type: application/json\r\n\r\n`);
});

t.test('blocks of own messages are read as the text parser reads them', async (t) => {
  let n = 0;
  function copyOf(block: Uint8Array) {
    const fields: MsgImplFields = {
      _rdata: Buffer.concat([block, Buffer.from('x')]),
      // A subject of its own each time: every block is read, none reused.
      _msg: { hdr: block.byteLength, subject: Buffer.from(`orders.n${n++}`) },
    };
    const msg = fields as unknown as Msg;
    return receivedCopy(msg, rawHeaderLength(msg));
  }
  const id = newMessageId();
  const ms = messageIdTime(id)!;
  const own = (contentType: string, withId = id): Uint8Array =>
    encoded(outgoingHeaders({ ...message, id: withId, contentType, headers: {}, timestamp: new Date(ms) }));
  const cases: Array<[string, Uint8Array]> = [
    ['octet-stream', own('application/octet-stream')],
    ['json (another content type)', own('application/json')],
    ['json again', own('application/json')],
    ['octet-stream again', own('application/octet-stream')],
    // v7-shaped ids the text parser trims or that are not ASCII: read by the text parser.
    ['an id ending in a space', own('application/json', `${id.slice(0, 35)} `)],
    ['an id with a tab', own('application/json', `${id.slice(0, 30)}\t${id.slice(31)}`)],
    ['an id with a colon', own('application/json', `${id.slice(0, 30)}:${id.slice(31)}`)],
    [
      'a user header',
      encoded(outgoingHeaders({ ...message, id, headers: { a: 'b' }, timestamp: new Date(ms) })),
    ],
    ['a time header', encoded(outgoingHeaders({ ...message, id, headers: {}, timestamp: new Date(ms + 1) }))],
  ];
  for (const [name, block] of cases) {
    const parsed = parseHeaderBlock(block);
    const got = copyOf(block).meta;
    t.same({ ...got, headers: { ...got.headers } }, { ...parsed, headers: { ...parsed.headers } }, name);
  }
});
