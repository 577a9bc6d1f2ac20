/**
 * The broker's status from the transport's two connections (publishing, and consuming plus
 * declarations): `ready` only when both are, `reconnecting` while either is, so one outage of the
 * node they share is one `disconnected` / `reconnected` pair (and one counted reconnect).
 * `blocked` (only the publishing connection reports it) shows while both are connected.
 */
import type { BrokerStatus, TransportHooks } from '@brokerkit/core';

/** The more serious of two statuses wins. */
const RANK: Record<BrokerStatus, number> = {
  ready: 0,
  blocked: 1,
  connecting: 2,
  reconnecting: 3,
  closed: 4,
};

/** Combines the statuses of several connections into the one core reports. */
export class CombinedStatus {
  readonly #parts: BrokerStatus[];
  #reported: BrokerStatus | undefined;

  constructor(
    private readonly hooks: TransportHooks,
    count: number,
  ) {
    this.#parts = Array.from({ length: count }, () => 'connecting' as BrokerStatus);
  }

  /** The hooks connection `index` reports through. */
  hooksFor(index: number): TransportHooks {
    return {
      status: (status, error) => this.#set(index, status, error),
      error: (error) => this.hooks.error(error),
    };
  }

  #set(index: number, status: BrokerStatus, error: Error | undefined): void {
    this.#parts[index] = status;
    let combined: BrokerStatus = 'ready';
    for (const s of this.#parts) if (RANK[s] > RANK[combined]) combined = s;
    if (combined === this.#reported) return;
    this.#reported = combined;
    this.hooks.status(combined, error);
  }
}
