import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { MAX_MESSAGE_CHARS, reject } from '../../src/errors';
import { deadLetterRecord } from '../../src/output/dead-letter';
import { H } from '../../src/output/headers';
import { RECORD_BATCH_MARGIN, recordSize } from '../../src/output/record-size';
import { type PipelineDeps, processBatch } from '../../src/pipeline';
import type { Headers, OutputRecord, SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { createLogger } from '../../src/telemetry/logger';
import { referenceCases, testConfig } from '../support/model';
import { RECORD_BATCH_HEADER_BYTES, decodeRecordForTest, encodeRecordForTest, recordBatchSize } from '../support/record-codec';

/**
 * A dead letter bigger than the dead-letter topic's max.message.bytes is refused by the broker
 * (MESSAGE_TOO_LARGE, permanent): the service stopped, and stopped again after every restart on
 * the same record. A dead letter must always fit, saying what it left out.
 */
const MiB = 1024 * 1024;
const ctx = { consumerGroup: 'g', modelName: 'card-fraud', modelVersion: '1.0.0', maxRecordBytes: MiB };
const TRACE = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

function source(value: Buffer | null, headers: Headers = {}, key: Buffer | null = Buffer.from('card-1')): SourceMessage {
  return { topic: 'payments', partition: 2, offset: '48213', key, value, headers, timestamp: '1767225600000' };
}

/** The record batch the broker would get for this record alone, as kafkajs encodes it. */
async function batchBytes(record: OutputRecord): Promise<number> {
  return recordBatchSize(await encodeRecordForTest(record));
}

async function assertFits(record: OutputRecord, limit: number): Promise<void> {
  const bytes = await batchBytes(record);
  assert.ok(bytes <= limit, `record batch of ${bytes} bytes, limit ${limit}`);
}

function assertSourceHeaders(record: OutputRecord): void {
  assert.equal(record.headers[H.sourceTopic], 'payments');
  assert.equal(record.headers[H.sourcePartition], '2');
  assert.equal(record.headers[H.sourceOffset], '48213');
}

describe('record size as the broker counts it', () => {
  it('is never below what kafkajs encodes, and at most a few bytes above', async () => {
    const records: OutputRecord[] = [
      { key: null, value: null, headers: {} },
      { key: Buffer.from('k'), value: Buffer.alloc(300), headers: { a: 'x', b: Buffer.alloc(200), c: null, d: ['é', null, Buffer.from('z')] } },
      { key: Buffer.alloc(70_000), value: Buffer.alloc(MiB), headers: { 'ünïcode': '€'.repeat(1_000), n: [null, null] } },
      { key: Buffer.from('k'), value: Buffer.alloc(20), headers: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`h${i}`, 'v'.repeat(i)])) },
    ];
    for (const record of records) {
      const encoded = (await batchBytes(record)) - RECORD_BATCH_HEADER_BYTES;
      const counted = recordSize(record);
      assert.ok(counted >= encoded && counted <= encoded + 16, `counted ${counted}, kafkajs encodes ${encoded}`);
    }
  });
});

describe('reason messages are capped', () => {
  it('caps every message, not only the value', () => {
    const rejection = reject('MODEL_ERROR', `onnxruntime failed: ${'x'.repeat(600_000)}`);
    assert.ok(rejection.message.length <= MAX_MESSAGE_CHARS + 1, `${rejection.message.length} chars`);
    assert.ok(rejection.message.endsWith('…'));
    assert.equal(reject('MODEL_ERROR', 'short').message, 'short');
  });

  it('does not cut a surrogate pair in half', () => {
    const rejection = reject('MODEL_ERROR', `${'x'.repeat(MAX_MESSAGE_CHARS - 1)}😀 tail`);
    assert.ok(!/[\ud800-\udbff]…$/.test(rejection.message), 'no lone high surrogate before the ellipsis');
  });
});

