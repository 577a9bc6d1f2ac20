// The shared behaviour suite against the real Redis on 127.0.0.1:6379 (REDIS_URL to change it).
import t from 'tap';
import { connect } from '@brokerkit/core';
import { requireService, runContractSuite } from '@brokerkit/contract-tests';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const { hostname, port } = new globalThis.URL(URL);

if (await requireService(t, 'redis-server', hostname, Number(port || 6379))) {
  runContractSuite({
    name: 'redis',
    url: URL,
    connect: (options) => connect(URL, options),
    features: {
      persistent: true,
      inFlightKnown: true,
      // De-duplication is opt-in (redis.dedupWindowMs: a key per message); test/redis.test.ts covers it.
      messageIdDedup: false,
      timeoutMs: 15_000,
    },
  });
}
