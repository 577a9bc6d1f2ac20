// The bins as npm links them (bin/*.js launchers that load dist/), and what they say on memory://:
// two processes on their default memory:// can never see each other.
import t from 'tap';
import { freePort } from '@brokerkit/contract-tests';
import { repoPath, runNode, spawnNode } from '../../subscriber/test/support.js';

const PUBLISH = repoPath('apps/publisher/bin/brokerkit-publish.js');
const SUBSCRIBE = repoPath('apps/subscriber/bin/brokerkit-subscribe.js');
const NOTE = /memory:\/\/ is in-process: use --url amqp:\/\/… or --url nats:\/\/… to connect two processes/;

t.test('the committed launchers run the built CLIs', async (t) => {
  const publish = await runNode(PUBLISH, ['--help']);
  t.equal(publish.code, 0);
  t.match(publish.stdout, /^Usage: brokerkit-publish/);
  const subscribe = await runNode(SUBSCRIBE, ['--help']);
  t.equal(subscribe.code, 0);
  t.match(subscribe.stdout, /^Usage: brokerkit-subscribe/);
});

t.test('brokerkit-publish on memory:// says it is in-process (unless --quiet)', async (t) => {
  const args = ['--topic', 'notes.x', '--count', '1'];
  const loud = await runNode(PUBLISH, args, { env: { BROKER_URL: '' } });
  t.equal(loud.code, 0, loud.stderr);
  t.match(loud.stderr, NOTE);
  const explicit = await runNode(PUBLISH, [...args, '--url', 'memory://'], { env: { BROKER_URL: '' } });
  t.match(explicit.stderr, NOTE);
  const quiet = await runNode(PUBLISH, [...args, '--quiet'], { env: { BROKER_URL: '' } });
  t.equal(quiet.stderr, '', '--quiet: nothing on stderr');
});

t.test('brokerkit-subscribe on memory:// says it is in-process', async (t) => {
  const port = await freePort();
  const sub = spawnNode(SUBSCRIBE, ['--queue', 'notes', '--port', String(port), '--report-every', '0'], {
    env: { BROKER_URL: '' },
  });
  t.teardown(() => sub.kill());
  await sub.waitForOutput(NOTE);
  t.pass('the note is printed at start');
  sub.child.kill('SIGTERM');
  t.equal((await sub.exited).code, 0);
});
