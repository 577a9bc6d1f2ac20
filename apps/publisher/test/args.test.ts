import t from 'tap';
import { parsePublisherArgs } from '../src/args.js';
import { UsageError } from '../src/errors.js';

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parsePublisherArgs(argv, env);

t.test('defaults', async (t) => {
  const c = parse(['--topic', 'orders.created']);
  t.same(c, {
    help: false,
    url: 'memory://',
    mode: 'publish',
    destination: 'orders.created',
    input: { kind: 'generate', count: 1000, size: 100 },
    rate: 0,
    concurrency: 100,
    headers: {},
    timeoutMs: undefined,
    json: false,
    quiet: false,
    metricsPort: undefined,
    metricsHost: '127.0.0.1',
  });
  t.match(parse(['--topic', 'a'], { PUBLISHER_METRICS_PORT: '9466', PUBLISHER_METRICS_HOST: '0.0.0.0' }), {
    metricsPort: 9466,
    metricsHost: '0.0.0.0',
  });
  t.equal((parse(['--topic', 'a'], { BROKER_URL: 'nats://h:4222' }) as { url: string }).url, 'nats://h:4222');
  t.equal(
    (parse(['--topic', 'a', '--url', 'amqp://x'], { BROKER_URL: 'nats://h' }) as { url: string }).url,
    'amqp://x',
  );
});

t.test('every flag', async (t) => {
  const c = parse([
    '--url=amqp://u:p@h:5672',
    '--topic=jobs',
    '--send',
    '--count=5',
    '--size=10',
    '--rate=2.5',
    '--concurrency=7',
    '--headers',
    'a=1',
    '--headers',
    'b=x=y',
    '--headers',
    'c=',
    '--timeout=500',
    '--json',
    '--quiet',
  ]);
  t.match(c, {
    url: 'amqp://u:p@h:5672',
    mode: 'send',
    destination: 'jobs',
    input: { kind: 'generate', count: 5, size: 10 },
    rate: 2.5,
    concurrency: 7,
    headers: { a: '1', b: 'x=y', c: '' },
    timeoutMs: 500,
    json: true,
    quiet: true,
  });
  t.same(parse(['--file', 'e.ndjson']), {
    ...parse(['--file', 'e.ndjson']),
    input: { kind: 'file', path: 'e.ndjson' },
    destination: undefined,
  });
  t.same(parse(['-h']), { help: true });
});

t.test('bad flags throw UsageError naming the flag and value', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /--topic is required/],
    [['--topic', 'a', '--bogus'], /Unknown option '--bogus'/],
    [['--topic', 'a', 'extra'], /unexpected argument "extra"/],
    [['--topic', 'a..b'], /--topic: .*a\.\.b/],
    [['--topic', 'orders.*'], /--topic: /],
    [['--topic', 'a', '--count', '0'], /--count must be an integer from 1 .* got "0"/],
    [['--topic', 'a', '--count', '1.5'], /--count must be an integer/],
    [['--topic', 'a', '--count', 'ten'], /--count must be an integer .* got "ten"/],
    [['--topic', 'a', '--size=-1'], /--size must be an integer from 0/],
    [['--topic', 'a', '--rate=-3'], /--rate must be a number >= 0 .* got "-3"/],
    [['--topic', 'a', '--rate', 'fast'], /--rate must be a number/],
    [['--topic', 'a', '--concurrency', '0'], /--concurrency must be an integer from 1/],
    [['--topic', 'a', '--headers', 'novalue'], /--headers expects key=value, got "novalue"/],
    [['--topic', 'a', '--headers', '=v'], /--headers expects key=value/],
    [['--topic', 'a', '--headers', 'x-brokerkit-attempt=3'], /reserved prefix "x-brokerkit-"/],
    [['--topic', 'a', '--file', 'f', '--count', '3'], /--count cannot be combined with --file/],
    [['--topic', 'a', '--file', 'f', '--size', '3'], /--size cannot be combined with --file/],
    [['--topic', 'a', '--file', ''], /--file needs a path/],
    [['--topic', 'a', '--timeout', '0'], /--timeout must be an integer from 1/],
    [['--topic'], /argument missing/],
  ];
  for (const [argv, message] of cases) {
    t.throws(() => parse(argv), message, argv.join(' '));
    try {
      parse(argv);
    } catch (error) {
      t.ok(error instanceof UsageError, `${argv.join(' ')}: UsageError`);
    }
  }
});
