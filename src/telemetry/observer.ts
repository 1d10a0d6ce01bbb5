import type { KafkaFailure } from '../kafka/errors';

/** Why a batch is tried again: a Kafka failure, or a schema registry or feature store that could not be asked. */
export type RetryCause = KafkaFailure | 'registry' | 'feature-store';
import type { LostMembershipReason } from '../kafka/membership';
import type { FeatureStore } from '../features/store/lookup';
import type { ReloadOutcome } from '../model/reload';
import type { TrainingProfile } from '../monitor/profile';
import type { ProcessedBatch } from '../pipeline';
import type { SourceMessage } from '../records';
import type { ShadowWritten } from './metrics';

/**
 * What the service tells its observers (metrics, readiness, model monitoring). Every call is
 * cheap and never throws into the service.
 */
export interface ServiceObserver {
  /** The model is loaded and its contract checked. */
  modelReady(model: { readonly name: string; readonly version: string }): void;
  /** A hot-swap candidate was swapped in (then `profile` is the new model's training profile, if any) or refused. */
  modelReloaded?(outcome: ReloadOutcome, profile: { readonly path: string; readonly profile: TrainingProfile } | undefined): void;
  /** The consumer joined its group with this assignment (topic → partitions). */
  joined(assignment: ReadonlyMap<string, readonly number[]>): void;
  /** A batch was fetched (again, after a retry) from a partition whose high watermark was `highWatermark`. */
  fetched(info: { readonly topic: string; readonly partition: number; readonly highWatermark: string; readonly firstOffset: string; readonly lastOffset: string }): void;
  /** Every record of the partition before `nextOffset` is done (outputs acknowledged, or none needed). */
  progressed(info: { readonly topic: string; readonly partition: number; readonly highWatermark: string; readonly nextOffset: string }): void;
  /** Every output of the batch was acknowledged by the broker. */
  written(messages: readonly SourceMessage[], processed: ProcessedBatch): void;
  /** Shadow scoring is configured (SHADOW_MODEL_PATH): the challenger is loaded and checked. */
  shadowReady?(model: { readonly name: string; readonly version: string; readonly topic: string }): void;
  /** The challenger's records of a batch were acknowledged with the champion's outputs. */
  shadowWritten?(batch: ShadowWritten): void;
  /** Shadow scoring failed on a batch (score) or was switched off after a write failure (write). */
  shadowFailed?(kind: 'score' | 'write'): void;
  /** A batch of the partition was not written and will be fetched and tried again. */
  retried(topic: string, partition: number, failure: RetryCause): void;
  /** A batch waits for the schema registry (waiting), or batches pass it again. */
  registry(state: { readonly waiting: boolean; readonly error?: string }): void;
  /** The online feature store the service looks store features up in (metrics, readiness); `used`: whether the serving model reads store features now (it can change with a hot swap). */
  featureStoreReady?(store: FeatureStore, used: () => boolean): void;
  /** A batch waits for the feature store (a feature with unavailable: wait), or batches pass it again. */
  featureStore?(state: { readonly waiting: boolean; readonly error?: string }): void;
  /** The coordinator said this consumer lost its group membership; it stopped writing its partitions and rejoins. */
  membershipLost(reason: LostMembershipReason): void;
}
