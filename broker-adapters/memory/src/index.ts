/**
 * @brokerkit/memory — the in-process reference adapter and the embedded default (`memory://`).
 *
 * Every `connect('memory://<name>')` in one process shares the broker named `<name>` (`''` for
 * plain `memory://`), so groups and work queues outlive their connections as on a real server.
 * Nothing survives the process.
 *
 * @packageDocumentation
 */
import { defaultCodec } from '@brokerkit/core';
import type { AdapterFactory, Transport } from '@brokerkit/core';
import { memoryBroker } from './memory-broker.js';
import { MemoryInspector } from './memory-inspector.js';
import { MemoryTransport } from './memory-transport.js';

export { resetMemoryBroker } from './memory-broker.js';

/**
 * Adapter factory for `memory://` URLs; `connect()` loads it by scheme. The URL's host names the
 * shared in-process broker.
 */
export const createTransport: AdapterFactory = async (url, options): Promise<Transport> => {
  const broker = memoryBroker(decodeURIComponent(url.hostname));
  return new MemoryTransport(broker, new MemoryInspector(broker, options.codec ?? defaultCodec));
};
