import t from 'tap';
import { ConfigError, parseSubscriberConfig } from '../src/config.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseSubscriberConfig(argv, env);

t.test('flags', async (t) => {
  const c = parse([
    '--url',
    'amqp://h',
    '--subscribe',
    'audit.>',
    '--group',
    'billing:orders.>',
    '--group',
    'shipping:orders.created',
    '--queue',
    'emails',
    '--concurrency',
    '4',
    '--attempts',
    '3',
    '--backoff-ms',
    '50',
    '--work-ms',
    '5-20',
    '--failure-rate',
    '0.25',
    '--host',
    '0.0.0.0',
    '--port',
    '0',
    '--report-every',
    '0.5',
    '--record',
    '/tmp/r.tsv',
    '--drain-timeout',
    '1000',
  ]);
  t.same(c, {
    help: false,
    url: 'amqp://h',
    subscriptions: [
      { kind: 'subscribe', pattern: 'audit.>' },
      { kind: 'group', group: 'billing', pattern: 'orders.>' },
      { kind: 'group', group: 'shipping', pattern: 'orders.created' },
      { kind: 'queue', queue: 'emails' },
    ],
    concurrency: 4,
    attempts: 3,
    backoffMs: 50,
    work: { minMs: 5, maxMs: 20 },
    failureRate: 0.25,
    host: '0.0.0.0',
    port: 0,
    reportEverySec: 0.5,
    recordFile: '/tmp/r.tsv',
    drainTimeoutMs: 1000,
  });
});

t.test('environment, and defaults', async (t) => {
  const c = parse([], {
    BROKER_URL: 'nats://h:4222',
    SUBSCRIBE_PATTERNS: 'a.*, b.>',
    SUBSCRIBE_GROUPS: 'billing:orders.>',
    SUBSCRIBE_QUEUES: 'emails,sms',
    SUBSCRIBER_CONCURRENCY: '8',
    SUBSCRIBER_ATTEMPTS: '2',
    SUBSCRIBER_WORK_MS: '10',
    SUBSCRIBER_FAILURE_RATE: '0.1',
    SUBSCRIBER_PORT: '9100',
  });
  t.match(c, {
    url: 'nats://h:4222',
    subscriptions: [
      { kind: 'subscribe', pattern: 'a.*' },
      { kind: 'subscribe', pattern: 'b.>' },
      { kind: 'group', group: 'billing', pattern: 'orders.>' },
      { kind: 'queue', queue: 'emails' },
      { kind: 'queue', queue: 'sms' },
    ],
    concurrency: 8,
    attempts: 2,
    backoffMs: undefined,
    work: { minMs: 10, maxMs: 10 },
    failureRate: 0.1,
    host: '127.0.0.1',
    port: 9100,
    reportEverySec: 5,
    recordFile: undefined,
    drainTimeoutMs: 30_000,
  });
  // Subscription flags replace the env lists; other flags win over their variable.
  t.match(
    parse(['--queue', 'q', '--concurrency', '2'], { SUBSCRIBE_GROUPS: 'g:a.b', SUBSCRIBER_CONCURRENCY: '9' }),
    {
      subscriptions: [{ kind: 'queue', queue: 'q' }],
      concurrency: 2,
      url: 'memory://',
      port: 3001,
    },
  );
  t.same(parse(['--help']), { help: true });
});

t.test('mistakes: ConfigError naming the flag or variable and the value', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [[], {}, /nothing to run/],
    [['--queue', 'q', '--nope'], {}, /^Unknown option '--nope'\nRun with --help/],
    [['--queue', 'q', 'extra'], {}, /unexpected argument "extra"/],
    [['--group', 'billing'], {}, /--group "billing": expected <group>:<pattern>/],
    [['--group', 'billing:'], {}, /--group "billing:": expected <group>:<pattern>/],
    [['--group', 'bad.name:orders.>'], {}, /--group "bad.name:orders.>": .*single token/],
    [['--group', 'g:*.created'], {}, /--group "g:\*.created": .*literal token/],
    [['--group', 'g:a.b', '--queue', 'g'], {}, /--queue "g": "g" is named twice/],
    [['--subscribe', 'a..b'], {}, /--subscribe "a..b": /],
    [['--queue', 'a.*'], {}, /--queue "a.\*": /],
    [[], { SUBSCRIBE_GROUPS: 'x' }, /^SUBSCRIBE_GROUPS "x": expected <group>:<pattern>/],
    [['--queue', 'q', '--concurrency', '0'], {}, /--concurrency must be an integer from 1 to 10000, got "0"/],
    [
      ['--queue', 'q'],
      { SUBSCRIBER_CONCURRENCY: 'lots' },
      /^SUBSCRIBER_CONCURRENCY must be an integer .* got "lots"/,
    ],
    [['--queue', 'q', '--attempts', '0'], {}, /--attempts must be an integer from 1/],
    [['--queue', 'q', '--failure-rate', '2'], {}, /--failure-rate must be a number from 0 to 1, got "2"/],
    [
      ['--queue', 'q', '--work-ms', 'slow'],
      {},
      /--work-ms must be milliseconds or a range min-max, got "slow"/,
    ],
    [['--queue', 'q', '--work-ms', '20-5'], {}, /--work-ms range "20-5" has max below min/],
    [['--queue', 'q', '--port', '70000'], {}, /--port must be an integer from 0 to 65535/],
  ];
  for (const [argv, env, message] of cases) {
    t.throws(() => parse(argv, env), message, `${argv.join(' ')} ${JSON.stringify(env)}`);
    t.throws(() => parse(argv, env), ConfigError);
  }
});
