// The real `brokerkit-publish` bin, spawned against memory://: counts, summary, exit codes, bad
// flags and bad input files. (memory:// lives inside the publisher's own process, so counting on
// a subscriber's side is done against the real brokers in pubsub.test.ts.)
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLISHER_BIN, runNode } from '../../subscriber/test/support.js';

const publish = (args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) =>
  runNode(PUBLISHER_BIN, args, { env: { BROKER_URL: '', ...options.env }, stdin: options.stdin });

t.test('publishes --count messages and prints a JSON summary; exit 0', async (t) => {
  const r = await publish([
    '--url',
    'memory://',
    '--topic',
    'orders.created',
    '--count',
    '250',
    '--size',
    '64',
    '--json',
    '--quiet',
  ]);
  t.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  t.match(summary, {
    total: 250,
    sent: 250,
    confirmed: 250,
    failed: 0,
    unsent: 0,
    interrupted: false,
    failures: {},
  });
  t.type(summary.latencyMs.p50, 'number');
  t.type(summary.latencyMs.p99, 'number');
  t.equal(r.stderr, '', '--quiet: no progress');
});

t.test('text summary and plain progress lines when stderr is not a TTY', async (t) => {
  const r = await publish([
    '--topic',
    'jobs',
    '--send',
    '--count',
    '20',
    '--rate',
    '400',
    '--headers',
    'tenant=acme',
  ]);
  t.equal(r.code, 0, r.stderr);
  t.match(
    r.stdout,
    /^sent to queue: 20 of 20 attempted, 20 confirmed, 0 failed\nthroughput: [\d.]+ msg\/s over [\d.]+ s\nconfirm latency: p50 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms\n$/,
  );
  t.match(r.stderr, /progress: 20\/20 settled \(20 confirmed, 0 failed, 0 in flight\)/);
  t.notOk(r.stderr.includes('\u001b['), 'no terminal escape codes in a pipe');
});

t.test('--file: every line published', async (t) => {
  const dir = t.testdir({
    'events.ndjson':
      '{"topic":"orders.created","data":{"n":1}}\n\n{"topic":"orders.paid","data":{"n":2},"headers":{"k":"v"}}\n',
  });
  const r = await publish(['--file', join(dir, 'events.ndjson'), '--json', '--quiet']);
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { total: 2, confirmed: 2 });
});

t.test('--file with a malformed line: exit 2, the line named, nothing sent', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'events.ndjson');
  writeFileSync(file, ['{"n":1}', '{"n":2}', '{"n": 3', '{"n":4}', 'oops'].join('\n'));
  const r = await publish(['--topic', 'orders.created', '--file', file, '--json']);
  t.equal(r.code, 2);
  t.equal(r.stdout, '', 'no summary: nothing was sent');
  t.match(
    r.stderr,
    new RegExp(
      `^brokerkit-publish: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: malformed JSON \\(.+\\)\n`,
    ),
  );
  t.match(r.stderr, /events\.ndjson:5: malformed JSON/);
  t.match(r.stderr, /2 bad line\(s\) in .*events\.ndjson; nothing was sent\n$/);
});

t.test('--file - reads stdin; a missing file is exit 2', async (t) => {
  const ok = await publish(['--file', '-', '--topic', 'a.b', '--json', '--quiet'], { stdin: '1\n2\n3\n' });
  t.equal(ok.code, 0, ok.stderr);
  t.match(JSON.parse(ok.stdout), { total: 3, confirmed: 3 });
  const bad = await publish(['--file', '-', '--topic', 'a.b'], { stdin: '1\n{\n' });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^brokerkit-publish: stdin:2: malformed JSON/);
  const missing = await publish(['--file', '/nonexistent/events.ndjson', '--topic', 'a']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^brokerkit-publish: cannot read \/nonexistent\/events\.ndjson: ENOENT/);
});

t.test('bad flags: exit 2 with a message naming the flag', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--topic', 'a', '--bogus'], /^brokerkit-publish: Unknown option '--bogus'\nRun with --help/],
    [['--count', '5'], /^brokerkit-publish: --topic is required/],
    [
      ['--topic', 'a', '--count', 'many'],
      /^brokerkit-publish: --count must be an integer from 1 to \d+, got "many"/,
    ],
    [['--topic', 'orders.>'], /^brokerkit-publish: --topic: /],
    [['--topic', 'a', '--headers', 'nope'], /^brokerkit-publish: --headers expects key=value, got "nope"/],
    [
      ['--topic', 'a', '--url', 'not a url'],
      /^brokerkit-publish: cannot connect to <invalid url>: broker URL is not a valid URL .*\[BK_VALIDATION\]/,
    ],
    [
      ['--topic', 'a', '--url', 'kafka://h:1'],
      /^brokerkit-publish: cannot connect to kafka:\/\/h:1: no adapter for "kafka:\/\/" URLs .*\[BK_CONFIG\]/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await publish(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message, args.join(' '));
    t.equal(r.stdout, '', `${args.join(' ')}: no summary`);
  }
});

t.test('--help: usage on stdout, exit 0', async (t) => {
  const r = await publish(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^Usage: brokerkit-publish --topic <topic> \[options\]/);
  t.match(r.stdout, /--file <path\|->/);
});

t.test('SIGTERM mid-run: in-flight settle, summary says what was not sent, exit 130', async (t) => {
  const { spawnNode } = await import('../../subscriber/test/support.js');
  const p = spawnNode(PUBLISHER_BIN, ['--topic', 'a', '--count', '100000', '--rate', '50', '--json'], {
    env: { BROKER_URL: '' },
  });
  t.teardown(() => p.kill());
  // Wait until it is demonstrably publishing (a progress line), then interrupt.
  const { waitFor } = await import('@brokerkit/contract-tests');
  await waitFor(() => /progress: [1-9]/.test(p.stderr), { timeoutMs: 20_000 });
  p.child.kill('SIGTERM');
  const { code } = await p.exited;
  t.equal(code, 130);
  const summary = JSON.parse(p.stdout);
  t.ok(summary.interrupted);
  t.equal(summary.confirmed + summary.failed, summary.sent);
  t.equal(summary.unsent, 100000 - summary.sent);
});
