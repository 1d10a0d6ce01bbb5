import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KafkaJSProtocolError } from 'kafkajs';
import { addOffsets } from '../../src/kafka/output-writer';

const OFFSETS = { consumerGroupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0, offset: '10' }] }] };

/** A broker error as kafkajs builds it from a response's error code. */
function protocolError(type: string): KafkaJSProtocolError {
  return Object.assign(new KafkaJSProtocolError(type), { type });
}

/** A transaction whose sendOffsets fails with `errors` in turn, then succeeds. */
function transaction(errors: Error[]): { sendOffsets: () => Promise<void>; calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    sendOffsets: async () => {
      calls.push(Date.now());
      const error = errors.shift();
      if (error) throw error;
    },
  };
}

describe('addOffsets: the first call of every transaction', () => {
  it('waits out CONCURRENT_TRANSACTIONS (the previous commit still completing) with short backoffs', async () => {
    const txn = transaction([protocolError('CONCURRENT_TRANSACTIONS'), protocolError('CONCURRENT_TRANSACTIONS')]);
    const started = Date.now();
    await addOffsets(txn, OFFSETS);
    assert.equal(txn.calls.length, 3);
    // 10 ms then 20 ms, not kafkajs' 200 ms first retry.
    assert.ok(Date.now() - started < 150, `took ${Date.now() - started} ms`);
  });

  it('leaves any other error to the batch (classified and retried there)', async () => {
    const txn = transaction([protocolError('NOT_COORDINATOR')]);
    await assert.rejects(addOffsets(txn, OFFSETS), (e: unknown) => (e as { type?: string }).type === 'NOT_COORDINATOR');
    assert.equal(txn.calls.length, 1);
  });

  it('gives up after its time budget instead of waiting forever', async () => {
    const txn = transaction(Array.from({ length: 100 }, () => protocolError('CONCURRENT_TRANSACTIONS')));
    await assert.rejects(addOffsets(txn, OFFSETS, 50), (e: unknown) => (e as { type?: string }).type === 'CONCURRENT_TRANSACTIONS');
    assert.ok(txn.calls.length >= 2 && txn.calls.length < 10, `${txn.calls.length} attempts`);
  });
});
