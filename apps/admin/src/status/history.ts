/**
 * The numbers behind the status page's charts: a ring of samples taken every `sampleMs` for the
 * last `keepMs`, so a page opened now shows the last minutes at once (not `0.0` until its second
 * poll). Counters come from the metrics registry, in-process and cheap, so they are sampled all
 * the time; queue depths cost broker round trips, so the inspector is asked only while someone
 * is watching (a history request within `watchMs`).
 */
import type { Broker, QueueInfo } from '@brokerkit/core';
import type { Registry } from '@brokerkit/metrics';

/** Options of {@link StatusHistory}. */
export interface StatusHistoryOptions {
  readonly broker: Broker;
  /** The registry the broker's `metrics()` middleware writes to. */
  readonly registry: Registry;
  /** Time between samples, ms. */
  readonly sampleMs: number;
  /** How far back the history reaches, ms. */
  readonly keepMs: number;
  /** Queues are inspected while a history request came within this time, ms. Default 60 000. */
  readonly watchMs?: number;
  /** Clock (tests). */
  readonly now?: () => number;
}

/** Counter totals of one queue or group. */
interface QueueCounts {
  /** Sent to the queue (work queues only: a group has no destination of its own). */
  sent: number;
  acked: number;
  /** Retried, dead-lettered or discarded deliveries. */
  failed: number;
}

/** One sample: cumulative counters, and the queues when they were inspected. */
interface Sample {
  readonly t: number;
  readonly published: number;
  readonly acked: number;
  readonly failed: number;
  readonly byQueue: ReadonlyMap<string, QueueCounts>;
  readonly queues: readonly QueueInfo[] | undefined;
}

/** A point of a chart: rates per second since the previous sample, and the queue numbers. */
export interface StatusPoint {
  /** Unix time, ms. */
  readonly t: number;
  /** Messages per second; `null` on the first sample, after a counter reset, or for a group's "published". */
  readonly published: number | null;
  readonly consumed: number | null;
  readonly failed: number | null;
  /** Ready messages; `null` where the queues were not inspected at that time. */
  readonly depth: number | null;
  readonly inFlight: number | null;
  readonly deadLetters: number | null;
}

const PUBLISHED = 'brokerkit_messages_published_total';
const CONSUMED = 'brokerkit_messages_consumed_total';

type Values = Array<{ labels: Record<string, string | number | undefined>; value: number }>;

async function valuesOf(registry: Registry, name: string): Promise<Values> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return [];
  return ((await metric.get()) as { values: Values }).values;
}

const label = (labels: Record<string, string | number | undefined>, key: string): string =>
  String(labels[key] ?? '');

function sumOrNull(values: readonly (number | null)[]): number | null {
  let sum: number | null = null;
  for (const v of values) if (v !== null) sum = (sum ?? 0) + v;
  return sum;
}

/** See the module comment. */
export class StatusHistory {
  readonly sampleMs: number;
  readonly #samples: Sample[] = [];
  readonly #capacity: number;
  readonly #watchMs: number;
  readonly #now: () => number;
  #watchedAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #sampling: Promise<void> | undefined;
  /** The last inspection's failure, shown on the page; cleared by the next success. */
  inspectError: string | undefined;