describe('dead letters that would not fit the dead-letter topic', () => {
  it('leaves out the value of a 1 MiB undecodable input and says so', async () => {
    const value = Buffer.alloc(MiB, 0xff);
    const input = source(value, { 'x-origin': Buffer.from([0x00, 0xfe]), traceparent: Buffer.from(TRACE.traceparent) });
    const record = deadLetterRecord(input, reject('UNDECODABLE_AVRO', 'invalid union index'), ctx, TRACE, 0);
    await assertFits(record, MiB);
    assert.equal(record.value?.length, 0, 'value left out (empty, not null: null would read as a tombstone)');
    assert.equal(record.headers[H.valueTruncated], 'true');
    assert.equal(record.headers[H.valueOriginalSize], String(MiB));
    assert.ok(Buffer.isBuffer(record.headers['x-origin']), 'original headers kept when they fit');
    assert.equal(record.headers[H.reasonCode], 'UNDECODABLE_AVRO');
    assert.equal(record.key?.toString(), 'card-1');
    assert.equal(record.timestamp, '1767225600000');
    assertSourceHeaders(record);
    assert.equal(input.value, value, 'the input is not modified');
  });

  it('keeps a value that fits to the byte, and leaves out one a byte bigger', async () => {
    const probe = deadLetterRecord(source(Buffer.alloc(0)), reject('UNDECODABLE_AVRO', 'm'), ctx, TRACE, 0);
    // The value's length prefix grows from 1 to 3 bytes, the record's own from 2 to 3.
    const room = MiB - RECORD_BATCH_MARGIN - recordSize(probe) - 3;
    const fits = deadLetterRecord(source(Buffer.alloc(room)), reject('UNDECODABLE_AVRO', 'm'), ctx, TRACE, 0);
    assert.equal(recordSize(fits), MiB - RECORD_BATCH_MARGIN);
    assert.equal(fits.value?.length, room);
    assert.equal(fits.headers[H.valueTruncated], undefined);
    await assertFits(fits, MiB);
    const misses = deadLetterRecord(source(Buffer.alloc(room + 1)), reject('UNDECODABLE_AVRO', 'm'), ctx, TRACE, 0);
    assert.equal(misses.value?.length, 0);
    assert.equal(misses.headers[H.valueTruncated], 'true');
  });

  it('drops the original headers when they alone are too big, counting them', async () => {
    const headers = { big: Buffer.alloc(700_000), other: [Buffer.alloc(500_000), null], small: Buffer.from('s') };
    const record = deadLetterRecord(source(Buffer.from([0x01, 0x02]), headers), reject('UNDECODABLE_AVRO', 'm'), ctx, TRACE, 0);
    await assertFits(record, MiB);
    assert.deepEqual(record.value, Buffer.from([0x01, 0x02]), 'the small value is kept');
    assert.equal(record.headers.big, undefined);
    assert.equal(record.headers.small, undefined);
    assert.equal(record.headers[H.headersDroppedCount], '4');
    assert.equal(record.headers[H.headersDroppedSize], String(700_000 + 500_000 + 1 + 'big'.length + 2 * 'other'.length + 'small'.length));
    assert.equal(record.headers[H.valueTruncated], undefined);
    assert.equal(record.headers[H.reasonCode], 'UNDECODABLE_AVRO');
    assertSourceHeaders(record);
  });

  it('drops both when neither alone is enough, and then the key', async () => {
    const input = source(Buffer.alloc(MiB), { big: Buffer.alloc(MiB) }, Buffer.alloc(50_000));
    const roomy = deadLetterRecord(input, reject('UNDECODABLE_AVRO', 'm'), { ...ctx, maxRecordBytes: 3 * MiB }, TRACE, 0);
    assert.equal(roomy.value, input.value, '3 MiB: everything fits');
    const record = deadLetterRecord(input, reject('UNDECODABLE_AVRO', 'm'), ctx, TRACE, 0);
    await assertFits(record, MiB);
    assert.equal(record.value?.length, 0);
    assert.equal(record.headers[H.valueTruncated], 'true');
    assert.equal(record.headers[H.headersDroppedCount], '1');
    assert.equal(record.key?.length, 50_000, 'the key is kept while the rest fits');
    const tight = deadLetterRecord(input, reject('UNDECODABLE_AVRO', 'm'), { ...ctx, maxRecordBytes: 40_000 }, TRACE, 0);
    await assertFits(tight, 40_000);
    assert.equal(tight.key, null);
    assert.equal(tight.headers[H.keyTruncated], 'true');
    assert.equal(tight.headers[H.keyOriginalSize], '50000');
    assertSourceHeaders(tight);
  });

  it('leaves a dead letter that fits exactly as it was', () => {
    const value = Buffer.alloc(1_000);
    const record = deadLetterRecord(source(value, { a: null }), reject('UNDECODABLE_AVRO', 'm'), ctx, TRACE, 0);
    assert.equal(record.value, value, 'the same bytes, not a copy');
    assert.equal(record.headers.a, null);
    for (const name of [H.valueTruncated, H.valueOriginalSize, H.headersDroppedCount, H.headersDroppedSize, H.keyTruncated]) assert.equal(record.headers[name], undefined);
  });

  it('without a limit in the context, the broker default applies', async () => {
    const { maxRecordBytes: _limit, ...noLimit } = ctx;
    const record = deadLetterRecord(source(Buffer.alloc(MiB)), reject('UNDECODABLE_AVRO', 'm'), noLimit, TRACE, 0);
    await assertFits(record, 1_048_588);
    assert.equal(record.headers[H.valueTruncated], 'true');
  });
});

