import type { Headers, OutputRecord, SourceMessage } from '../records';
import { H } from './headers';

export interface ModelIdentity {
  readonly modelName: string;
  readonly modelVersion: string;
}

/**
 * The model's name and version as UTF-8 bytes, made once per model: the Kafka client then
 * copies them into each record instead of measuring and encoding two strings per prediction.
 */
const encodedIdentity = new WeakMap<ModelIdentity, { readonly name: Buffer; readonly version: Buffer }>();

function identityBytes(model: ModelIdentity): { readonly name: Buffer; readonly version: Buffer } {
  let bytes = encodedIdentity.get(model);
  if (!bytes) {
    bytes = { name: Buffer.from(model.modelName, 'utf8'), version: Buffer.from(model.modelVersion, 'utf8') };
    encodedIdentity.set(model, bytes);
  }
  return bytes;
}

/** A prediction keeps the input's key, so it lands on the partition its input key maps to. */
export function predictionRecord(source: SourceMessage, value: Buffer, model: ModelIdentity, traceHeaders: Headers): OutputRecord {
  const identity = identityBytes(model);
  // Built by assignment rather than by spread with computed keys: once per prediction, on the hot path.
  const headers: Headers = {};
  for (const name in traceHeaders) headers[name] = traceHeaders[name];
  headers[H.modelName] = identity.name;
  headers[H.modelVersion] = identity.version;
  return { key: source.key, value, headers };
}
