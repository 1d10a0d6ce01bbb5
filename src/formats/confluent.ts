/**
 * The Confluent wire format: magic byte 0, the writer schema's registry id as a 4-byte big-endian
 * int, then the Avro body. What Confluent's serializers, Kafka Connect's AvroConverter, Debezium
 * and Apicurio in its Confluent-compatible mode write.
 */
export const MAGIC_BYTE = 0;
export const FRAME_BYTES = 5;

/** The schema id of a framed value, or why the value is not framed (-1 and the reason). */
export function frameSchemaId(value: Buffer): number | string {
  if (value.length < FRAME_BYTES) return `${value.length} bytes is shorter than the 5-byte Confluent header (magic byte 0 and a 4-byte schema id)`;
  const magic = value[0] as number;
  if (magic !== MAGIC_BYTE) return `not Confluent framing: the first byte is ${magic}, not the magic byte 0 (plain Avro? then INPUT_FORMAT=avro)`;
  return value.readInt32BE(1);
}

/**
 * Reads predictions as OUTPUT_FORMAT writes them (the scorer's own PREDICTION_SCHEMA either way),
 * for verify and drift. With confluent, a value that is not framed, or whose body does not decode,
 * is read as plain Avro: a topic written before OUTPUT_FORMAT changed holds both.
 */
export function predictionReader(type: { fromBuffer(buffer: Buffer): unknown }, format: 'avro' | 'confluent'): { fromBuffer(value: Buffer): unknown } {
  if (format === 'avro') return type;
  return {
    fromBuffer(value) {
      if (typeof frameSchemaId(value) === 'number') {
        try {
          return type.fromBuffer(value.subarray(FRAME_BYTES));
        } catch {
          // not a framed prediction after all: a plain one whose first byte is 0
        }
      }
      return type.fromBuffer(value);
    },
  };
}

// One scratch buffer: a framed value is encoded in place behind its header and copied out once.
let scratch = Buffer.allocUnsafe(64 * 1024);

/** Avro-encodes `value` with `type` behind a Confluent header for `schemaId`: one allocation. */
export function encodeFramed(type: { encode(value: unknown, buffer: Buffer, position: number): number }, schemaId: number, value: unknown): Buffer {
  for (;;) {
    const end = type.encode(value, scratch, FRAME_BYTES);
    if (end >= 0) {
      const out = Buffer.allocUnsafe(end);
      scratch.copy(out, 0, 0, end);
      out[0] = MAGIC_BYTE;
      out.writeInt32BE(schemaId, 1);
      return out;
    }
    // avsc answers how much more room it needed, as a negative position.
    scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, FRAME_BYTES - end));
  }
}
