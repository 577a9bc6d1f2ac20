import t from 'tap';
import {
  compilePattern,
  firstToken,
  matchPattern,
  validateGroupName,
  validatePattern,
  validateQueueName,
  validateTopic,
} from '../src/names.js';

t.test('compilePattern matches literal, * and trailing >', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['orders.created', 'orders.created', true],
    ['orders.created', 'orders.created.eu', false],
    ['orders.created', 'orders', false],
    ['orders.*', 'orders.created', true],
    ['orders.*', 'orders', false],
    ['orders.*', 'orders.created.eu', false],
    ['orders.*.eu', 'orders.created.eu', true],
    ['orders.*.eu', 'orders.created.us', false],
    ['*.created', 'orders.created', true],
    ['*.created', 'created', false],
    ['orders.>', 'orders.created', true],
    ['orders.>', 'orders.a.b.c', true],
    ['orders.>', 'orders', false],
    ['orders.>', 'ordersx.a', false],
    ['>', 'a', true],
    ['>', 'a.b.c', true],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['*.*.>', 'a.b.c', true],
    ['*.*.>', 'a.b', false],
    ['order.*', 'orders.x', false],
  ];
  for (const [pattern, topic, expected] of cases) {
    t.equal(compilePattern(pattern)(topic), expected, `${pattern} vs ${topic}`);
    t.equal(matchPattern(pattern, topic), expected);
  }
});

t.test('valid names pass', async (t) => {
  t.doesNotThrow(() => validateTopic('orders.created'));
  t.doesNotThrow(() => validateTopic('a-b_c.D9'));
  t.doesNotThrow(() => validateTopic('x'.repeat(255)));
  t.doesNotThrow(() => validateQueueName('emails.send'));
  t.doesNotThrow(() => validateQueueName('q'.repeat(120)));
  t.doesNotThrow(() => validateQueueName('orders.retry'));
  t.doesNotThrow(() => validateQueueName('orders.retryx.5'));
  t.doesNotThrow(() => validateGroupName('billing-v2'));
  t.doesNotThrow(() => validatePattern('>'));
  t.doesNotThrow(() => validatePattern('*.created'));
  t.doesNotThrow(() => validatePattern('orders.*', { group: true }));
  t.doesNotThrow(() => validatePattern('orders.>', { group: true }));
});

t.test('invalid names reject with BK_VALIDATION naming the value', async (t) => {
  const bad: Array<[string, () => void, RegExp]> = [
    ['empty topic', () => validateTopic(''), /empty/],
    ['non-string', () => validateTopic(42), /string/],
    ['empty token', () => validateTopic('a..b'), /empty token/],
    ['leading dot', () => validateTopic('.a'), /empty token/],
    ['bad char', () => validateTopic('a.b c'), /invalid token/],
    ['wildcard in topic', () => validateTopic('a.*'), /wildcard/],
    ['> in topic', () => validateTopic('a.>'), /wildcard/],
    ['too long topic', () => validateTopic('x'.repeat(256)), /255 bytes/],
    ['multi-byte length', () => validateTopic('é'.repeat(128)), /invalid token|255 bytes/],
    ['reserved _ topic', () => validateTopic('_INBOX.x'), /reserved/],
    ['dlq topic', () => validateTopic('orders.dlq'), /dead-letter/],
    ['too long queue', () => validateQueueName('q'.repeat(121)), /120 bytes/],
    ['queue wildcard', () => validateQueueName('jobs.*'), /wildcard/],
    ['queue .dlq', () => validateQueueName('jobs.dlq'), /dead-letter/],
    ['queue .retry.n', () => validateQueueName('jobs.retry.500'), /retry/],
    ['queue _bk', () => validateQueueName('_bk.q'), /reserved/],
    ['group with dot', () => validateGroupName('a.b'), /single token/],
    ['group empty', () => validateGroupName(''), /empty/],
    ['group dlq', () => validateGroupName('dlq'), /dead-letter/],
    ['group _x', () => validateGroupName('_x'), /reserved/],
    ['> not last', () => validatePattern('a.>.b'), /before its last token/],
    ['partial wildcard', () => validatePattern('a.b*'), /invalid token/],
    ['group pattern starts with *', () => validatePattern('*.created', { group: true }), /literal token/],
    ['group pattern >', () => validatePattern('>', { group: true }), /literal token/],
    ['pattern _', () => validatePattern('_INBOX.>'), /reserved/],
  ];
  for (const [name, fn, message] of bad) {
    t.throws(fn, { code: 'BK_VALIDATION', name: 'ValidationError', message }, name);
  }
});

t.test('firstToken', async (t) => {
  t.equal(firstToken('orders.created'), 'orders');
  t.equal(firstToken('orders'), 'orders');
});
