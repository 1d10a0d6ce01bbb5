import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';

/*
 * patches/kafkajs+2.2.4.patch rewrites kafkajs's per-record produce and fetch paths for CPU (exact-size
 * record and batch buffers, varints written in place, slice-by-8 crc32c, 32-bit murmur2, linear
 * grouping per partition, offsets and timestamps without BigInt). The wire bytes and the decoded
 * records must not change: each patched path is compared with the original code, kept in
 * test/support/kafkajs-2.2.4-reference/, and with published check values.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
type Bytes = Buffer | string | null;
type Headers = Record<string, Bytes | Bytes[]>;
interface RecordInput {
  key?: Bytes;
  value?: Bytes;
  headers?: Headers;
  offsetDelta?: number;
  timestampDelta?: number;
}
interface EncoderLike {
  buffer: Buffer;
  buf: Buffer;
  offset: number;
  size(): number;
}
interface EncoderClass {
  new (): EncoderLike & {
    writeVarInt(v: number): EncoderLike;
    writeUVarInt(v: number): EncoderLike;
    writeVarLong(v: unknown): EncoderLike;
  };
  sizeOfVarLong(v: unknown): number;
}
interface DecoderClass {
  new (buffer: Buffer): { readVarInt(): number; readBytes(n: number): Buffer; readVarLong(): { toString(): string }; offset: number };
}
interface BatchInput {
  compression?: number;
  firstOffset?: unknown;
  firstTimestamp?: number | string;
  maxTimestamp?: number | string;
  partitionLeaderEpoch?: number;
  lastOffsetDelta?: number;
  transactional?: boolean;
  producerId?: unknown;
  producerEpoch?: number;
  firstSequence?: number;
  records: EncoderLike[];
}
interface BatchContext {
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp?: string;
  timestampType?: number;
  magicByte?: number;
  isControlBatch?: boolean;
}
type RecordDecoder = (decoder: unknown, context: BatchContext) => Record<string, unknown>;
type ProduceRequest = (args: Record<string, unknown>) => { encode: () => Promise<EncoderLike> };
type RequestEncoder = (args: { correlationId: number; clientId: string | null; request: { apiKey: number; apiVersion: number; encode: () => Promise<EncoderLike> } }) => Promise<EncoderLike>;
type Partitioner = (args: { topic: string; partitionMetadata: { partitionId: number; leader: number }[]; message: { key?: Bytes; partition?: number } }) => number;
type Grouper = (args: { topic: string; partitionMetadata: unknown[]; messages: unknown[]; partitioner: (args: { message: unknown }) => number }) => Record<string, unknown[]>;

const REF = '../support/kafkajs-2.2.4-reference';
const patched = {
  Encoder: require('kafkajs/src/protocol/encoder') as EncoderClass,
  Decoder: require('kafkajs/src/protocol/decoder') as DecoderClass,
  record: require('kafkajs/src/protocol/recordBatch/record/v0') as (r: RecordInput) => EncoderLike,
  recordBatch: (require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (b: BatchInput) => Promise<EncoderLike> }).RecordBatch,
  decodeBatch: require('kafkajs/src/protocol/recordBatch/v0/decoder') as (decoder: unknown) => Promise<BatchContext & { records: Record<string, unknown>[] }>,
  decodeRecord: require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as RecordDecoder,
  crc32C: require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number,
  murmur2: require('kafkajs/src/producer/partitioners/default/murmur2') as (key: Bytes) => number,
  partitioner: require('kafkajs/src/producer/partitioners/legacy/partitioner') as (murmur2: unknown) => () => Partitioner,
  group: require('kafkajs/src/producer/groupMessagesPerPartition') as Grouper,
  produceV3: require('kafkajs/src/protocol/requests/produce/v3/request') as ProduceRequest,
  request: require('kafkajs/src/protocol/request') as RequestEncoder,
};
const reference = {
  Encoder: require(`${REF}/encoder`) as EncoderClass,
  Decoder: require(`${REF}/decoder`) as DecoderClass,
  record: require(`${REF}/record`) as (r: RecordInput) => EncoderLike,
  recordBatch: (require(`${REF}/record-batch`) as { RecordBatch: (b: BatchInput) => Promise<EncoderLike> }).RecordBatch,
  decodeRecord: require(`${REF}/record-decoder`) as RecordDecoder,
  crc32C: require(`${REF}/crc32C-index`) as (b: Buffer) => number,
  murmur2: require(`${REF}/murmur2`) as (key: Bytes) => number,
  partitioner: require(`${REF}/partitioner`) as (murmur2: unknown) => () => Partitioner,
  group: require(`${REF}/group-messages-per-partition`) as Grouper,
  produceV3: require(`${REF}/produce-v3-request`) as ProduceRequest,
  request: require(`${REF}/request`) as RequestEncoder,
};
const Long = require('kafkajs/src/utils/long') as { fromValue(v: unknown): unknown };
const { Types: Compression } = require('kafkajs/src/protocol/message/compression') as { Types: { None: number; GZIP: number } };
const TimestampTypes = require('kafkajs/src/protocol/timestampTypes') as { CREATE_TIME: number; LOG_APPEND_TIME: number };
/* eslint-enable @typescript-eslint/no-require-imports */

