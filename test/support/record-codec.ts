import { createRequire } from 'node:module';
// kafkajs writes null header values with patches/kafkajs+2.2.4.patch (applied at npm install).
import type { OutputRecord } from '../../src/records';

/**
 * One record through kafkajs' own produce encoding (Produce v3+, the request a sendBatch makes)
 * and back through its fetch-side record batch decoder: what the broker receives and what a
 * consumer reads, without a broker. kafkajs' internals are untyped; these are the parts used.
 */
interface KafkajsEncoder {
  readonly buffer: Buffer;
}
type ProduceRequest = (args: {
  acks: number;
  timeout: number;
  topicData: { topic: string; partitions: { partition: number; messages: OutputRecord[] }[] }[];
}) => { encode(): Promise<KafkajsEncoder> };
interface KafkajsDecoder {
  readString(): string | null;
  readInt16(): number;
  readInt32(): number;
}
type DecoderClass = new (buffer: Buffer) => KafkajsDecoder;
export interface DecodedRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer | null | (Buffer | null)[]>;
}
type RecordBatchDecoder = (decoder: KafkajsDecoder) => Promise<{ records: DecodedRecord[] }>;

const load = createRequire(__filename);
const produceRequest = load('kafkajs/src/protocol/requests/produce/v3/request') as ProduceRequest;
const Decoder = load('kafkajs/src/protocol/decoder') as DecoderClass;
const decodeRecordBatch = load('kafkajs/src/protocol/recordBatch/v0/decoder') as RecordBatchDecoder;

/** Bytes kafkajs adds around the records of one record batch (the v2 batch header). */
export const RECORD_BATCH_HEADER_BYTES = 61;

/** The produce request kafkajs would send for `record` alone (topic "t", partition 0). */
export async function encodeRecordForTest(record: OutputRecord): Promise<Buffer> {
  const request = produceRequest({ acks: -1, timeout: 1_000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [record] }] }] });
  return (await request.encode()).buffer;
}

function readBatch(request: Buffer): { size: number; decoder: KafkajsDecoder } {
  const decoder = new Decoder(request);
  decoder.readString(); // transactional id
  decoder.readInt16(); // acks
  decoder.readInt32(); // timeout
  decoder.readInt32(); // topic count
  decoder.readString(); // topic
  decoder.readInt32(); // partition count
  decoder.readInt32(); // partition
  return { size: decoder.readInt32(), decoder };
}

/** Size of the record batch in the request, as the broker checks it against max.message.bytes. */
export function recordBatchSize(request: Buffer): number {
  return readBatch(request).size;
}

/** The record back from the request's record batch, as a kafkajs consumer would get it. */
export async function decodeRecordForTest(request: Buffer): Promise<DecodedRecord> {
  const { records } = await decodeRecordBatch(readBatch(request).decoder);
  const [record] = records;
  if (!record || records.length !== 1) throw new Error(`expected one record, decoded ${records.length}`);
  return record;
}
