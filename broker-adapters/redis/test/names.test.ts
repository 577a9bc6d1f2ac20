// The key layout, one pure function per key (README: "Keys").
import t from 'tap';
import {
  NAMES_KEY,
  STREAM_PREFIX,
  consumerName,
  decodeRole,
  dedupKey,
  dueKey,
  encodeRole,
  eventStreamKey,
  membersKey,
  parkKey,
  routesKey,
  streamKey,
} from '../src/names.js';

t.test('keys of a topic, a queue, a group and their companions', async (t) => {
  t.same(
    {
      names: NAMES_KEY,
      events: eventStreamKey('orders'),
      routes: routesKey('orders'),
      queue: streamKey('mail.out'),
      dlq: streamKey('mail.out.dlq'),
      due: dueKey('billing'),
      park: parkKey('billing'),
      members: membersKey('billing'),
      seen: dedupKey('orders.created', 'id-1'),
    },
    {
      names: 'bk:names',
      events: 'bk:ev:orders',
      routes: 'bk:routes:orders',
      queue: 'bk:q:mail.out',
      dlq: 'bk:q:mail.out.dlq',
      due: 'bk:due:billing',
      park: 'bk:park:billing',
      members: 'bk:members:billing',
      seen: 'bk:seen:orders.created:id-1',
    },
  );
  t.equal(
    streamKey('billing'),
    STREAM_PREFIX + 'billing',
    'the publish script builds group streams from the prefix',
  );
});

t.test('roles round-trip, and values brokerkit did not write are not roles', async (t) => {
  for (const role of [{ kind: 'queue' }, { kind: 'group', pattern: 'orders.*.eu' }] as const) {
    t.same(decodeRole(encodeRole(role)), role, encodeRole(role));
  }
  for (const value of [null, undefined, '', 'group', 'group ', 'stream', 'QUEUE']) {
    t.equal(decodeRole(value), undefined, `${JSON.stringify(value)} is no role`);
  }
});

t.test('consumer names are unique and readable', async (t) => {
  const a = consumerName();
  const b = consumerName();
  t.not(a, b);
  t.match(a, new RegExp(`-${process.pid}-[0-9a-f]{6}$`));
});
