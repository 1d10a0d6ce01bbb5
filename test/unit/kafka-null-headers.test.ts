import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

/*
 * Kafka allows a null header value, and a dead letter keeps the original headers as they came.
 * kafkajs 2.2.4 measured every header value with Buffer.byteLength before checking for null, so
 * encoding such a record threw (kafkajs#1789); patches/kafkajs+2.2.4.patch (applied by
 * `postinstall: patch-package`) fixes it. This fails if the patch is not applied.
 */
type RecordEncoder = (record: { key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | string | null | (Buffer | string | null)[]> }) => { buffer: Buffer };
type RecordDecoder = (decoder: unknown, batchContext: { firstOffset: string; firstTimestamp: string }) => Promise<{ headers: Record<string, Buffer | null | (Buffer | null)[]> }>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as RecordEncoder;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const decodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as RecordDecoder;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => { readVarInt(): number; readBytes(n: number): Buffer };

describe('kafkajs record encoding (patched)', () => {
  it('writes null header values as null, next to empty and non-empty ones, and reads them back', async () => {
    const { buffer } = encodeRecord({ key: Buffer.from('k'), value: null, headers: { traceparent: null, empty: Buffer.alloc(0), text: 'x', repeated: [null, 'y'] } });
    const outer = new Decoder(buffer);
    const length = outer.readVarInt();
    const record = await decodeRecord(new Decoder(outer.readBytes(length)), { firstOffset: '0', firstTimestamp: '0' });
    assert.equal(record.headers.traceparent, null);
    assert.deepEqual(record.headers.empty, Buffer.alloc(0));
    assert.deepEqual(record.headers.text, Buffer.from('x'));
    assert.deepEqual(record.headers.repeated, [null, Buffer.from('y')]);
  });
});
