/**
 * Counter and histogram families for the per-message hot path. prom-client's own `inc()` and
 * `observe()` validate and hash the label set on every call (a string built per message); these
 * keep one plain cell per label set, so recording is a few number updates, and build the
 * exposition only when scraped. They register with a prom-client registry like any metric.
 */
import type { Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

/** One counter series: increment `value`. */
export interface CounterCell {
  value: number;
}

/** One histogram series; record with {@link observe}. */
export interface HistogramCell {
  /** The family's bucket upper bounds (shared): {@link observe} needs nothing but the cell. */
  readonly bounds: Float64Array;
  /**
   * Non-cumulative count per bucket (`bounds.length + 1` slots, the last is +Inf), then the sum
   * at `[bounds.length + 1]` and the count at `[bounds.length + 2]`: one typed array, so
   * recording is three in-place number stores (no boxed number field to update).
   */
  readonly counts: Float64Array;
  /** The series' labels plus `le`, per bucket: built once, not per scrape. */
  readonly bucketLabels: readonly Labels[];
}

/** The shape prom-client's registry reads from a metric's `get()`. */
interface MetricSnapshot {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: Array<{ labels: Labels; value: number; metricName?: string }>;
}

/** Cells by label set: the one store both families use. */
class Cells<Cell> {
  readonly entries = new Map<string, { labels: Labels; cell: Cell }>();

  constructor(
    private readonly labelNames: readonly string[],
    private readonly create: (labels: Labels) => Cell,
  ) {}

  get(labels: Labels): Cell {
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let entry = this.entries.get(key);
    if (!entry) {
      const own = { ...labels };
      entry = { labels: own, cell: this.create(own) };
      this.entries.set(key, entry);
    }
    return entry.cell;
  }
}

/** prom-client accepts any object with `name` and `get()`; the cast is for its class-typed API. */
function register(registry: Registry, metric: { name: string; get(): MetricSnapshot; reset(): void }): void {
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}

/** A monotonically increasing counter family. */
export class CounterFamily {
  readonly #cells: Cells<CounterCell>;

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    registry: Registry,
  ) {
    this.#cells = new Cells(labelNames, () => ({ value: 0 }));
    register(registry, this);
  }

  /** The cell of `labels`, created at zero on first use. Cache it: this builds a key. */
  cell(labels: Labels): CounterCell {
    return this.#cells.get(labels);
  }

  /** Called by `registry.resetMetrics()`: zero in place, cached cells stay valid. */
  reset(): void {
    for (const { cell } of this.#cells.entries.values()) cell.value = 0;
  }

  get(): MetricSnapshot {
    const values = [...this.#cells.entries.values()].map(({ labels, cell }) => ({
      labels,
      value: cell.value,
    }));
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values };
  }
}

/**
 * Record `value` in `cell`. A plain function of the cell alone, not a method: the per-message
 * callers inline it, with no receiver or private-field check. A linear scan of ~15 bounds beats a
 * binary search at this size, and per-message values (sub-millisecond handlers, a confirmation
 * within the call) mostly stop at the first bound.
 */
export function observe(cell: HistogramCell, value: number): void {
  const bounds = cell.bounds;
  const counts = cell.counts;
  const n = bounds.length;
  let i = 0;
  while (i < n && value > bounds[i]!) i++;
  counts[i]!++;
  counts[n + 1]! += value;
  counts[n + 2]!++;
}

/** A histogram family with fixed bucket upper bounds (seconds). Record with {@link observe}. */
export class HistogramFamily {
  readonly #bounds: Float64Array;
  readonly #cells: Cells<HistogramCell>;

  constructor(
    readonly name: string,
    readonly help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    const bounds = Float64Array.from(buckets);
    this.#bounds = bounds;
    const les = [...Array.from(bounds, String), '+Inf'];
    this.#cells = new Cells(labelNames, (labels) => ({
      bounds,
      counts: new Float64Array(bounds.length + 3),
      bucketLabels: les.map((le) => ({ ...labels, le })),
    }));
    register(registry, this);
  }

  /** The cell of `labels`, created empty on first use. Cache it: this builds a key. */
  cell(labels: Labels): HistogramCell {
    return this.#cells.get(labels);
  }

  /** Called by `registry.resetMetrics()`: zero in place, cached cells stay valid. */
  reset(): void {
    for (const { cell } of this.#cells.entries.values()) cell.counts.fill(0);
  }

  get(): MetricSnapshot {
    const values: MetricSnapshot['values'] = [];
    const bucket = `${this.name}_bucket`;
    const bounds = this.#bounds;
    for (const { labels, cell } of this.#cells.entries.values()) {
      let cumulative = 0;
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += cell.counts[i]!;
        values.push({ labels: cell.bucketLabels[i]!, value: cumulative, metricName: bucket });
      }
      const n = bounds.length;
      values.push({ labels, value: cell.counts[n + 1]!, metricName: `${this.name}_sum` });
      values.push({ labels, value: cell.counts[n + 2]!, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }
}
