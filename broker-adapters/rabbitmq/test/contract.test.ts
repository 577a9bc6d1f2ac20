// The shared behaviour suite against the real RabbitMQ. With the management API reachable the
// inspector reports in-flight numbers; without it they are null (a documented RabbitMQ limit).
import t from 'tap';
import { connect } from '@brokerkit/core';
import { requireService, runContractSuite } from '@brokerkit/contract-tests';
import { MANAGEMENT_URL, RABBIT_HOST, RABBIT_PORT, RABBIT_URL, managementReachable } from './helpers.js';

if (await requireService(t, 'RabbitMQ', RABBIT_HOST, RABBIT_PORT)) {
  const management = await managementReachable();
  if (!management) t.comment('management API not reachable: inFlight expected to be null');
  runContractSuite({
    name: 'rabbitmq',
    url: RABBIT_URL,
    connect: (options) =>
      connect(RABBIT_URL, {
        ...options,
        rabbitmq: { ...(management ? { managementUrl: MANAGEMENT_URL } : {}), ...options?.rabbitmq },
      }),
    features: {
      persistent: true,
      inFlightKnown: management,
      messageIdDedup: false,
      retryInitialMs: 20,
      timeoutMs: 15_000,
    },
  });
}
