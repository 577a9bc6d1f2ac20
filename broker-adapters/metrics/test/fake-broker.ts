/**
 * A broker over a scripted transport, for what a real adapter cannot be made to do on demand:
 * reject a publish, hang or fail an inspection, report a reconnect.
 */
import { createBroker } from '@brokerkit/core/adapter';
import type { Broker, QueueInfo, QueueInspector, TransportHooks } from '@brokerkit/core';

/** What the test controls. */
export interface FakeControls {
  broker: Broker;
  hooks: TransportHooks;
  /** The next publishes reject with this error while set. */
  publishError: Error | undefined;
  /** listQueues answers this (a function may throw or never resolve). */
  listQueues: () => Promise<QueueInfo[]>;
  /** How many times listQueues was called. */
  listCalls: number;
}

/** A broker named `fake` whose transport does nothing but what {@link FakeControls} say. */
export async function fakeBroker(): Promise<FakeControls> {
  const controls = {
    publishError: undefined,
    listQueues: async () => [],
    listCalls: 0,
  } as unknown as FakeControls;
  const unsupported = async (): Promise<never> => {
    throw new Error('not in the fake');
  };
  const inspector: QueueInspector = {
    listQueues: () => {
      controls.listCalls++;
      return controls.listQueues();
    },
    queueInfo: unsupported,
    purge: unsupported,
    deleteQueue: unsupported,
    peekDeadLetters: unsupported,
    replayDeadLetters: unsupported,
  };
  const publish = async () => {
    if (controls.publishError) throw controls.publishError;
  };
  controls.broker = await createBroker(async (hooks) => {
    controls.hooks = hooks;
    return {
      adapter: 'fake',
      inspector,
      publish,
      send: publish,
      subscribe: async () => ({ close: async () => {} }),
      consume: async () => ({ close: async () => {} }),
      close: async () => {},
    };
  });
  return controls;
}