const runs = { numRuns: 300 };

/** The outcome of a call: its bytes, or the error it threw (the patch must throw where the original did). */
function outcome(f: () => EncoderLike | Buffer): { bytes: string } | { error: string } {
  try {
    const r = f();
    return { bytes: (Buffer.isBuffer(r) ? r : r.buffer).toString('hex') };
  } catch (error) {
    return { error: (error as Error).constructor.name };
  }
}

const bytesArb: fc.Arbitrary<Bytes> = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 40, unit: 'grapheme' }),
  fc.string({ maxLength: 20, unit: 'binary' }), // lone surrogates, astral characters
);
const headersArb: fc.Arbitrary<Headers> = fc.dictionary(
  fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('traceparent', 'tracestate', 'é', '__proto__', 'toString')),
  fc.oneof(bytesArb, fc.array(bytesArb, { maxLength: 3 })),
  { maxKeys: 5 },
);
const timestampDeltaArb = fc.oneof(
  fc.integer({ min: -1000, max: 100_000 }),
  fc.integer(),
  fc.constantFrom(0, -1, 63, 64, -64, -65, 2 ** 31, -(2 ** 31), 2 ** 48, 2 ** 51, -(2 ** 51), 2 ** 51 + 1, 2 ** 52, -(2 ** 53), Number.MAX_SAFE_INTEGER),
);
const recordArb: fc.Arbitrary<RecordInput> = fc.record(
  { key: bytesArb, value: bytesArb, headers: headersArb, offsetDelta: fc.integer({ min: 0, max: 100_000 }), timestampDelta: timestampDeltaArb },
  { requiredKeys: ['key', 'value'] },
);

