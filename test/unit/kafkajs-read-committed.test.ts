import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

/*
 * A read_committed consumer must never see a record of an aborted transaction. kafkajs drops
 * them itself (consumer/filterAbortedMessages.js), from the fetch response's list of aborted
 * transactions. The broker lists those in the order they were aborted, and lists every aborted
 * transaction that overlaps the fetched range, also ones begun before its first offset. kafkajs
 * 2.2.4 entered one of them per message, in list order: with transactions of several producers
 * open at once (an exactly-once scorer writes one per input partition, all fenced together when
 * it dies), records of aborted transactions got through. patches/kafkajs+2.2.4.patch enters
 * every transaction begun by a message's offset, in first-offset order, as the Java client does.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
interface Message {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  batchContext: { producerId: string; inTransaction: boolean };
}
type Filter = (input: { messages: Message[]; abortedTransactions: { producerId: string; firstOffset: string }[] }) => Message[];
const patched = require('kafkajs/src/consumer/filterAbortedMessages') as Filter;
const original = require('../support/kafkajs-2.2.4-reference/filter-aborted-messages') as Filter;

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);
const record = (offset: number, producerId: string, inTransaction = true): Message => ({ offset: String(offset), key: Buffer.from(`k${offset}`), value: Buffer.from(`v${offset}`), batchContext: { producerId, inTransaction } });
const marker = (offset: number, producerId: string, key: Buffer): Message => ({ offset: String(offset), key, value: null, batchContext: { producerId, inTransaction: true } });
const offsets = (messages: Message[]): number[] => messages.map((m) => Number(m.offset));

// Producer 8 began its transaction at 98, producer 7 at 100; 7 was aborted first (marker 105),
// then 8 (marker 106). Producer 9 committed one at 101..104 in between; 10 is not transactional.
const log: Message[] = [
  record(98, '8'),
  record(99, '8'),
  record(100, '7'),
  record(101, '9'),
  record(102, '8'),
  record(103, '7'),
  record(104, '10', false),
  marker(105, '7', ABORT),
  marker(106, '8', ABORT),
  marker(107, '9', COMMIT),
  record(108, '7'),
];
const aborted = [
  { producerId: '7', firstOffset: '100' },
  { producerId: '8', firstOffset: '98' },
];
// Everything but the aborted records (control records are passed on, as before: the consumer drops them later).
const expected = [101, 104, 105, 106, 107, 108];

describe('kafkajs read_committed: records of aborted transactions are dropped', () => {
  it('with transactions of two producers overlapping, listed in the order they were aborted', () => {
    assert.deepEqual(offsets(patched({ messages: log, abortedTransactions: aborted })), expected);
    // kafkajs 2.2.4 as published lets producer 8's first records through:
    assert.deepEqual(offsets(original({ messages: log, abortedTransactions: aborted })), [98, 99, ...expected]);
  });

  it('when the fetch begins inside both transactions', () => {
    const fromMiddle = log.filter((m) => Number(m.offset) >= 102);
    assert.deepEqual(offsets(patched({ messages: fromMiddle, abortedTransactions: aborted })), [104, 105, 106, 107, 108]);
    // The original enters only transaction 7 at offset 102, so producer 8's record 102 gets through.
    assert.deepEqual(offsets(original({ messages: fromMiddle, abortedTransactions: aborted })), [102, 104, 105, 106, 107, 108]);
  });

  it('keeps every record when nothing was aborted, and a producer’s later transaction after its abort marker', () => {
    assert.deepEqual(offsets(patched({ messages: log, abortedTransactions: [] })), offsets(log));
    const later = patched({ messages: log, abortedTransactions: aborted });
    assert.ok(later.some((m) => m.offset === '108' && m.batchContext.producerId === '7'));
  });
});
