/**
 * Confirm latency as an HDR histogram (microsecond resolution), so p99 over a million publishes
 * costs a fixed few kilobytes instead of a sorted array.
 */
import hdr from 'hdr-histogram-js';

/** Percentiles in milliseconds; `null` when nothing was recorded. */
export interface LatencySummary {
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/** Records latencies and reports percentiles. */
export interface LatencyRecorder {
  /** Record one latency in milliseconds. */
  record(ms: number): void;
  summary(): LatencySummary;
}

/** Create a recorder tracking 1 µs .. 1 h with 3 significant digits. */
export function createLatencyRecorder(): LatencyRecorder {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    record(latencyMs) {
      histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
    },
    summary() {
      if (histogram.totalCount === 0) return { p50: null, p99: null, max: null };
      return {
        p50: ms(histogram.getValueAtPercentile(50)),
        p99: ms(histogram.getValueAtPercentile(99)),
        max: ms(histogram.maxValue),
      };
    },
  };
}
