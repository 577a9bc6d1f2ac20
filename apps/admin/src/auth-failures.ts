/**
 * Failed authorisations counted per client, apart from the rate limit of valid calls: a script
 * with a stale token hammering the admin (from the same host as the operator, behind one proxy
 * address) runs out of failures, never out of the operator's requests. A request with the right
 * token is never refused for earlier failures. What stops guessing is the token's length (at
 * least 16 characters, checked by `configFromEnv`); this bounds how fast and how loudly it fails.
 */

/** One client's failures in the current fixed window. */
interface Window {
  count: number;
  resetAt: number;
}

/** Clients tracked at once; beyond it expired windows are dropped first, then the oldest. */
const MAX_CLIENTS = 10_000;

/** Counts failures per client key (the request's IP) in fixed windows of `windowMs`. */
export class AuthFailures {
  readonly #windows = new Map<string, Window>();

  constructor(
    /** Failures allowed per client and window; the next ones are refused with 429. */
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until `client` may fail again; 0 while it is under the limit. */
  blockedFor(client: string): number {
    const window = this.#current(client);
    return window && window.count >= this.max ? window.resetAt - this.now() : 0;
  }

  /** Count a failure of `client`; returns true when this one used up its allowance. */
  record(client: string): boolean {
    let window = this.#current(client);
    if (!window) {
      if (this.#windows.size >= MAX_CLIENTS) this.#evict();
      window = { count: 0, resetAt: this.now() + this.windowMs };
      this.#windows.set(client, window);
    }
    window.count++;
    return window.count === this.max;
  }

  #current(client: string): Window | undefined {
    const window = this.#windows.get(client);
    if (window && window.resetAt <= this.now()) {
      this.#windows.delete(client);
      return undefined;
    }
    return window;
  }

  #evict(): void {
    const now = this.now();
    for (const [client, window] of this.#windows) if (window.resetAt <= now) this.#windows.delete(client);
    // Still full: forget the oldest windows (Map order is insertion order).
    for (const client of this.#windows.keys()) {
      if (this.#windows.size < MAX_CLIENTS) break;
      this.#windows.delete(client);
    }
  }
}
