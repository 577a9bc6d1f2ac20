/**
 * The pull side of a durable member: one inbox subscription, and pull requests sized to the
 * member's free prefetch slots. `consume()` of nats.js re-pulls as messages arrive (bounding only
 * by the server's `max_ack_pending`, which also counts messages waiting out a retry delay) and
 * `fetch()` opens a subscription per batch; neither fits "at most `prefetch` ahead of the handlers".
 *
 * Liveness: the server sends idle heartbeats on open requests; when neither a message nor a
 * heartbeat arrived for two heartbeat periods, or after a reconnect, outstanding requests are
 * assumed lost and pulled again. Requests that do arrive late still deliver to the same inbox.
 */
import { createInbox } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { PulledMessage, isDelivery } from './pulled.js';

/** What one pull loop needs. */
export interface PullLoopOptions {
  readonly stream: string;
  readonly consumer: string;
  readonly heartbeatMs: number;
  /** How long one pull request stays open on the server. */
  readonly expiresMs: number;
}

interface OpenRequest {
  remaining: number;
  readonly expiresAt: number;
}

/** Pulls for one member; the owner decides how many with {@link PullLoop.pull}. */
export class PullLoop {
  readonly #inbox = createInbox();
  readonly #subject: string;
  readonly #sub: Subscription;
  readonly #open: OpenRequest[] = [];
  #lastSign = Date.now();
  readonly #watchdog: NodeJS.Timeout;
  #stopped = false;
  /** After an error status (no consumer, no JetStream, limits), pulls pause until then. */
  #pausedUntil = 0;
  #errors = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: PullLoopOptions,
    private readonly onMessage: (m: PulledMessage) => void,
    /** Told when outstanding requests were given up (the owner pulls again). */
    private readonly onLost: () => void,
  ) {
    this.#subject = `$JS.API.CONSUMER.MSG.NEXT.${options.stream}.${options.consumer}`;
    this.#sub = nc.subscribe(this.#inbox, { callback: (_error, msg) => this.#receive(msg) });
    this.#watchdog = setInterval(() => this.#check(), options.heartbeatMs);
    this.#watchdog.unref();
  }

  /** Messages asked for and not yet received (on requests that have not expired). */
  get requested(): number {
    const now = Date.now();
    let n = 0;
    for (const r of this.#open) if (r.expiresAt > now) n += r.remaining;
    return n;
  }

  /** Requests still open on the server. */
  get openRequests(): number {
    return this.#open.length;
  }

  /** Ask the server for up to `batch` messages. */
  pull(batch: number): void {
    if (this.#stopped || batch <= 0 || Date.now() < this.#pausedUntil) return;
    const { expiresMs, heartbeatMs } = this.options;
    if (this.#open.length === 0) this.#lastSign = Date.now();
    this.#open.push({ remaining: batch, expiresAt: Date.now() + expiresMs });
    this.nc.publish(
      this.#subject,
      `{"batch":${batch},"expires":${expiresMs * 1_000_000},"idle_heartbeat":${heartbeatMs * 1_000_000}}`,
      { reply: this.#inbox },
    );
  }

  /** Forget every open request (the connection was re-established: the server lost them). */
  reset(): void {
    this.#open.length = 0;
    this.#lastSign = Date.now();
  }

  #receive(msg: Msg): void {
    this.#lastSign = Date.now();
    if (isDelivery(msg)) {
      this.#errors = 0;
      const first = this.#open[0];
      if (first && --first.remaining <= 0) this.#open.shift();
      this.onMessage(new PulledMessage(msg));
      return;
    }
    const code = msg.headers?.code ?? 0;
    if (code === 100) return; // idle heartbeat
    // 408 request expired, 409 limits / consumer deleted / leadership change, 404 nothing now,
    // 503 no responders (consumer or JetStream gone): the oldest request is finished either way.
    this.#open.shift();
    if (code !== 408) {
      // Without a pause a missing consumer would be asked again at network speed.
      this.#errors++;
      const pauseMs = Math.min(this.options.heartbeatMs, 50 * 2 ** Math.min(this.#errors, 8));
      this.#pausedUntil = Date.now() + pauseMs;
      setTimeout(() => {
        if (!this.#stopped) this.onLost();
      }, pauseMs).unref();
      return;
    }
    if (this.#open.length === 0) this.onLost();
  }

  #check(): void {
    const now = Date.now();
    while (this.#open.length > 0 && this.#open[0]!.expiresAt + this.options.heartbeatMs < now)
      this.#open.shift();
    if (this.#open.length > 0 && now - this.#lastSign > 2 * this.options.heartbeatMs) {
      // Neither messages nor heartbeats: the requests died with a server or a connection.
      this.reset();
      this.onLost();
    } else if (this.#open.length === 0) {
      this.onLost();
    }
  }

  /** Stop pulling; keep receiving (the owner gives late arrivals back) until {@link close}. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#watchdog);
  }

  /** True while requests may still deliver (open and not expired). */
  get lingering(): boolean {
    return this.requested > 0;
  }

  /** Unsubscribe the inbox. */
  close(): void {
    this.stop();
    this.#sub.unsubscribe();
  }
}
