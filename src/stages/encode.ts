import type avro from 'avsc';
import { type Rejection, reject } from '../errors';
import type { SourceMessage } from '../records';
import type { InputEvent } from './decode';
import type { ScoredRows } from './score';

export interface PredictionContext {
  readonly type: avro.Type;
  readonly modelName: string;
  readonly modelVersion: string;
  readonly eventIdField: string;
  readonly eventTimeField: string;
  readonly positiveClassIndex: number;
}

export interface EncodedPredictions {
  /** Per feature row: the Avro-encoded prediction, or undefined when rejections[r] is set. */
  readonly values: (Buffer | undefined)[];
  readonly rejections: (Rejection | undefined)[];
}

/** Encodes one prediction per scored row; rows already rejected by scoring stay rejected. */
export function encodePredictions(
  ctx: PredictionContext,
  rows: Int32Array,
  events: readonly (InputEvent | undefined)[],
  messages: readonly SourceMessage[],
  scored: ScoredRows,
  scoredAt: number,
): EncodedPredictions {
  const rowCount = rows.length;
  const values = new Array<Buffer | undefined>(rowCount);
  const rejections = scored.rejections.slice();
  const classCount = scored.classCount;
  for (let r = 0; r < rowCount; r += 1) {
    if (rejections[r]) continue;
    const index = rows[r] as number;
    const event = events[index] as InputEvent;
    const message = messages[index] as SourceMessage;
    const probabilities = new Array<number>(classCount);
    for (let c = 0; c < classCount; c += 1) probabilities[c] = scored.probabilities[r * classCount + c] as number;
    const id = event[ctx.eventIdField];
    const eventTime = event[ctx.eventTimeField];
    const prediction = {
      event_id: typeof id === 'string' ? id : `${message.topic}/${message.partition}/${message.offset}`,
      event_time: typeof eventTime === 'number' && Number.isFinite(eventTime) ? eventTime : null,
      score: probabilities[ctx.positiveClassIndex] as number,
      probabilities,
      label: scored.labels[r] as number,
      model_name: ctx.modelName,
      model_version: ctx.modelVersion,
      scored_at: scoredAt,
      source: { topic: message.topic, partition: message.partition, offset: Number(message.offset) },
    };
    try {
      values[r] = ctx.type.toBuffer(prediction);
    } catch (error) {
      rejections[r] = reject('ENCODE_FAILED', `prediction does not fit the prediction schema: ${(error as Error).message}`);
    }
  }
  return { values, rejections };
}