describe('kafkajs encoding (patched): the same bytes as kafkajs 2.2.4', () => {
  it('crc32c: the published check values', () => {
    assert.equal(patched.crc32C(Buffer.from('123456789')), 0xe3069283);
    assert.equal(patched.crc32C(Buffer.alloc(0)), 0);
    // RFC 3720 (iSCSI) B.4
    assert.equal(patched.crc32C(Buffer.alloc(32, 0)), 0x8a9136aa);
    assert.equal(patched.crc32C(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(patched.crc32C(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(patched.crc32C(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
  });

  it('crc32c: the byte-at-a-time result for every length and alignment', () => {
    const data = randomBytes(4096 + 16);
    for (let length = 0; length <= 80; length += 1) {
      for (let start = 0; start < 8; start += 1) {
        const slice = data.subarray(start, start + length);
        assert.equal(patched.crc32C(slice), reference.crc32C(slice), `length ${length}, offset ${start}`);
      }
    }
    assert.equal(patched.crc32C(data), reference.crc32C(data));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (a) => patched.crc32C(Buffer.from(a)) === reference.crc32C(Buffer.from(a))), runs);
  });

  it("murmur2: Kafka's own test vectors, and the Long version's hash for any key", () => {
    // org.apache.kafka.common.utils.UtilsTest#testMurmur2
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of cases) {
      assert.equal(patched.murmur2(Buffer.from(key)), hash, key);
      assert.equal(reference.murmur2(Buffer.from(key)), hash, key);
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (a) => patched.murmur2(Buffer.from(a)) === reference.murmur2(Buffer.from(a))), runs);
    fc.assert(fc.property(fc.string({ maxLength: 50, unit: 'binary' }), (s) => patched.murmur2(s) === reference.murmur2(s)), runs);
  });

  it('varints and varlongs: same bytes, same sizes, same errors', () => {
    const ints = fc.oneof(fc.integer(), fc.integer({ min: -200, max: 200 }), fc.constantFrom(0, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 32, 2 ** 40, -(2 ** 40), 1.5, NaN));
    fc.assert(
      fc.property(ints, (v) => {
        assert.deepEqual(
          outcome(() => new patched.Encoder().writeVarInt(v)),
          outcome(() => new reference.Encoder().writeVarInt(v)),
        );
        assert.deepEqual(
          outcome(() => new patched.Encoder().writeUVarInt(v)),
          outcome(() => new reference.Encoder().writeUVarInt(v)),
        );
      }),
      runs,
    );
    const longs = fc.oneof(
      timestampDeltaArb,
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b) => Number(b)),
      fc.constantFrom(2 ** 53, -(2 ** 53) - 2, 2 ** 60, 1.5, -0, NaN, Infinity),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b) => Long.fromValue(b)),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((b) => b.toString()),
    );
    fc.assert(
      fc.property(longs, (v) => {
        assert.deepEqual(
          outcome(() => new patched.Encoder().writeVarLong(v)),
          outcome(() => new reference.Encoder().writeVarLong(v)),
        );
        let size: number | string;
        try {
          size = patched.Encoder.sizeOfVarLong(v);
        } catch (error) {
          size = (error as Error).constructor.name;
        }
        let referenceSize: number | string;
        try {
          referenceSize = reference.Encoder.sizeOfVarLong(v);
        } catch (error) {
          referenceSize = (error as Error).constructor.name;
        }
        assert.equal(size, referenceSize);
      }),
      runs,
    );
  });

  it('records: same bytes for any key, value, headers (null, repeated, non-ASCII), deltas', () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        assert.deepEqual(
          outcome(() => patched.record(r)),
          outcome(() => reference.record(r)),
        );
      }),
      { numRuns: 1000 },
    );
    // flatMap skipped the holes of a sparse header array; undefined values still throw as before
    const sparse: Bytes[] = [Buffer.from('x')];
    sparse[2] = 'y';
    for (const headers of [{ a: sparse, b: 'z' }, { a: [undefined] }, { a: undefined }] as unknown as Headers[]) {
      assert.deepEqual(
        outcome(() => patched.record({ key: null, value: Buffer.from('v'), headers })),
        outcome(() => reference.record({ key: null, value: Buffer.from('v'), headers })),
      );
    }
    assert.ok('bytes' in outcome(() => patched.record({ key: null, value: null, headers: { a: sparse } })));
  });

  it('record batches: same bytes, CRC included (uncompressed and gzip, idempotent and transactional, empty)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { maxLength: 40 }),
        fc.record({
          compression: fc.constantFrom(Compression.None, Compression.None, Compression.GZIP),
          firstTimestamp: fc.constantFrom(1764560000000, 0, '1764560000123'),
          transactional: fc.boolean(),
          producerId: fc.constantFrom(-1, 4711, '9007199254740993'),
          producerEpoch: fc.integer({ min: 0, max: 32767 }),
          firstSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          partitionLeaderEpoch: fc.integer({ min: 0, max: 100 }),
        }),
        async (records, settings) => {
          const safe = records.filter((r) => 'bytes' in outcome(() => reference.record(r)));
          const input = (encode: (r: RecordInput) => EncoderLike): BatchInput => ({
            ...settings,
            producerId: Long.fromValue(settings.producerId),
            maxTimestamp: settings.firstTimestamp,
            lastOffsetDelta: safe.length - 1,
            records: safe.map((r, i) => encode({ ...r, offsetDelta: i })),
          });
          const mine = await patched.recordBatch(input(patched.record));
          const theirs = await reference.recordBatch(input(reference.record));
          assert.equal(mine.buffer.toString('hex'), theirs.buffer.toString('hex'));
          assert.equal(mine.size(), theirs.size());
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('kafkajs produce requests (patched): the same bytes as kafkajs 2.2.4', () => {
  const messageArb = fc.record(
    { key: bytesArb, value: bytesArb, headers: headersArb, timestamp: fc.constantFrom('1764560000000', '1764560000042', 1764560000007, '1764559999000') },
    { requiredKeys: ['value'] },
  );
  const topicDataArb = fc.array(
    fc.record({
      topic: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom('predictions', 'dead-letters', 'é-topic')),
      partitions: fc.array(fc.record({ partition: fc.nat({ max: 50 }), firstSequence: fc.nat(), messages: fc.array(messageArb, { minLength: 1, maxLength: 25 }) }), { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 1, maxLength: 3 },
  );

  it('whole produce requests (size, header, topics, partitions, batches): same bytes', async () => {
    const now = Date.now;
    Date.now = () => 1764560000500; // messages without a timestamp get Date.now()
    try {
      await fc.assert(
        fc.asyncProperty(
          topicDataArb,
          fc.record({
            acks: fc.constantFrom(-1, 0, 1),
            timeout: fc.nat({ max: 60_000 }),
            transactionalId: fc.constantFrom(null, 'stream-scorer-tx-1', 'tx-é'),
            producerId: fc.constantFrom(-1, 1000, '9007199254740993'),
            producerEpoch: fc.nat({ max: 100 }),
            compression: fc.constantFrom(Compression.None, Compression.None, Compression.GZIP),
          }),
          fc.constantFrom<string | null>('stream-scorer', 'bench-ceiling', null),
          fc.nat(),
          async (topicData, settings, clientId, correlationId) => {
            const valid = topicData.every((t) => t.partitions.every((p) => p.messages.every((m) => 'bytes' in outcome(() => reference.record(m)))));
            if (!valid) return;
            const args = { ...settings, producerId: Long.fromValue(settings.producerId), topicData };
            const encode = async (impl: typeof patched | typeof reference): Promise<string> => {
              const request = impl.produceV3(args);
              const bytes = await impl.request({ correlationId, clientId, request: { apiKey: 0, apiVersion: 7, encode: request.encode } });
              return bytes.buffer.toString('hex');
            };
            assert.equal(await encode(patched), await encode(reference));
          },
        ),
        { numRuns: 100 },
      );
    } finally {
      Date.now = now;
    }
  });
});

describe('kafkajs decoding (patched): the same records as kafkajs 2.2.4', () => {
  function recordContext(bytes: Buffer): { decoder: () => unknown } {
    return {
      decoder: () => {
        const outer = new patched.Decoder(bytes);
        const length = outer.readVarInt();
        return new patched.Decoder(outer.readBytes(length));
      },
    };
  }

  it('decodes what it encoded, batch by batch, as the original record decoder does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(recordArb, { minLength: 1, maxLength: 30 }),
        fc.constantFrom('0', '41', '9007199254740000', '9007199254740990', '9223372036854775000'),
        async (records, firstOffset) => {
          const safe = records.filter((r) => 'bytes' in outcome(() => reference.record(r)));
          if (safe.length === 0) return;
          const firstTimestamp = 1764560000000;
          const batch = await patched.recordBatch({
            firstOffset: Long.fromValue(firstOffset),
            firstTimestamp,
            maxTimestamp: firstTimestamp + 5,
            lastOffsetDelta: safe.length - 1,
            records: safe.map((r, i) => patched.record({ ...r, offsetDelta: i })),
          });
          const decoded = await patched.decodeBatch(new patched.Decoder(batch.buffer));
          assert.equal(decoded.firstOffset, firstOffset);
          assert.equal(decoded.records.length, safe.length);
          // The original record decoder, on the same record bytes with the same batch context
          const original = safe.map((r, i) => {
            const bytes = patched.record({ ...r, offsetDelta: i }).buffer;
            const outer = new reference.Decoder(bytes);
            const length = outer.readVarInt();
            return reference.decodeRecord(new reference.Decoder(outer.readBytes(length)), decoded.records[i]?.batchContext as BatchContext);
          });
          decoded.records.forEach((record, i) => {
            const expected = original[i] as Record<string, unknown>;
            assert.deepStrictEqual(record, expected);
            assert.equal(Object.getPrototypeOf(record.headers), Object.getPrototypeOf(expected.headers));
            assert.deepEqual(Object.keys(record.headers as object), Object.keys(expected.headers as object));
            assert.equal(record.offset, (BigInt(firstOffset) + BigInt(i)).toString());
            const value = safe[i]?.value;
            if (value === null || value === undefined) assert.equal(record.value, null);
            else assert.deepEqual(record.value, Buffer.from(value));
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it('offsets and timestamps beyond 2^53, negative, log-append time: the same strings as the Long arithmetic', () => {
    const contexts: BatchContext[] = [
      { firstOffset: '0', firstTimestamp: '1764560000000' },
      { firstOffset: '9007199254740991', firstTimestamp: '9007199254740991' },
      { firstOffset: '9223372036854775800', firstTimestamp: '-9223372036854775000' },
      { firstOffset: '-1', firstTimestamp: '-1' },
      { firstOffset: '0', firstTimestamp: '1', maxTimestamp: '1764560000999', timestampType: TimestampTypes.LOG_APPEND_TIME },
      { firstOffset: '12', firstTimestamp: '1', maxTimestamp: '1764560000999', timestampType: TimestampTypes.CREATE_TIME },
    ];
    fc.assert(
      fc.property(fc.constantFrom(...contexts), recordArb, fc.integer({ min: 0, max: 2 ** 31 - 1 }), (context, r, offsetDelta) => {
        const encoded = outcome(() => reference.record({ ...r, offsetDelta }));
        if (!('bytes' in encoded)) return;
        const bytes = Buffer.from(encoded.bytes, 'hex');
        const mine = patched.decodeRecord(recordContext(bytes).decoder(), context);
        const outer = new reference.Decoder(bytes);
        const theirs = reference.decodeRecord(new reference.Decoder(outer.readBytes(outer.readVarInt())), context);
        assert.deepStrictEqual(mine, theirs);
      }),
      { numRuns: 500 },
    );
  });

  it('varint strings (header keys): the same strings, also for lengths past the end', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), fc.integer({ min: -3, max: 80 }), (bytes, length) => {
        const buffer = Buffer.concat([new reference.Encoder().writeVarInt(length).buffer, Buffer.from(bytes)]);
        const mine = new patched.Decoder(buffer) as unknown as { readVarIntString(): string | null; offset: number };
        const theirs = new reference.Decoder(buffer) as unknown as { readVarIntString(): string | null; offset: number };
        assert.equal(mine.readVarIntString(), theirs.readVarIntString());
        assert.equal(mine.offset, theirs.offset);
      }),
      runs,
    );
  });

  it('a varlong timestamp delta of 8 or more bytes, and a truncated one, read as the original reads them', () => {
    for (const delta of [2 ** 48, -(2 ** 48), 2 ** 55, 2 ** 62, -(2 ** 62)]) {
      const bytes = new reference.Encoder().writeVarLong(delta).buffer;
      const mine = new patched.Decoder(bytes);
      const theirs = new reference.Decoder(bytes);
      assert.equal(mine.readVarLong().toString(), theirs.readVarLong().toString());
    }
    const truncated = Buffer.from([0x80, 0x80]);
    const mine = new patched.Decoder(truncated);
    const theirs = new reference.Decoder(truncated);
    const readMine = mine as unknown as { readVarLongAsNumber(): number | null };
    assert.equal(readMine.readVarLongAsNumber(), null);
    assert.equal(mine.offset, 0);
    assert.equal(mine.readVarLong().toString(), theirs.readVarLong().toString());
  });
});

describe('kafkajs producer partitioning (patched): the same partitions as kafkajs 2.2.4', () => {
  const partitionMetadata = [0, 1, 2, 3, 4, 5].map((partitionId) => ({ partitionId, leader: partitionId === 4 ? -1 : 1 }));

  it('keyed and explicit-partition messages go where they went', () => {
    const mine = patched.partitioner(patched.murmur2)();
    const theirs = reference.partitioner(reference.murmur2)();
    fc.assert(
      fc.property(fc.oneof(fc.record({ key: bytesArb.filter((k) => k !== null) }), fc.record({ partition: fc.integer({ min: 0, max: 5 }), key: bytesArb })), (message) => {
        assert.equal(mine({ topic: 't', partitionMetadata, message }), theirs({ topic: 't', partitionMetadata, message }));
      }),
      runs,
    );
  });

  it('keyless messages still go round-robin over partitions with a leader', () => {
    const mine = patched.partitioner(patched.murmur2)();
    const seen = new Set<number>();
    for (let i = 0; i < 50; i += 1) seen.add(mine({ topic: 't', partitionMetadata, message: { key: null } }));
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 5]);
  });

  it('groups messages per partition in order, as before', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ id: fc.nat(), partition: fc.integer({ min: 0, max: 7 }) }), { maxLength: 200 }), (messages) => {
        const args = { topic: 't', partitionMetadata: [{}], messages, partitioner: ({ message }: { message: unknown }) => (message as { partition: number }).partition };
        const mine = patched.group(args);
        assert.deepStrictEqual(mine, reference.group(args));
        assert.deepEqual(Object.keys(mine), Object.keys(reference.group(args)));
      }),
      runs,
    );
    assert.deepStrictEqual(patched.group({ topic: 't', partitionMetadata: [], messages: [{}], partitioner: () => 0 }), {});
  });
});

describe('kafkajs request queue (patched)', () => {
  it('schedules its idle pending-requests check without a negative delay (Node 24 warns: TimeoutNegativeWarning)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- kafkajs' internals have no typed entry point
    const RequestQueue = require('kafkajs/src/network/requestQueue') as new (options: Record<string, unknown>) => { scheduleCheckPendingRequests(): void; throttleCheckTimeoutId: NodeJS.Timeout | null };
    const noop = (): void => undefined;
    const logger = { debug: noop, info: noop, warn: noop, error: noop, namespace: () => logger };
    const queue = new RequestQueue({ instrumentationEmitter: { emit: noop }, maxInFlightRequests: 1, requestTimeout: 1000, enforceRequestTimeout: false, clientId: 'test', broker: 'b:1', logger });
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      queue.scheduleCheckPendingRequests(); // nothing pending, not throttled: throttledUntil - now < 0
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('warning', onWarning);
      if (queue.throttleCheckTimeoutId) clearTimeout(queue.throttleCheckTimeoutId);
    }
    assert.deepEqual(warnings.filter((name) => name === 'TimeoutNegativeWarning'), []);
  });
});
