import type { Rejection } from '../errors';
import type { HeaderValue, Headers, OutputRecord, SourceMessage } from '../records';
import { H, HEADER_PREFIX } from './headers';

export interface DeadLetterContext {
  readonly consumerGroup: string;
  readonly modelName: string;
  readonly modelVersion: string;
}

function appendHeader(headers: Headers, name: string, value: string): void {
  const existing: HeaderValue = headers[name];
  // A re-driven record that fails again already has our headers: keep the history, the last value is current.
  if (existing === undefined) headers[name] = value;
  else headers[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
}

/**
 * The dead-letter record: key, value, timestamp and original headers exactly as received,
 * plus why it was rejected and where it came from. trace headers are the rejection span's.
 */
export function deadLetterRecord(source: SourceMessage, rejection: Rejection, ctx: DeadLetterContext, traceHeaders: Headers, failedAt: number): OutputRecord {
  const headers: Headers = { ...source.headers };
  for (const name of Object.keys(traceHeaders)) {
    const value = traceHeaders[name];
    // The original traceparent stays as received; the scorer's own context goes under our prefix
    // (a Buffer when it was passed on unchanged, with no span recorded).
    if (typeof value === 'string') appendHeader(headers, `${HEADER_PREFIX}${name}`, value);
    else if (Buffer.isBuffer(value)) appendHeader(headers, `${HEADER_PREFIX}${name}`, value.toString('latin1'));
  }
  appendHeader(headers, H.reasonCode, rejection.code);
  appendHeader(headers, H.reasonStage, rejection.stage);
  if (rejection.field !== undefined) appendHeader(headers, H.reasonField, rejection.field);
  if (rejection.value !== undefined) appendHeader(headers, H.reasonValue, rejection.value);
  appendHeader(headers, H.reasonMessage, rejection.message);
  appendHeader(headers, H.sourceTopic, source.topic);
  appendHeader(headers, H.sourcePartition, String(source.partition));
  appendHeader(headers, H.sourceOffset, source.offset);
  appendHeader(headers, H.sourceTimestamp, source.timestamp);
  appendHeader(headers, H.consumerGroup, ctx.consumerGroup);
  appendHeader(headers, H.modelName, ctx.modelName);
  appendHeader(headers, H.modelVersion, ctx.modelVersion);
  appendHeader(headers, H.failedAt, new Date(failedAt).toISOString());
  return { key: source.key, value: source.value, headers, timestamp: source.timestamp };
}
