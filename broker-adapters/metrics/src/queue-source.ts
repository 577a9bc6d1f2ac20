/**
 * Reads a broker's queues for the depth gauges at scrape time: bounded in time, cached briefly
 * (Prometheus, Grafana and the status page may scrape at once), and never failing a scrape.
 */
import { TimeoutError, toError, withTimeout } from '@brokerkit/core/adapter';
import type { Broker, QueueInfo } from '@brokerkit/core';
import type { QueueSource } from './instruments.js';

/** How a {@link queueSource} behaves. */
export interface QueueSourceOptions {
  /** Longest a scrape waits for the inspector. */
  readonly timeoutMs: number;
  /** How long one inspection answers further scrapes. */
  readonly cacheMs: number;
  /** Called once per failed inspection (after the error counter was incremented). */
  readonly onError: (error: Error) => void;
  /** Incremented once per failed inspection. */
  readonly countError: () => void;
}

/** A {@link QueueSource} over `broker.inspector`; brokers without one report no queues. */
export function queueSource(broker: Broker, options: QueueSourceOptions): QueueSource {
  let cached: { at: number; queues: readonly QueueInfo[] } | undefined;
  let pending: Promise<{ broker: string; queues: readonly QueueInfo[] } | undefined> | undefined;

  const inspect = async () => {
    const inspector = broker.inspector;
    if (!inspector || broker.status === 'closed') return undefined;
    try {
      const queues = await withTimeout(
        inspector.listQueues(),
        options.timeoutMs,
        () => new TimeoutError(`queue inspection took longer than ${options.timeoutMs} ms`),
      );
      cached = { at: Date.now(), queues };
      return { broker: broker.adapter, queues };
    } catch (thrown) {
      cached = undefined;
      options.countError();
      options.onError(toError(thrown));
      return undefined;
    }
  };

  return () => {
    if (cached && Date.now() - cached.at < options.cacheMs) {
      return Promise.resolve({ broker: broker.adapter, queues: cached.queues });
    }
    // Concurrent scrapes share one inspection instead of queueing up behind a slow broker.
    pending ??= inspect().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
