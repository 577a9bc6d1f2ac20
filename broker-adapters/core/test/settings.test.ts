// Options resolved once: URL lists, defaults, unknown keys.
import t from 'tap';
import { parseBrokerUrls } from '../src/connect.js';
import { DEFAULT_PUBLISH_TIMEOUT_MS, resolveBrokerSettings } from '../src/settings.js';

t.test('a cluster list fills credentials, vhost and query of later URLs from the first', async (t) => {
  const urls = parseBrokerUrls('amqp://u:p@h1:5672/vh?heartbeat=5, amqp://h2:5673 ,amqp://x:y@h3:5674/other');
  t.same(
    urls.map((u) => u.href),
    [
      'amqp://u:p@h1:5672/vh?heartbeat=5',
      'amqp://u:p@h2:5673/vh?heartbeat=5',
      'amqp://x:y@h3:5674/other?heartbeat=5',
    ],
  );
});

t.test('bad lists reject with BK_VALIDATION, never echoing a password', async (t) => {
  t.throws(() => parseBrokerUrls('amqp://h1,nats://h2'), { code: 'BK_VALIDATION', message: /one broker/ });
  t.throws(() => parseBrokerUrls('amqp://h1,,amqp://h2'), { code: 'BK_VALIDATION', message: /empty entry/ });
  const error = (() => {
    try {
      parseBrokerUrls('amqp://u:s3cret@h1,not a url:s3cret');
    } catch (e) {
      return e as Error;
    }
  })();
  t.match(error, { code: 'BK_VALIDATION', message: /entry 2/ });
  t.notMatch(error!.message, /s3cret/);
});

t.test('defaults apply once and the result is frozen', async (t) => {
  const s = resolveBrokerSettings([new URL('memory://')], {}, new Set());
  t.equal(s.publishTimeoutMs, DEFAULT_PUBLISH_TIMEOUT_MS);
  t.same(s.reconnect, { initialMs: 100, maxMs: 5_000, factor: 2 });
  t.equal(s.maxPayloadBytes, undefined);
  t.ok(Object.isFrozen(s) && Object.isFrozen(s.urls) && Object.isFrozen(s.adapterOptions));
});

t.test('unknown keys are named; adapter keys pass through for the adapter', async (t) => {
  t.throws(() => resolveBrokerSettings([], { concurency: 4 } as never, new Set(['nats'])), {
    code: 'BK_VALIDATION',
    message: /unknown option "concurency"/,
  });
  const s = resolveBrokerSettings([], { nats: { ackWaitMs: 5 } } as never, new Set(['nats']));
  t.same(s.adapterOptions, { nats: { ackWaitMs: 5 } });
  t.throws(() => resolveBrokerSettings([], { nats: 5 } as never, new Set(['nats'])), {
    code: 'BK_VALIDATION',
  });
});
