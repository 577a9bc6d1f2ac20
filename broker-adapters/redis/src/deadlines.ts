/**
 * Time limits of confirmed publishes without a timer each. Core's `withTimeout` arms and clears
 * one `setTimeout` per call; at tens of thousands of sends a second that was a measurable share of
 * a send's CPU and garbage (issue #15). Here every waiting write is an entry in one list ordered
 * by deadline, and one timer is armed for the earliest (or an earlier one, which then re-arms).
 * The command connection answers in the order it was written to, so entries mostly settle from
 * the front and the list stays as long as what is in flight; a settled entry further back is
 * dropped when the front reaches it.
 */

/** One write waiting for its answer or its deadline. */
export class Waiter {
  /** Neither answered nor expired yet. */
  pending = true;
  resolve!: () => void;
  reject!: (error: unknown) => void;
  /** Settles when the write is answered, or rejects when it expires first. */
  readonly promise: Promise<void>;

  constructor(
    /** `Date.now()` at which it expires (infinite: never). */
    readonly at: number,
    readonly timeoutMs: number,
    /** What the write was (`send to`) and to where: for the error when it expires. */
    readonly what: string,
    readonly destination: string,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/** Entries dropped from the front before the list is compacted. */
const COMPACT_AFTER = 1_024;

/** See the module comment. */
export class Deadlines {
  #list: Waiter[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(
    /** The error an expired write rejects with. */
    private readonly timedOut: (waiter: Waiter) => Error,
    /** Called once per waiter when it stops waiting, answered or expired. */
    private readonly settled: () => void,
  ) {}

  /** A write starts waiting for at most `timeoutMs` (not finite: no limit). */
  start(timeoutMs: number, what: string, destination: string): Waiter {
    const finite = Number.isFinite(timeoutMs);
    const waiter = new Waiter(
      finite ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY,
      timeoutMs,
      what,
      destination,
    );
    if (finite) this.#add(waiter);
    return waiter;
  }

  /** The write was answered; nothing happens if it had expired. */
  resolve(waiter: Waiter): void {
    if (!waiter.pending) return;
    waiter.pending = false;
    waiter.resolve();
    this.settled();
    this.#advance();
  }

  /** The write failed; nothing happens if it had expired. */
  reject(waiter: Waiter, error: unknown): void {
    if (!waiter.pending) return;
    waiter.pending = false;
    waiter.reject(error);
    this.settled();
    this.#advance();
  }

  /** Writes still waiting with a deadline (for tests). */
  get size(): number {
    let n = 0;
    for (let i = this.#head; i < this.#list.length; i++) if (this.#list[i]!.pending) n++;
    return n;
  }

  #add(waiter: Waiter): void {
    const list = this.#list;
    // The timer holds the process alive while writes wait (as a timer per write would).
    if (list.length === 0) this.#timer?.ref();
    let at = list.length;
    // Deadlines come in order, unless a write passed a shorter timeout than those before it.
    while (at > this.#head && list[at - 1]!.at > waiter.at) at--;
    if (at === list.length) list.push(waiter);
    else list.splice(at, 0, waiter);
    if (waiter.at < this.#timerAt) this.#arm(waiter.at);
  }

  /** Drop settled entries from the front. */
  #advance(): void {
    const list = this.#list;
    let head = this.#head;
    while (head < list.length && !list[head]!.pending) head++;
    if (head === list.length) {
      list.length = 0;
      head = 0;
      this.#timer?.unref();
    } else if (head >= COMPACT_AFTER && head * 2 >= list.length) {
      list.splice(0, head);
      head = 0;
    }
    this.#head = head;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // Left armed when the list empties (writes come and go in bursts: no clear and re-arm each
    // time), only unref'd then, so that it holds the process alive only while a write waits.
    this.#timer = setTimeout(this.#expire, Math.max(0, at - Date.now()));
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const list = this.#list;
    // Expire what is due, from the front: the list is ordered by deadline.
    while (this.#head < list.length) {
      const waiter = list[this.#head]!;
      if (waiter.pending) {
        if (waiter.at > now) break;
        waiter.pending = false;
        waiter.reject(this.timedOut(waiter));
        this.settled();
      }
      this.#head++;
    }
    this.#advance();
    if (this.#head < list.length) this.#arm(list[this.#head]!.at);
  };
}
