import type { Headers, OutputRecord, SourceMessage } from '../records';
import { H } from './headers';

export interface ModelIdentity {
  readonly modelName: string;
  readonly modelVersion: string;
}

/** A prediction keeps the input's key, so it lands on the partition its input key maps to. */
export function predictionRecord(source: SourceMessage, value: Buffer, model: ModelIdentity, traceHeaders: Headers): OutputRecord {
  return {
    key: source.key,
    value,
    headers: { ...traceHeaders, [H.modelName]: model.modelName, [H.modelVersion]: model.modelVersion },
  };
}
