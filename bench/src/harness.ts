/**
 * The benchmark harness: scenarios run one at a time, each measuring one subject (brokerkit or a
 * raw client / peer library) on one workload, so adapter and raw client are compared in the same
 * run on the same machine and reported as ratios.
 */

/** What one scenario run measured. Absent fields were not measured. */
export interface Measurement {
  /** Messages the workload moved. */
  messages: number;
  /** Throughput in messages (or deliveries) per second. */
  perSecond?: number;
  /** Latency percentiles in milliseconds. */
  p50Ms?: number;
  p99Ms?: number;
  /** Peak resident set size during the run, MiB. */
  peakRssMiB?: number;
  /** Anything else worth printing. */
  notes?: string;
}

/** One benchmark: a workload × a subject. */
export interface Scenario {
  /** Workload name; scenarios sharing it are compared, e.g. `rabbitmq publish-confirmed 1KiB`. */
  workload: string;
  /** Who does the work, e.g. `brokerkit`, `amqplib (raw)`, `rascal`. */
  subject: string;
  /** The subject ratios are computed against (usually the raw client). */
  baseline?: string;
  /**
   * A second subject to compare with, printed next to the first ratio: e.g. the bare raw client
   * when `baseline` is the raw client carrying the same metadata as brokerkit.
   */
  alsoComparedWith?: string;
  /** Suite name used to filter: `npm run bench -- rabbitmq`. */
  suite: string;
  /** TCP services that must be reachable, else the scenario is reported as skipped. */
  requires?: Array<{ name: string; host: string; port: number }>;
  run(): Promise<Measurement>;
}

/** The value at percentile `p` (0..100) of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** p50 and p99 of latency samples (ms), sorting a copy. */
export function latencySummary(samples: number[]): { p50Ms: number; p99Ms: number } {
  const sorted = Float64Array.from(samples).sort();
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) };
}

/** Samples RSS every 50 ms until stopped; returns the peak in MiB. */
export function trackPeakRss(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return peak / (1024 * 1024);
    },
  };
}

/** Milliseconds since `start` (from `performance.now()`). */
export function elapsedMs(start: number): number {
  return performance.now() - start;
}

/** Resolve once `count()` reaches `target`, polling every few ms; reject after `timeoutMs`. */
export async function until(count: () => number, target: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (count() < target) {
    if (Date.now() > deadline) throw new Error(`bench: only ${count()} of ${target} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Run `publishOne(i)` `total` times keeping at most `window` calls in flight: the publish
 * pattern every throughput scenario uses, for adapter and raw client alike.
 */
export async function pipelined(
  total: number,
  window: number,
  publishOne: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async () => {
    while (next < total && failure === undefined) {
      const i = next++;
      try {
        await publishOne(i);
      } catch (error) {
        failure = error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, total) }, lane));
  if (failure !== undefined) throw failure;
}