  constructor(private readonly options: StatusHistoryOptions) {
    this.sampleMs = options.sampleMs;
    this.#capacity = Math.max(2, Math.ceil(options.keepMs / options.sampleMs) + 1);
    this.#watchMs = options.watchMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Sample every `sampleMs` until {@link stop}; the timer never keeps the process alive. */
  start(): void {
    if (this.#timer) return;
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), this.sampleMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Someone looks at the history: inspect the queues for the next `watchMs`. Resolves once the
   * newest sample has queue numbers (at once when it has), so the first answer shows depths.
   */
  async watch(): Promise<void> {
    const wasWatched = this.#watched();
    this.#watchedAt = this.#now();
    if (!wasWatched || this.#samples.at(-1)?.queues === undefined) await this.sample();
  }

  /** Take one sample now (the timer calls this; tests call it on their own clock). One at a time. */
  sample(): Promise<void> {
    this.#sampling ??= this.#take().finally(() => (this.#sampling = undefined));
    return this.#sampling;
  }

  /** The whole broker: every queue's depth and in-flight, dead letters apart. */
  overall(): StatusPoint[] {
    return this.#points(
      (s) => ({ sent: s.published, acked: s.acked, failed: s.failed }),
      (queues) => {
        const live = queues.filter((q) => q.kind !== 'dlq');
        return {
          depth: live.reduce((n, q) => n + q.depth, 0),
          inFlight: sumOrNull(live.map((q) => q.inFlight)),
          deadLetters: queues.filter((q) => q.kind === 'dlq').reduce((n, q) => n + q.depth, 0),
        };
      },
    );
  }

  /**
   * Rates since the previous sample: published per destination (topic or queue), consumed and
   * failed per consumer (group or work queue). Empty until there are two samples.
   */
  latestRates(): {
    destinations: Record<string, number>;
    consumers: Record<string, { consumed: number; failed: number }>;
  } {
    const destinations: Record<string, number> = {};
    const consumers: Record<string, { consumed: number; failed: number }> = {};
    const last = this.#samples.at(-1);
    const previous = this.#samples.at(-2);
    if (!last || !previous || last.t <= previous.t) return { destinations, consumers };
    const seconds = (last.t - previous.t) / 1000;
    const per = (now: number, before = 0) => Math.max(0, now - before) / seconds;
    for (const [name, c] of last.byQueue) {
      const b = previous.byQueue.get(name);
      if (c.sent > 0) destinations[name] = per(c.sent, b?.sent);
      if (c.acked + c.failed > 0)
        consumers[name] = { consumed: per(c.acked, b?.acked), failed: per(c.failed, b?.failed) };
    }
    return { destinations, consumers };
  }

  /** One queue or group (or dead-letter queue) by its logical name. */
  queue(name: string): StatusPoint[] {
    const dlq = `${name}.dlq`;
    let isGroup = false;
    const points = this.#points(
      (s) => s.byQueue.get(name),
      (queues) => {
        const info = queues.find((q) => q.name === name);
        if (info?.kind === 'group') isGroup = true;
        return {
          depth: info ? info.depth : null,
          inFlight: info ? info.inFlight : null,
          deadLetters: queues.find((q) => q.name === dlq)?.depth ?? null,
        };
      },
    );
    // Events reach a group through topics, not under its name: it has no "published" rate.
    return isGroup ? points.map((p) => ({ ...p, published: null })) : points;
  }

  #watched(): boolean {
    return this.#now() - this.#watchedAt < this.#watchMs;
  }

  async #take(): Promise<void> {
    const t = this.#now();
    const [published, consumed] = await Promise.all([
      valuesOf(this.options.registry, PUBLISHED),
      valuesOf(this.options.registry, CONSUMED),
    ]);
    const byQueue = new Map<string, QueueCounts>();
    const counts = (name: string): QueueCounts => {
      let c = byQueue.get(name);
      if (!c) byQueue.set(name, (c = { sent: 0, acked: 0, failed: 0 }));
      return c;
    };
    let publishedTotal = 0;
    for (const { labels, value } of published) {
      publishedTotal += value;
      counts(label(labels, 'destination')).sent += value;
    }
    let acked = 0;
    let failed = 0;
    for (const { labels, value } of consumed) {
      // Groups count under their group name, work queues under the queue (group label empty).
      const owner = label(labels, 'group') || label(labels, 'destination');
      if (label(labels, 'outcome') === 'ack') {
        acked += value;
        counts(owner).acked += value;
      } else {
        failed += value;
        counts(owner).failed += value;
      }
    }
    const queues = this.#watched() ? await this.#inspect() : undefined;
    this.#samples.push({ t, published: publishedTotal, acked, failed, byQueue, queues });
    if (this.#samples.length > this.#capacity) this.#samples.shift();
  }

  async #inspect(): Promise<QueueInfo[] | undefined> {
    const inspector = this.options.broker.inspector;
    if (!inspector || this.options.broker.status === 'closed') return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.sampleMs} ms`)), this.sampleMs);
      });
      const queues = await Promise.race([inspector.listQueues(), timeout]);
      this.inspectError = undefined;
      return queues;
    } catch (error) {
      this.inspectError = `queue inspection failed: ${(error as Error).message}`;
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  #points(
    countsOf: (s: Sample) => QueueCounts | undefined,
    numbersOf: (queues: readonly QueueInfo[]) => Pick<StatusPoint, 'depth' | 'inFlight' | 'deadLetters'>,
  ): StatusPoint[] {
    const rate = (now: number | undefined, before: number | undefined, seconds: number): number | null => {
      if (before === undefined || seconds <= 0) return null;
      const delta = (now ?? 0) - before;
      return delta < 0 ? null : delta / seconds; // a reset counter: no rate for that step
    };
    return this.#samples.map((s, i) => {
      const previous = this.#samples[i - 1];
      const seconds = previous ? (s.t - previous.t) / 1000 : 0;
      const now = countsOf(s);
      const before = previous ? (countsOf(previous) ?? { sent: 0, acked: 0, failed: 0 }) : undefined;
      const numbers = s.queues ? numbersOf(s.queues) : { depth: null, inFlight: null, deadLetters: null };
      return {
        t: s.t,
        published: rate(now?.sent, before?.sent, seconds),
        consumed: rate(now?.acked, before?.acked, seconds),
        failed: rate(now?.failed, before?.failed, seconds),
        ...numbers,
      };
    });
  }
}
