// A SIGTERM that arrives while the demo is still starting must not kill it undrained (Node's
// default for a signal without a handler): the demo finishes starting, then drains and exits 0.
// The signal is sent while a proxy in front of the broker (a private redis-server, so the demo's
// durable queues go with it) holds the demo's connection: it lands before connect has returned,
// after the module's handlers exist, whatever the machine's speed.
import net from 'node:net';
import t from 'tap';
import { freePort } from '@brokerkit/contract-tests';
import { DEMO_MAIN, spawnNode } from '../../subscriber/test/support.js';
import { PrivateRedis, haveRedisServer } from '../../../broker-adapters/redis/test/support/private-redis.js';

/** A proxy to `port` that holds each connection until `release()`; `held` resolves on the first. */
async function gatedProxy(
  port: number,
): Promise<{ port: number; held: Promise<void>; release(): void; close(): void }> {
  let released = false;
  const waiting: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  let onHeld: () => void = () => {};
  const held = new Promise<void>((resolve) => (onHeld = resolve));
  const server = net.createServer((client) => {
    sockets.add(client);
    client.pause();
    const open = (): void => {
      const upstream = net.connect({ host: '127.0.0.1', port });
      sockets.add(upstream);
      for (const s of [client, upstream]) s.on('error', () => (client.destroy(), upstream.destroy()));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    if (released) open();
    else {
      waiting.push(open);
      onHeld();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    held,
    release() {
      released = true;
      for (const open of waiting.splice(0)) open();
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

t.test('SIGTERM during startup: the demo starts, drains and exits 0', async (t) => {
  if (!haveRedisServer()) {
    if (process.env.CI === 'true') t.fail('redis-server binary missing');
    else t.plan(0, 'redis-server binary missing');
    return;
  }
  const redis = await PrivateRedis.start(t);
  const proxy = await gatedProxy(redis.port);
  t.teardown(() => proxy.close());
  const port = await freePort();
  const demo = spawnNode(DEMO_MAIN, [], {
    env: {
      BROKER_URL: `redis://127.0.0.1:${proxy.port}`,
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: String(port),
      DEMO_RATE: '50',
    },
  });
  t.teardown(() => demo.kill());
  await proxy.held; // the demo is inside connect(), past the point where its handlers are installed
  demo.child.kill('SIGTERM');
  proxy.release();
  const exit = await demo.exited;
  t.same(exit, { code: 0, signal: null }, 'exit 0, not killed by the signal');
  t.match(demo.stdout, /SIGTERM: draining\.\.\.\nstopped cleanly\n/);
  t.equal(demo.stderr, '', 'nothing on stderr');
});
