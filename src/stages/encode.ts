import type avro from 'avsc';
import { encodeFramed } from '../formats/confluent';
import { type Rejection, reject } from '../errors';
import type { SourceMessage } from '../records';
import type { InputEvent } from './decode';
import type { ScoredRows } from './score';

export interface PredictionContext {
  readonly type: avro.Type;
  readonly modelName: string;
  readonly modelVersion: string;
  /** '' when there is no id field (EVENT_ID_FIELD=): every id is topic/partition/offset. */
  readonly eventIdField: string;
  /** '' when there is no time field (EVENT_TIME_FIELD=): every event_time is null. */
  readonly eventTimeField: string;
  /** Labels of the probability columns, published with every prediction; [] for a regressor. */
  readonly classes: readonly string[];
  /** OUTPUT_FORMAT=confluent: the registry id predictions are framed with. */
  readonly schemaId?: number;
}

/** One prediction as handed to avsc: the field names of schemas/prediction.avsc. */
export interface Prediction {
  readonly event_id: string;
  readonly event_time: number | null;
  readonly score: number;
  readonly probabilities: number[];
  readonly classes: readonly string[];
  readonly label: string | null;
  readonly flags: readonly string[];
  /** The online store's feature values the score used (defaults included); {} without store features. Ignored by a PREDICTION_SCHEMA without the field. */
  readonly features: Readonly<Record<string, number>>;
  readonly model_name: string;
  readonly model_version: string;
  readonly scored_at: number;
  readonly source: { readonly topic: string; readonly partition: number; readonly offset: number };
}

export type MessagePosition = Pick<SourceMessage, 'topic' | 'partition' | 'offset'>;

/**
 * Builds the prediction object for one scored event. The only place that decides what a
 * prediction holds: the start-up check encodes samples built here, so what it accepts is what
 * encodePredictions writes.
 */
export function buildPrediction(
  ctx: PredictionContext,
  event: InputEvent,
  message: MessagePosition,
  outcome: { readonly score: number; readonly probabilities: number[]; readonly label: string | null; readonly flags: readonly string[] },
  scoredAt: number,
  features: Readonly<Record<string, number>> = NO_FEATURES,
): Prediction {
  // An unset field name ('') looks up nothing and falls through to the fallbacks, so it needs no branch.
  const id = event[ctx.eventIdField];
  const eventTime = event[ctx.eventTimeField];
  return {
    // int and long ids: avsc decodes longs only when they are safe integers, so the text is exact.
    event_id: typeof id === 'string' ? id : typeof id === 'number' ? String(id) : `${message.topic}/${message.partition}/${message.offset}`,
    event_time: typeof eventTime === 'number' && Number.isFinite(eventTime) ? eventTime : null,
    score: outcome.score,
    probabilities: outcome.probabilities,
    classes: ctx.classes,
    label: outcome.label,
    flags: outcome.flags,
    features,
    model_name: ctx.modelName,
    model_version: ctx.modelVersion,
    scored_at: scoredAt,
    source: { topic: message.topic, partition: message.partition, offset: Number(message.offset) },
  };
}

export interface EncodedPredictions {
  /** Per feature row: the Avro-encoded prediction, or undefined when rejections[r] is set. */
  readonly values: (Buffer | undefined)[];
  readonly rejections: (Rejection | undefined)[];
}

const NONE: readonly string[] = [];
const NO_FEATURES: Readonly<Record<string, number>> = Object.freeze({});
const NO_FLAGS: ReadonlyMap<number, readonly string[]> = new Map();

/** Encodes one prediction per scored row; rows already rejected by scoring stay rejected. */
export function encodePredictions(
  ctx: PredictionContext,
  rows: Int32Array,
  events: readonly (InputEvent | undefined)[],
  messages: readonly SourceMessage[],
  scored: ScoredRows,
  scoredAt: number,
  flags: ReadonlyMap<number, readonly string[]> = NO_FLAGS,
  /** By batch index: the store feature values each event was scored with. */
  features?: readonly (Readonly<Record<string, number>> | undefined)[],
): EncodedPredictions {
  const rowCount = rows.length;
  const values = new Array<Buffer | undefined>(rowCount);
  const rejections = scored.rejections.slice();
  const classCount = scored.classCount;
  for (let r = 0; r < rowCount; r += 1) {
    if (rejections[r]) continue;
    const index = rows[r] as number;
    const probabilities = new Array<number>(classCount);
    for (let c = 0; c < classCount; c += 1) probabilities[c] = scored.probabilities[r * classCount + c] as number;
    const outcome = { score: scored.scores[r] as number, probabilities, label: scored.labels[r] ?? null, flags: flags.get(r) ?? NONE };
    const prediction = buildPrediction(ctx, events[index] as InputEvent, messages[index] as SourceMessage, outcome, scoredAt, features?.[index] ?? NO_FEATURES);
    try {
      values[r] = ctx.schemaId === undefined ? ctx.type.toBuffer(prediction) : encodeFramed(ctx.type, ctx.schemaId, prediction);
    } catch (error) {
      rejections[r] = reject('ENCODE_FAILED', `prediction does not fit the prediction schema: ${(error as Error).message}`);
    }
  }
  return { values, rejections };
}
