/**
 * @brokerkit/memory — the in-process reference adapter and the embedded default (`memory://`).
 *
 * Every `connect('memory://<name>')` in one process shares the broker named `<name>` (`''` for
 * plain `memory://`), so groups and work queues outlive their connections as on a real server.
 * Nothing survives the process.
 *
 * @packageDocumentation
 */
import { assertKnownKeys, defaultCodec } from '@brokerkit/core/adapter';
import type { AdapterFactory, Transport } from '@brokerkit/core';
import { memoryBroker } from './memory-broker.js';
import { MemoryInspector } from './memory-inspector.js';
import { MemoryTransport } from './memory-transport.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './stored-message.js';

export { resetMemoryBroker } from './memory-broker.js';
export { DEFAULT_MAX_PAYLOAD_BYTES } from './stored-message.js';

/**
 * Adapter factory for `memory://` URLs; `connect()` loads it by scheme. The URL's host names the
 * shared in-process broker.
 */
export const createTransport: AdapterFactory = async (settings, hooks): Promise<Transport> => {
  assertKnownKeys(settings.adapterOptions.memory, new Set(), 'memory options');
  const url = settings.urls[0]!;
  const broker = memoryBroker(decodeURIComponent(url.hostname));
  return new MemoryTransport(
    broker,
    new MemoryInspector(broker, settings.codec),
    hooks.error,
    settings.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    settings.codec === defaultCodec,
  );
};

declare module '@brokerkit/core' {
  interface AdapterOptions {
    /** The memory adapter has no options of its own yet; the key is reserved. */
    memory?: Record<string, never>;
  }
}
