// The entry layout: what brokerkit writes, what it reads back, and what it makes of entries
// other clients wrote.
import t from 'tap';
import type { OutgoingMessage } from '@brokerkit/core';
import { messageIdTime, newMessageId } from '@brokerkit/core/adapter';
import { copyFields, messageFields, parseEntry, toRawDelivery } from '../src/wire.js';

const message: OutgoingMessage = {
  id: 'm-1',
  destination: 'orders.created',
  data: undefined,
  body: new TextEncoder().encode('{"a":1}'),
  contentType: 'application/json',
  headers: { 'x-trace': 'abc', ünï: 'cödé' },
  timestamp: new Date(1_700_000_000_123),
};

/** Fields as Redis returns them: every name and value a Buffer. */
function asReply(fields: (string | Buffer)[]): Buffer[] {
  return fields.map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(f)));
}

t.test('an event: named fields, headers as h:<name>, the body last', async (t) => {
  const fields = messageFields(message, 'orders.created');
  t.same(
    fields.map((f) => f.toString()),
    [
      'topic',
      'orders.created',
      'id',
      'm-1',
      'type',
      'application/json',
      'time',
      '1700000000123',
      'h:x-trace',
      'abc',
      'h:ünï',
      'cödé',
      'body',
      '{"a":1}',
    ],
  );
  t.same(messageFields(message, undefined).slice(0, 2), ['id', 'm-1'], 'a work-queue message has no topic');
});

t.test('what is written is read back, bytes untouched', async (t) => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const entry = parseEntry(
    '1700000000500-3',
    asReply(messageFields({ ...message, body: bytes }, 'orders.created')),
  );
  t.same(
    { ...entry, body: [...entry.body] },
    {
      entryId: '1700000000500-3',
      topic: 'orders.created',
      messageId: 'm-1',
      contentType: 'application/json',
      timestamp: new Date(1_700_000_000_123),
      attempt: 1,
      headers: { 'x-trace': 'abc', ünï: 'cödé' },
      body: [...bytes],
    },
  );
});

t.test('an entry another client wrote: defaults from the entry id', async (t) => {
  const entry = parseEntry('1700000000999-0', asReply(['body', 'hi', 'other', 'ignored']));
  t.same(entry.timestamp, new Date(1_700_000_000_999), 'time from the entry id');
  const d = toRawDelivery(entry, 'emails', 1);
  t.same(
    { topic: d.topic, id: d.id, contentType: d.contentType, attempt: d.attempt, redelivered: d.redelivered },
    { topic: 'emails', id: '1700000000999-0', contentType: undefined, attempt: 1, redelivered: false },
    'topic from the stream, id = entry id, no content type (core decodes bytes)',
  );
  t.equal(Buffer.from(d.body).toString(), 'hi');
  t.equal(parseEntry('1-0', []).body.length, 0, 'no body: empty');
});

t.test('attempts: the copy starts at its attempt field, each further delivery adds one', async (t) => {
  const entry = parseEntry('5-0', asReply(['attempt', '3', 'body', 'x']));
  t.same(
    [1, 2, 4].map((count) => toRawDelivery(entry, 'q', count).attempt),
    [3, 4, 6],
  );
  t.equal(
    toRawDelivery(parseEntry('5-0', asReply(['body', 'x'])), 'q', 2).redelivered,
    true,
    'claimed: redelivered',
  );
  t.equal(parseEntry('5-0', asReply(['attempt', 'nonsense'])).attempt, 1, 'a bad attempt field counts as 1');
});

t.test('copies (dead letters, replays) keep id, type, time, topic and body, not the attempt', async (t) => {
  const entry = parseEntry(
    '9-0',
    asReply([
      'topic',
      'a.b',
      'id',
      'x',
      'type',
      'text/plain',
      'time',
      '77',
      'attempt',
      '4',
      'h:k',
      'v',
      'body',
      'B',
    ]),
  );
  t.same(
    copyFields(entry, { other: 'h' }).map((f) => f.toString()),
    ['topic', 'a.b', 'id', 'x', 'type', 'text/plain', 'time', '77', 'h:other', 'h', 'body', 'B'],
  );
});

t.test("brokerkit's own v7 id carries the time: no time field, read back from the id", async (t) => {
  const id = newMessageId();
  const ms = messageIdTime(id)!;
  const own: OutgoingMessage = { ...message, id, headers: {}, timestamp: new Date(ms) };
  const fields = messageFields(own, undefined);
  t.notOk(
    fields.some((f) => f.toString() === 'time'),
    'no time field',
  );
  // Read back on an entry id of another millisecond (the server's clock): the id's time wins.
  const entry = parseEntry(`${ms + 5}-0`, asReply(fields));
  t.equal(entry.timestamp?.getTime(), ms);
  t.equal(entry.messageId, id);
  // A user id with the same timestamp keeps the explicit field.
  t.ok(messageFields({ ...own, id: 'user-1' }, undefined).some((f) => f.toString() === 'time'));
  // A v7 id whose time differs from the timestamp (a republished copy) keeps it too.
  const other = messageFields({ ...own, timestamp: new Date(ms - 1000) }, undefined).map(String);
  t.equal(other[other.indexOf('time') + 1], String(ms - 1000));
});
