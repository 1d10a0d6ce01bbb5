import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRange, resolveRange } from '../../src/batch/range';

const marks = [
  { partition: 0, low: 0n, high: 100n },
  { partition: 1, low: 40n, high: 60n },
  { partition: 2, low: 0n, high: 0n },
];
const noTime = async (): Promise<ReadonlyMap<number, bigint>> => new Map();

describe('backfill ranges', () => {
  it('defaults to each partition from its first offset to the end offset seen now', async () => {
    assert.deepEqual(await resolveRange(parseRange({}), marks, noTime), [
      { partition: 0, start: 0n, end: 100n },
      { partition: 1, start: 40n, end: 60n },
      { partition: 2, start: 0n, end: 0n },
    ]);
  });

  it('offsets for all partitions or per partition, clamped to what exists; never past the end seen now', async () => {
    const range = parseRange({ 'from-offset': '10', 'to-offset': '0:50,1:500' });
    assert.deepEqual(await resolveRange(range, marks, noTime), [
      { partition: 0, start: 10n, end: 50n },
      { partition: 1, start: 40n, end: 60n },
      { partition: 2, start: 0n, end: 0n },
    ]);
    assert.deepEqual(await resolveRange(parseRange({ 'from-offset': '70', 'to-offset': '20' }), marks.slice(0, 1), noTime), [{ partition: 0, start: 70n, end: 70n }]);
  });

  it('times: the first offset at or after each time, from the broker', async () => {
    const asked: number[] = [];
    const byTime = async (ms: number): Promise<ReadonlyMap<number, bigint>> => {
      asked.push(ms);
      return new Map([
        [0, ms === 1000 ? 30n : 80n],
        [1, ms === 1000 ? 45n : 60n],
      ]);
    };
    const range = parseRange({ 'from-time': '1000', 'to-time': '1970-01-01T00:00:02Z' });
    assert.deepEqual(await resolveRange(range, marks.slice(0, 2), byTime), [
      { partition: 0, start: 30n, end: 80n },
      { partition: 1, start: 45n, end: 60n },
    ]);
    assert.deepEqual(asked, [1000, 2000]);
  });

  it('refuses contradictory or malformed bounds', () => {
    assert.throws(() => parseRange({ 'from-offset': '1', 'from-time': '2' }), /exclude each other/);
    assert.throws(() => parseRange({ 'to-offset': '1', 'to-time': '2' }), /exclude each other/);
    assert.throws(() => parseRange({ 'to-offset': '0:x' }), /partition:offset pairs/);
    assert.throws(() => parseRange({ 'from-time': 'yesterday' }), /ISO-8601/);
  });
});
