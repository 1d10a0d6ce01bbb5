import type { HeaderValue, OutputRecord } from '../records';

/**
 * How big a record is for the broker, which refuses a record batch above the topic's
 * max.message.bytes with a permanent MESSAGE_TOO_LARGE. Kafka's record format (v2): a varint
 * length, attributes, varlong timestamp delta, varint offset delta, key and value as varint
 * length + bytes (null: length -1), then a varint header count and each header's key and value
 * the same way.
 */

/** The broker's default message.max.bytes, which a topic's max.message.bytes inherits unless set. */
export const BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/**
 * Left free below a topic's limit for what surrounds a record: the record batch header (61 bytes)
 * and nothing else when the record goes alone (the writer sends a big record in its own request).
 */
export const RECORD_BATCH_MARGIN = 512;

// The deltas depend on the record's place in its batch: counted at their largest.
const MAX_DELTAS_BYTES = 10 + 5;

/** Bytes of a zigzag varint (int32), as Kafka writes lengths and counts. */
function varintSize(value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  let size = 1;
  while (zigzag >= 0x80) {
    zigzag = Math.floor(zigzag / 0x80);
    size += 1;
  }
  return size;
}

function fieldSize(bytes: Buffer | string | null | undefined): number {
  if (bytes === null || bytes === undefined) return 1;
  const length = typeof bytes === 'string' ? Buffer.byteLength(bytes, 'utf8') : bytes.length;
  return varintSize(length) + length;
}

/** Header values as Kafka counts them (repeated keys are one header each): how many, and their key and value bytes. */
export function headerBytes(name: string, value: HeaderValue): { count: number; bytes: number } {
  if (value === undefined) return { count: 0, bytes: 0 };
  const nameBytes = Buffer.byteLength(name, 'utf8');
  const valueBytes = (v: Buffer | string | null): number => (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length);
  if (!Array.isArray(value)) return { count: 1, bytes: nameBytes + valueBytes(value) };
  let bytes = 0;
  for (const v of value) bytes += nameBytes + valueBytes(v);
  return { count: value.length, bytes };
}

/** The record's size in a record batch: exact but for the two deltas, which are counted at their largest (≤ 13 bytes over). */
export function recordSize(record: OutputRecord): number {
  let count = 0;
  let headers = 0;
  for (const name in record.headers) {
    const value = record.headers[name];
    if (value === undefined) continue;
    const nameSize = fieldSize(name);
    if (!Array.isArray(value)) {
      count += 1;
      headers += nameSize + fieldSize(value);
    } else {
      for (const v of value) headers += nameSize + fieldSize(v);
      count += value.length;
    }
  }
  const body = 1 + MAX_DELTAS_BYTES + fieldSize(record.key) + fieldSize(record.value) + varintSize(count) + headers;
  return varintSize(body) + body;
}

/*
 * Upper bounds from lengths alone (a UTF-8 byte is at most 3 per UTF-16 unit, a varint at most 5
 * bytes): nothing is encoded or measured, so the common small record is cleared cheaply.
 */

function valueBound(value: Buffer | string | null): number {
  return value === null ? 0 : typeof value === 'string' ? 3 * value.length : value.length;
}

/** At least what the header adds to recordSize. */
export function headerSizeBound(name: string, value: HeaderValue): number {
  if (value === undefined) return 0;
  const nameBound = 10 + 3 * name.length;
  if (!Array.isArray(value)) return nameBound + valueBound(value);
  let bytes = 0;
  for (const v of value) bytes += nameBound + valueBound(v);
  return bytes;
}

/** At least recordSize of a record with this key and value and headers whose headerSizeBound add up to `headersBound`. */
export function recordSizeBound(key: Buffer | null, value: Buffer | null, headersBound: number): number {
  return 5 + 1 + MAX_DELTAS_BYTES + 5 + (key?.length ?? 0) + 5 + (value?.length ?? 0) + 5 + headersBound;
}