describe('oversized events through processBatch', () => {
  let deps: PipelineDeps;
  before(async () => {
    const prepared = await prepare(testConfig({ SCORE_BATCH_MAX_EVENTS: '4' }), createLogger('silent'));
    deps = { ...prepared, deadLetter: { ...prepared.deadLetter, maxRecordBytes: MiB }, tracer: trace.getTracer('test'), recordSpans: false };
  });

  it('a 600 KB unknown category: the message is capped, the value kept, the dead letter fits', async () => {
    const events = referenceCases().map((c) => c.event);
    const huge = 'q'.repeat(600_000);
    const value = deps.decoder.reader.toBuffer({ ...events[0], channel: huge });
    const messages: SourceMessage[] = [
      { ...source(value), offset: '1' },
      { ...source(deps.decoder.reader.toBuffer(events[1])), offset: '2' },
      { ...source(Buffer.alloc(MiB, 0xff)), offset: '3' },
    ];
    const processed = await processBatch(deps, messages);
    processed.finish();
    assert.equal(processed.predictions.length, 1);
    assert.equal(processed.deadLetters.length, 2);
    const [unknown, undecodable] = processed.deadLetters as [OutputRecord, OutputRecord];
    assert.equal(unknown.headers[H.reasonCode], 'UNKNOWN_CATEGORY');
    assert.equal(unknown.headers[H.reasonField], 'channel');
    assert.ok(String(unknown.headers[H.reasonMessage]).length <= MAX_MESSAGE_CHARS + 1, `message of ${String(unknown.headers[H.reasonMessage]).length} chars`);
    assert.match(String(unknown.headers[H.reasonMessage]), /is not a category the model knows for "channel"/, 'the message still says what is wrong');
    assert.equal(String(unknown.headers[H.reasonValue]).length, 201);
    assert.equal(unknown.value, value, 'the value is kept byte for byte');
    assert.equal(unknown.headers[H.valueTruncated], undefined);
    await assertFits(unknown, MiB);
    assert.equal(undecodable.headers[H.reasonCode], 'UNDECODABLE_AVRO');
    assert.equal(undecodable.headers[H.valueTruncated], 'true');
    await assertFits(undecodable, MiB);
    const decoded = await decodeRecordForTest(await encodeRecordForTest(undecodable));
    assert.equal(String(decoded.headers[H.sourceOffset]), '3', 'where to read the original back');
  });
});
