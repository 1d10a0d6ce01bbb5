import type { ProcessedBatch } from '../pipeline';
import type { SourceMessage } from '../records';

/**
 * What the service tells its observers (metrics, readiness, model monitoring). Every call is
 * cheap and never throws into the service.
 */
export interface ServiceObserver {
  /** The model is loaded and its contract checked. */
  modelReady(model: { readonly name: string; readonly version: string }): void;
  /** The consumer joined its group with this assignment (topic → partitions). */
  joined(assignment: ReadonlyMap<string, readonly number[]>): void;
  /** A batch was fetched from a partition whose high watermark was `highWatermark`. */
  fetched(info: { readonly topic: string; readonly partition: number; readonly highWatermark: string; readonly lastOffset: string }): void;
  /** Every output of the batch was acknowledged by the broker. */
  written(messages: readonly SourceMessage[], processed: ProcessedBatch): void;
}
