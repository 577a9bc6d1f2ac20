// The shared behaviour suite against the real nats-server (JetStream) on 127.0.0.1:4222.
import t from 'tap';
import { connect } from '@brokerkit/core';
import { requireService, runContractSuite } from '@brokerkit/contract-tests';

const URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

if (await requireService(t, 'nats-server', '127.0.0.1', 4222)) {
  runContractSuite({
    name: 'nats',
    url: URL,
    connect: (options) => connect(URL, options),
    features: {
      persistent: true,
      inFlightKnown: true,
      messageIdDedup: true,
      // nak(delay) is timed by the server; 50 ms keeps retries well apart from ack round trips.
      retryInitialMs: 50,
      timeoutMs: 15_000,
    },
  });
}
