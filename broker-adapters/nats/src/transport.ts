/**
 * `createTransport`: the NATS {@link Transport}, assembled from the connection, the publisher,
 * topology provisioning, durable and ephemeral subscriptions and the inspector.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type {
  AdapterFactory,
  ConsumerSpec,
  DeliverFn,
  OutgoingMessage,
  SubscriptionSpec,
  Transport,
  TransportPublishOptions,
  TransportSubscription,
} from '@brokerkit/core';
import { Connection } from './connection.js';
import { DeadLetterWriter } from './dead-letter-writer.js';
import { startDurable } from './durable.js';
import { startEphemeral } from './ephemeral.js';
import { createInspector } from './inspector.js';
import { LingeringPulls } from './lingering.js';
import { resolveNatsOptions } from './options.js';
import { PubAcks } from './pub-acks.js';
import { Publisher } from './publisher.js';
import { NatsRequestReply } from './rpc.js';
import { Topology } from './topology.js';

/** Creates a connected NATS transport for one `nats://host:port` URL or a cluster's list. */
export const createTransport: AdapterFactory = async (settings, hooks) => {
  const nats = resolveNatsOptions(settings.adapterOptions.nats, settings.urls.length);
  const conn = await Connection.open(settings, nats, hooks);
  try {
    const jsm = await jetstreamManager(conn.nc);
    // Made after the last await: nothing below can fail and leave its subscription behind.
    const acks = new PubAcks(conn.nc);
    conn.onDisconnect.add((server) => acks.connectionLost(server));
    const topology = new Topology(jsm, nats);
    const publisher = new Publisher(conn, acks, topology, nats);
    const deadLetters = new DeadLetterWriter(publisher, topology, settings.publishTimeoutMs);
    const lingering = new LingeringPulls();
    const inspector = createInspector(
      jsm,
      topology,
      publisher,
      settings.codec,
      conn.nc,
      settings.publishTimeoutMs,
    );
    const requestReply = new NatsRequestReply(conn, hooks, nats.maxPendingEphemeral);

    const transport: Transport = {
      adapter: 'nats',
      inspector,
      requestReply,
      publish: (message: OutgoingMessage, o: TransportPublishOptions) => publisher.publish(message, o),
      send: (message: OutgoingMessage, o: TransportPublishOptions) => publisher.send(message, o),

      async subscribe(spec: SubscriptionSpec, deliver: DeliverFn): Promise<TransportSubscription> {
        if (spec.group === undefined) {
          return startEphemeral(conn.nc, spec, deliver, hooks, nats.maxPendingEphemeral);
        }
        const ref = await topology.ensureGroupConsumer(spec.group, spec.pattern, spec.prefetch);
        await topology.ensureDlqStream(spec.group);
        return startDurable(
          conn,
          {
            ref,
            group: spec.group,
            queue: undefined,
            origin: spec.group,
            concurrency: spec.concurrency,
            prefetch: spec.prefetch,
            heartbeatMs: nats.heartbeatMs,
            ackWaitMs: nats.ackWaitMs,
            lingering,
          },
          deliver,
          deadLetters,
          hooks,
        );
      },

      async consume(spec: ConsumerSpec, deliver: DeliverFn): Promise<TransportSubscription> {
        const ref = await topology.ensureQueueConsumer(spec.queue, spec.prefetch);
        await topology.ensureDlqStream(spec.queue);
        return startDurable(
          conn,
          {
            ref,
            group: undefined,
            queue: spec.queue,
            origin: spec.queue,
            concurrency: spec.concurrency,
            prefetch: spec.prefetch,
            heartbeatMs: nats.heartbeatMs,
            ackWaitMs: nats.ackWaitMs,
            lingering,
          },
          deliver,
          deadLetters,
          hooks,
        );
      },

      async close(): Promise<void> {
        await publisher.inFlight.idle();
        acks.close();
        await lingering.settle();
        requestReply.close();
        await conn.close();
      },
    };
    return transport;
  } catch (error) {
    await conn.close().catch(() => undefined);
    throw error;
  }
};
