/**
 * `createTransport`: the Redis {@link Transport}, assembled from the connection, the publisher,
 * topology provisioning, durable members, ephemeral subscriptions, request/reply and the inspector.
 */
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
import { startDurable, type DurableContext, type DurableMember, type DurableSpec } from './durable.js';
import { startEphemeral } from './ephemeral.js';
import { RedisInspector } from './inspector.js';
import { resolveRedisOptions } from './options.js';
import { Publisher } from './publisher.js';
import { RedisRequestReply } from './rpc.js';
import { Topology } from './topology.js';

/** Creates a connected Redis transport for one `redis://` or `rediss://` URL. */
export const createTransport: AdapterFactory = async (settings, hooks) => {
  const options = resolveRedisOptions(settings.adapterOptions.redis);
  const conn = await Connection.open(settings, options, hooks);
  const topology = new Topology(conn.cmd);
  /** This connection's members by queue or group: a delayed send wakes them when it is due. */
  const members = new Map<string, Set<DurableMember>>();
  const publisher = new Publisher(conn, topology, options, hooks, (queue, delayMs) => {
    for (const member of members.get(queue) ?? []) member.dueIn(delayMs);
  });
  const inspector = new RedisInspector(conn.cmd, settings.codec, publisher);
  const rpc = new RedisRequestReply(conn, hooks);
  const ctx: DurableContext = { conn, topology, options, hooks, closeTimeoutMs: settings.publishTimeoutMs };

  async function member(spec: DurableSpec, deliver: DeliverFn): Promise<TransportSubscription> {
    const started = await startDurable(ctx, spec, deliver);
    let set = members.get(spec.origin);
    if (set === undefined) members.set(spec.origin, (set = new Set()));
    set.add(started);
    return {
      async close() {
        await started.close();
        set.delete(started);
        if (set.size === 0 && members.get(spec.origin) === set) members.delete(spec.origin);
      },
    };
  }

  const transport: Transport = {
    adapter: 'redis',
    inspector,
    requestReply: rpc,
    publish: (message: OutgoingMessage, o: TransportPublishOptions) => publisher.publish(message, o),
    send: (message: OutgoingMessage, o: TransportPublishOptions) => publisher.send(message, o),

    async subscribe(spec: SubscriptionSpec, deliver: DeliverFn): Promise<TransportSubscription> {
      if (spec.group === undefined) return startEphemeral(conn, spec, deliver, hooks);
      await topology.ensureGroup(spec.group, spec.pattern);
      return member(
        {
          origin: spec.group,
          role: { kind: 'group', pattern: spec.pattern },
          concurrency: spec.concurrency,
          prefetch: spec.prefetch,
        },
        deliver,
      );
    },

    async consume(spec: ConsumerSpec, deliver: DeliverFn): Promise<TransportSubscription> {
      await topology.ensureQueue(spec.queue);
      publisher.provisioned(spec.queue);
      return member(
        {
          origin: spec.queue,
          role: { kind: 'queue' },
          concurrency: spec.concurrency,
          prefetch: spec.prefetch,
        },
        deliver,
      );
    },

    async close(): Promise<void> {
      // Requests still waiting for a reply end with BK_CLOSED before anything else waits.
      await rpc.close();
      await publisher.inFlight.idle();
      await conn.close();
    },
  };
  return transport;
};
