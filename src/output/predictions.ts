import type { Headers, OutputRecord, SourceMessage } from '../records';
import { H } from './headers';

export interface ModelIdentity {
  readonly modelName: string;
  readonly modelVersion: string;
}

/** A prediction keeps the input's key, so it lands on the partition its input key maps to. */
export function predictionRecord(source: SourceMessage, value: Buffer, model: ModelIdentity, traceHeaders: Headers): OutputRecord {
  // Built by assignment rather than by spread with computed keys: once per prediction, on the hot path.
  const headers: Headers = {};
  for (const name in traceHeaders) headers[name] = traceHeaders[name];
  headers[H.modelName] = model.modelName;
  headers[H.modelVersion] = model.modelVersion;
  return { key: source.key, value, headers };
}
