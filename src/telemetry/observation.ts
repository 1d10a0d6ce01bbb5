import type { Rejection } from '../errors';
import type { FeatureBatch } from '../stages/check/contract-check';
import type { InputEvent } from '../stages/decode';

/**
 * What one scoring chunk of a batch looked like, for metrics and model monitoring: references
 * to what the stages produced anyway, nothing copied.
 */
export interface ChunkObservation {
  /** Batch index of the chunk's first message. */
  readonly from: number;
  /** Decoded events by chunk index (undefined: not decodable). */
  readonly events: readonly (InputEvent | undefined)[];
  /** Per chunk index: why decode or check rejected the message (undefined: it was scored). */
  readonly rejections: readonly (Rejection | undefined)[];
  /** Chunk indexes of the scored rows, in row order (features.rows). */
  readonly rows: Int32Array;
  /** The model-ready columns of the scored rows. */
  readonly features: FeatureBatch;
  /** Per scored row: the published score (positive-class probability or regression value). */
  readonly scores: Float64Array;
  /** Per scored row: the predicted class label (null for a regressor); absent where no model scored (drift from topics). */
  readonly labels?: readonly (string | null)[];
  /** Per scored row: set when scoring or encoding rejected it, so no prediction was published. */
  readonly rowRejections: readonly (Rejection | undefined)[];
}

export interface StageSeconds {
  decode: number;
  check: number;
  score: number;
  encode: number;
}

export interface BatchObservation {
  readonly chunks: readonly ChunkObservation[];
  /** Time each stage took over the whole batch. */
  readonly stageSeconds: Readonly<StageSeconds>;
  /** When the pipeline finished the batch (epoch ms); writing starts here. */
  readonly processedAt: number;
}
