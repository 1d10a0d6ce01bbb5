import { createRequire } from 'node:module';

/**
 * kafkajs 2.2.4 reads a null header value (Kafka allows one: length -1) as null, but cannot
 * write one: its record encoder sizes every header value with Buffer.byteLength before looking
 * for null, which throws a TypeError (tulios/kafkajs#1789; the one-line fix, #1786, is not
 * released and kafkajs is in maintenance mode). A dead letter keeps its input's headers as
 * received, so until kafkajs writes null itself, this module puts a record encoder with that
 * fix in place of kafkajs' own. Records without a null header value still go through kafkajs'
 * encoder unchanged.
 *
 * It must run before kafkajs builds its first produce request (Produce v3 captures the record
 * encoder when it is first loaded): src/kafka/client.ts imports it first, and it refuses to load
 * too late rather than leave null headers failing at the first dead letter.
 */

type Bytes = Buffer | string | null | undefined;
type HeaderInput = Record<string, Bytes | Bytes[]>;

interface RecordInput {
  readonly offsetDelta?: number;
  readonly timestampDelta?: number;
  readonly key?: Bytes;
  readonly value?: Bytes;
  readonly headers?: HeaderInput;
}

/** The part of kafkajs' protocol Encoder (src/protocol/encoder.js) this uses. */
interface Encoder {
  writeVarInt(value: number): Encoder;
  writeInt8(value: number): Encoder;
  writeVarLong(value: number): Encoder;
  writeVarIntBytes(value: Bytes): Encoder;
  writeVarIntArray(values: Encoder[]): Encoder;
}
interface EncoderClass {
  new (): Encoder;
  sizeOfVarInt(value: number): number;
  sizeOfVarLong(value: number): number;
  sizeOfVarIntBytes(value: Bytes): number;
}
type RecordEncoder = ((record: RecordInput) => Encoder) & { nullHeaderValues?: true };
type HeaderEncoder = (header: { key: string; value: Bytes }) => Encoder;

const load = createRequire(__filename);
const RECORD_MODULE = 'kafkajs/src/protocol/recordBatch/record/v0';
const PRODUCE_V3_MODULE = 'kafkajs/src/protocol/requests/produce/v3/request';

function hasNullValue(headers: HeaderInput | undefined): boolean {
  for (const name in headers) {
    const value = headers[name];
    if (value === null || (Array.isArray(value) && value.includes(null))) return true;
  }
  return false;
}

function install(): void {
  const original = load(RECORD_MODULE) as RecordEncoder;
  if (original.nullHeaderValues) return;
  const cached = load.cache[load.resolve(RECORD_MODULE)];
  if (!cached) throw new Error(`${RECORD_MODULE} is not in the module cache: cannot support null header values`);
  if (load.cache[load.resolve(PRODUCE_V3_MODULE)]) {
    throw new Error('kafkajs built a produce request before src/kafka/null-header-values.ts was loaded: import it before anything produces');
  }
  const Encoder = load('kafkajs/src/protocol/encoder') as EncoderClass;
  const Header = load('kafkajs/src/protocol/recordBatch/header/v0') as HeaderEncoder;

  // kafkajs' record/v0/index.js, with the header value sized by sizeOfVarIntBytes (null: length -1).
  const withNullHeaders = ({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: RecordInput): Encoder => {
    const headerList: { key: string; value: Bytes }[] = [];
    for (const name of Object.keys(headers)) {
      const v = headers[name];
      if (Array.isArray(v)) for (const item of v) headerList.push({ key: name, value: item });
      else headerList.push({ key: name, value: v });
    }
    let headersSize = Encoder.sizeOfVarInt(headerList.length);
    for (const header of headerList) headersSize += Encoder.sizeOfVarIntBytes(header.key) + Encoder.sizeOfVarIntBytes(header.value);
    const bodySize = 1 + Encoder.sizeOfVarLong(timestampDelta) + Encoder.sizeOfVarInt(offsetDelta) + Encoder.sizeOfVarIntBytes(key) + Encoder.sizeOfVarIntBytes(value) + headersSize;
    return new Encoder()
      .writeVarInt(bodySize)
      .writeInt8(0)
      .writeVarLong(timestampDelta)
      .writeVarInt(offsetDelta)
      .writeVarIntBytes(key)
      .writeVarIntBytes(value)
      .writeVarIntArray(headerList.map(Header));
  };
  const encoder: RecordEncoder = (record) => (hasNullValue(record.headers) ? withNullHeaders(record) : original(record));
  encoder.nullHeaderValues = true;
  cached.exports = encoder;
}

install();
