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

function setHeader(headers: Headers, name: string, value: string): void {
  headers[name] = value;
}

/** Whether the record already carries headers of ours (it was dead-lettered before and re-driven). */
function hasScorerHeaders(headers: Headers): boolean {
  for (const name in headers) if (name.startsWith(HEADER_PREFIX)) return true;
  return false;
}

/**
 * The dead-letter record: key, value, timestamp and original headers exactly as received,
 * plus why it was rejected and where it came from. trace headers are the rejection span's.
 */
export function deadLetterRecord(source: SourceMessage, rejection: Rejection, ctx: DeadLetterContext, traceHeaders: Headers, failedAt: number): OutputRecord {
  const headers: Headers = {};
  for (const name in source.headers) headers[name] = source.headers[name];
  // The common case, a first rejection: plain assignments instead of a history check per header.
  const add = hasScorerHeaders(headers) ? appendHeader : setHeader;
  for (const name of Object.keys(traceHeaders)) {
    const value = traceHeaders[name];
    // The original traceparent stays as received; the scorer's own context goes under our prefix
    // (a Buffer when it was passed on unchanged, with no span recorded). A tracestate passed on
    // as null is no state: our headers are text, and the original keeps its null.
    if (typeof value === 'string') add(headers, `${HEADER_PREFIX}${name}`, value);
    else if (Buffer.isBuffer(value)) add(headers, `${HEADER_PREFIX}${name}`, value.toString('latin1'));
  }
  add(headers, H.reasonCode, rejection.code);
  add(headers, H.reasonStage, rejection.stage);
  if (rejection.field !== undefined) add(headers, H.reasonField, rejection.field);
  if (rejection.value !== undefined) add(headers, H.reasonValue, rejection.value);
  add(headers, H.reasonMessage, rejection.message);
  add(headers, H.sourceTopic, source.topic);
  add(headers, H.sourcePartition, String(source.partition));
  add(headers, H.sourceOffset, source.offset);
  add(headers, H.sourceTimestamp, source.timestamp);
  add(headers, H.consumerGroup, ctx.consumerGroup);
  add(headers, H.modelName, ctx.modelName);
  add(headers, H.modelVersion, ctx.modelVersion);
  add(headers, H.failedAt, new Date(failedAt).toISOString());
  return { key: source.key, value: source.value, headers, timestamp: source.timestamp };
}
