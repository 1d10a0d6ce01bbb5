import { ValueType } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, type CollectionResult, DataPointType, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';

/**
 * A cumulative histogram for values recorded once per message on the hot path (80k/s): a
 * binary search and two typed-array writes, no attribute hashing and no allocation. The
 * OpenTelemetry SDK costs ~150 ns per record() even without attributes; this is ~10 ns.
 * Exported through the same OpenTelemetry reader as every other metric, as a MetricProducer.
 */
export class FastHistogram {
  /** counts[i]: values <= boundaries[i] (and > boundaries[i-1]); the last slot is +Inf. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly description: string,
    readonly unit: string,
    readonly boundaries: readonly number[],
  ) {
    for (let i = 1; i < boundaries.length; i += 1) {
      if (!((boundaries[i] as number) > (boundaries[i - 1] as number))) throw new Error(`${name}: bucket boundaries must increase`);
    }
    this.counts = new Float64Array(boundaries.length + 1);
  }

  record(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.boundaries;
    let lo = 0;
    let hi = b.length;
    // First boundary >= value (Prometheus buckets are upper-inclusive).
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((b[mid] as number) < value) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo] = (this.counts[lo] as number) + 1;
    this.sum += value;
    this.count += 1;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  toMetricData(startMs: number, endMs: number): MetricData {
    return {
      descriptor: { name: this.name, description: this.description, unit: this.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: [
        {
          attributes: {},
          startTime: millisToHrTime(startMs),
          endTime: millisToHrTime(endMs),
          value: {
            buckets: { boundaries: [...this.boundaries], counts: Array.from(this.counts) },
            sum: this.sum,
            count: this.count,
            ...(this.count > 0 ? { min: this.min, max: this.max } : {}),
          },
        },
      ],
    };
  }
}

/** Hands the fast histograms to a MetricReader (e.g. the Prometheus exporter) at collection time. */
export class FastHistogramProducer implements MetricProducer {
  private readonly startMs = Date.now();

  constructor(
    private readonly scope: { name: string; version?: string },
    private readonly histograms: readonly FastHistogram[],
  ) {}

  async collect(): Promise<CollectionResult> {
    const end = Date.now();
    return {
      // The reader replaces this resource with the SDK's own.
      resourceMetrics: {
        resource: resourceFromAttributes({}),
        scopeMetrics: [{ scope: this.scope, metrics: this.histograms.map((h) => h.toMetricData(this.startMs, end)) }],
      },
      errors: [],
    };
  }
}
