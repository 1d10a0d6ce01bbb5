import type { Rejection } from '../errors';
import type { HeaderValue, Headers, OutputRecord, SourceMessage } from '../records';
import { H, HEADER_PREFIX } from './headers';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES, RECORD_BATCH_MARGIN, headerBytes, headerSizeBound, recordSize, recordSizeBound } from './record-size';

export interface DeadLetterContext {
  readonly consumerGroup: string;
  readonly modelName: string;
  readonly modelVersion: string;
  /** The dead-letter topic's max.message.bytes, read at start-up; unset: the broker's default. */
  readonly maxRecordBytes?: number;
}

/**
 * headerSizeBound of every header of the record the last build() made, summed as they are put
 * in: the size check then needs no second pass over ~20 headers (that pass cost 40% more per dead
 * letter). Module state is safe: build() runs to completion synchronously, and deadLetterRecord
 * reads it right after.
 */
let addedBound = 0;

function appendHeader(headers: Headers, name: string, value: string): void {
  const existing: HeaderValue = headers[name];
  // A re-driven record that fails again already has our headers: keep the history, the last value is current.
  if (existing === undefined) headers[name] = value;
  else headers[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  addedBound += 10 + 3 * (name.length + value.length);
}

function setHeader(headers: Headers, name: string, value: string): void {
  headers[name] = value;
  // headerSizeBound of a string value, inline: this runs ~15 times per dead letter.
  addedBound += 10 + 3 * (name.length + value.length);
}

/** Whether the record already carries headers of ours (it was dead-lettered before and re-driven). */
function hasScorerHeaders(headers: Headers): boolean {
  for (const name in headers) if (name.startsWith(HEADER_PREFIX)) return true;
  return false;
}

/** What a dead letter leaves out of its input, when the whole would not fit the topic. */
const LEAVE_OUT_VALUE = 1;
const LEAVE_OUT_HEADERS = 2;
const LEAVE_OUT_KEY = 4;
/** Tried in this order: the value alone (usually the big part), the headers alone, both, and the key as well. */
const LEAVE_OUT_STEPS = [LEAVE_OUT_VALUE, LEAVE_OUT_HEADERS, LEAVE_OUT_VALUE | LEAVE_OUT_HEADERS, LEAVE_OUT_VALUE | LEAVE_OUT_HEADERS | LEAVE_OUT_KEY];
// Empty rather than null: on a compacted topic a null value with a key would read as a tombstone.
const LEFT_OUT_VALUE = Buffer.alloc(0);

function build(source: SourceMessage, rejection: Rejection, ctx: DeadLetterContext, traceHeaders: Headers, failedAt: number, leaveOut: number): OutputRecord {
  const headers: Headers = {};
  addedBound = 0;
  if (!(leaveOut & LEAVE_OUT_HEADERS)) {
    for (const name in source.headers) {
      const value = source.headers[name];
      headers[name] = value;
      addedBound += headerSizeBound(name, value);
    }
  }
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
  if (leaveOut === 0) return { key: source.key, value: source.value, headers, timestamp: source.timestamp };

  if (leaveOut & LEAVE_OUT_VALUE) {
    add(headers, H.valueTruncated, 'true');
    add(headers, H.valueOriginalSize, String(source.value?.length ?? 0));
  }
  if (leaveOut & LEAVE_OUT_HEADERS) {
    let count = 0;
    let bytes = 0;
    for (const name in source.headers) {
      const dropped = headerBytes(name, source.headers[name]);
      count += dropped.count;
      bytes += dropped.bytes;
    }
    add(headers, H.headersDroppedCount, String(count));
    add(headers, H.headersDroppedSize, String(bytes));
  }
  if (leaveOut & LEAVE_OUT_KEY) {
    add(headers, H.keyTruncated, 'true');
    add(headers, H.keyOriginalSize, String(source.key?.length ?? 0));
  }
  return {
    key: leaveOut & LEAVE_OUT_KEY ? null : source.key,
    value: leaveOut & LEAVE_OUT_VALUE ? LEFT_OUT_VALUE : source.value,
    headers,
    timestamp: source.timestamp,
  };
}

/** Whether leaving these parts out changes anything: there is a value, a header, a key to leave out. */
function removesSomething(source: SourceMessage, leaveOut: number): boolean {
  if (leaveOut & LEAVE_OUT_VALUE && (source.value?.length ?? 0) > 0) return true;
  if (leaveOut & LEAVE_OUT_KEY && (source.key?.length ?? 0) > 0) return true;
  if (leaveOut & LEAVE_OUT_HEADERS) for (const _name in source.headers) return true;
  return false;
}

/**
 * The dead-letter record: key, value, timestamp and original headers exactly as received,
 * plus why it was rejected and where it came from. trace headers are the rejection span's.
 *
 * A dead letter the dead-letter topic would refuse (MESSAGE_TOO_LARGE: permanent, so the service
 * would stop on it after every restart) leaves out what it must, in LEAVE_OUT_STEPS order, and
 * says so in headers; the source topic, partition and offset always tell where the original is.
 */
export function deadLetterRecord(source: SourceMessage, rejection: Rejection, ctx: DeadLetterContext, traceHeaders: Headers, failedAt: number): OutputRecord {
  const record = build(source, rejection, ctx, traceHeaders, failedAt, 0);
  const limit = (ctx.maxRecordBytes ?? BROKER_DEFAULT_MAX_MESSAGE_BYTES) - RECORD_BATCH_MARGIN;
  if (recordSizeBound(record.key, record.value, addedBound) <= limit || recordSize(record) <= limit) return record;
  let smallest = record;
  for (const leaveOut of LEAVE_OUT_STEPS) {
    if (!removesSomething(source, leaveOut)) continue;
    smallest = build(source, rejection, ctx, traceHeaders, failedAt, leaveOut);
    if (recordSize(smallest) <= limit) return smallest;
  }
  // Even our own headers do not fit (a topic limit of a few hundred bytes): the broker will say so.
  return smallest;
}
