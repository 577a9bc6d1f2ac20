import t from 'tap';
import { compilePattern, validatePattern, validateTopic } from '../src/names.js';
import { ValidationError } from '../src/errors.js';

t.test('pattern matching', async (t) => {
  const m = compilePattern('orders.*.created');
  t.equal(m('orders.eu.created'), true);
  t.equal(m('orders.created'), false);
  t.equal(compilePattern('orders.>')('orders.a.b'), true);
  t.equal(compilePattern('orders.>')('orders'), false);
});

t.test('validation', async (t) => {
  t.throws(() => validateTopic('a..b'), ValidationError);
  t.throws(() => validatePattern('*.created', { group: true }), { code: 'BK_VALIDATION' });
});
