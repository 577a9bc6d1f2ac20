// main() in-process on a named memory:// broker (shared with the test's own connection): exit
// codes of a clean drain, a drain that outlasts --drain-timeout, bad flags and start-up failures.
import t from 'tap';
import { connect } from '@brokerkit/core';
import { uniqueName, waitFor } from '@brokerkit/contract-tests';
import { main, EXIT } from '../src/cli-main.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  let stop: ((signal: string) => void) | undefined;
  return {
    out,
    err,
    signal: (name: string) => stop!(name),
    io: {
      env: {},
      print: (line: string) => void out.push(line),
      printError: (line: string) => void err.push(line),
      onSignal: (fn: (signal: string) => void) => void (stop = fn),
    },
  };
}

t.test('SIGTERM with nothing in flight: exit 0', async (t) => {
  const h = io();
  const running = main(['--url', `memory://${uniqueName('m')}`, '--queue', 'q', '--port', '0'], h.io);
  await waitFor(() => h.out.some((l) => l.startsWith('ready: ')));
  h.signal('SIGTERM');
  t.equal(await running, EXIT.ok);
  t.match(h.out.at(-1), /^stopped cleanly: handled 0, failed attempts 0$/);
  t.same(h.err, []);
});

t.test('a drain longer than --drain-timeout: exit 1 with a message', async (t) => {
  const url = `memory://${uniqueName('m')}`;
  const h = io();
  const running = main(
    ['--url', url, '--queue', 'slow', '--work-ms', '3000', '--drain-timeout', '100', '--port', '0'],
    h.io,
  );
  await waitFor(() => h.out.some((l) => l.startsWith('ready: ')));
  const pub = await connect(url);
  t.teardown(() => pub.close());
  await pub.send('slow', 'x');
  await waitFor(async () => (await pub.inspector!.queueInfo('slow')).inFlight === 1);
  h.signal('SIGTERM');
  t.equal(await running, EXIT.failed);
  t.same(h.err, ['brokerkit-subscribe: drain did not finish within 100 ms; exiting']);
});

t.test('bad flags: exit 2; --help: exit 0', async (t) => {
  const bad = io();
  t.equal(await main(['--queue', 'q', '--failure-rate', 'often'], bad.io), EXIT.usage);
  t.match(bad.err, [/^brokerkit-subscribe: --failure-rate must be a number from 0 to 1, got "often"$/]);
  const help = io();
  t.equal(await main(['--help'], help.io), EXIT.ok);
  t.match(help.out[0], /^Usage: brokerkit-subscribe/);
});

t.test('start-up failures: unknown scheme exit 2, port in use exit 1', async (t) => {
  const scheme = io();
  t.equal(await main(['--url', 'kafka://h', '--queue', 'q'], scheme.io), EXIT.usage);
  t.match(scheme.err, [
    /^brokerkit-subscribe: cannot start: no adapter for "kafka:\/\/" URLs .*\[BK_CONFIG\]$/,
  ]);

  const first = io();
  const url = `memory://${uniqueName('m')}`;
  const running = main(['--url', url, '--queue', 'a', '--port', '0'], first.io);
  const line = await waitFor(() => first.out.find((l) => l.startsWith('listening on ')));
  const port = /:(\d+) /.exec(line)![1]!;
  const second = io();
  t.equal(await main(['--url', url, '--queue', 'b', '--port', port], second.io), EXIT.failed);
  t.match(second.err, [/^brokerkit-subscribe: cannot start: .*EADDRINUSE/]);
  first.signal('SIGINT');
  t.equal(await running, EXIT.ok);
});
