/**
 * Pull requests of closed members that the server may still be filling. NATS cannot cancel a
 * pull request: until it expires, messages sent to it would go to an inbox nobody reads and come
 * back only after the ack wait. So a closing member keeps its inbox until its requests expire and
 * gives back (`nak`) whatever still arrives; the transport's close waits while such messages still
 * arrive and then closes the rest.
 */

/** Bounds of the transport's wait: quiet for `quietMs`, or `maxMs` at most. */
export const LINGER = Object.freeze({ quietMs: 100, maxMs: 3_000, pollMs: 20 });

/** Something that may still receive: a closing member's pull loop. */
export interface Lingerer {
  close(): void;
}

/** The lingering pulls of one connection. */
export class LingeringPulls {
  readonly #items = new Map<Lingerer, NodeJS.Timeout>();
  #lastArrival = 0;

  /** Keep `item` open for at most `ms` more. */
  add(item: Lingerer, ms: number): void {
    const timer = setTimeout(() => this.#end(item), ms);
    timer.unref();
    this.#items.set(item, timer);
  }

  /** A message arrived on a lingering pull. */
  touch(): void {
    this.#lastArrival = Date.now();
  }

  #end(item: Lingerer): void {
    const timer = this.#items.get(item);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#items.delete(item);
    item.close();
  }

  /** Wait while lingering pulls still receive (bounded by {@link LINGER}), then close them all. */
  async settle(): Promise<void> {
    const start = Date.now();
    this.#lastArrival = Math.max(this.#lastArrival, start);
    while (this.#items.size > 0) {
      const now = Date.now();
      if (now - this.#lastArrival >= LINGER.quietMs || now - start >= LINGER.maxMs) break;
      await new Promise((resolve) => setTimeout(resolve, LINGER.pollMs));
    }
    for (const item of [...this.#items.keys()]) this.#end(item);
  }
}
