// The shared behaviour suite on the in-process reference adapter. Every connect to the same
// memory://<host> shares one broker, so the cross-connection tests run too (persistent).
import { connect } from '@brokerkit/core';
import { runContractSuite } from '@brokerkit/contract-tests';

runContractSuite({
  name: 'memory',
  url: 'memory://contract',
  connect: (options) => connect('memory://contract', options),
  features: { persistent: true, inFlightKnown: true, messageIdDedup: false },
});
