import t from 'tap';
import {
  BrokerkitError,
  ClosedError,
  PermanentError,
  ValidationError,
  isBrokerkitError,
  redactUrl,
  toError,
} from '../src/errors.js';

t.test('errors carry a stable code, their class name and cause', async (t) => {
  const cause = new Error('socket hang up');
  const e = new ValidationError('bad', { cause });
  t.ok(e instanceof BrokerkitError);
  t.equal(e.code, 'BK_VALIDATION');
  t.equal(e.name, 'ValidationError');
  t.equal(e.cause, cause);
  t.equal(new ClosedError().code, 'BK_CLOSED');
  t.equal(new PermanentError('no').code, 'BK_PERMANENT');
});

t.test('isBrokerkitError checks codes by duck type', async (t) => {
  t.equal(isBrokerkitError(new ClosedError()), true);
  t.equal(isBrokerkitError(new ClosedError(), 'BK_CLOSED'), true);
  t.equal(isBrokerkitError(new ClosedError(), 'BK_TIMEOUT'), false);
  t.equal(isBrokerkitError({ code: 'BK_CLOSED' }, 'BK_CLOSED'), true);
  t.equal(isBrokerkitError(new Error('x')), false);
  t.equal(isBrokerkitError(null), false);
});

t.test('redactUrl never shows the password', async (t) => {
  t.equal(redactUrl('amqp://user:s3cret@host:5672/vh'), 'amqp://user:***@host:5672/vh');
  t.notMatch(redactUrl('nats://a:b@h'), /:b@/);
  t.equal(redactUrl('memory://'), 'memory://');
  t.equal(redactUrl('nats://s3cr3tTOKEN@host:4222'), 'nats://***@host:4222', 'a NATS token in the username');
  t.equal(redactUrl('::nope'), '<invalid url>');
});

t.test('toError wraps non-errors', async (t) => {
  t.equal(toError('boom').message, 'boom');
  const e = new Error('x');
  t.equal(toError(e), e);
  t.match(toError(7).message, /7/);
});
