import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionWaits, waitBackoffMs } from '../../src/waits';

describe('waits for a dependency, per partition', () => {
  it('each partition counts its own attempts: three partitions waiting at once are each at attempt 1, then 2', () => {
    const waits = new PartitionWaits();
    assert.deepEqual([0, 1, 2].map((p) => waits.failed('in', p)), [1, 1, 1]);
    assert.deepEqual([0, 1, 2].map((p) => waits.failed('in', p)), [2, 2, 2]);
    assert.equal(waits.failed('other', 0), 1, 'topics are apart');
  });
  it('is back only when the last waiting partition gets through, with every attempt made meanwhile', () => {
    const waits = new PartitionWaits();
    waits.failed('in', 0);
    waits.failed('in', 1);
    waits.failed('in', 1);
    assert.equal(waits.succeeded('in', 2), undefined, 'a partition that never waited changes nothing');
    assert.equal(waits.succeeded('in', 0), undefined, 'partition 1 still waits');
    assert.equal(waits.waiting, true);
    assert.deepEqual(waits.succeeded('in', 1), { attempts: 3 });
    assert.equal(waits.waiting, false);
    assert.equal(waits.succeeded('in', 1), undefined, 'told once');
    assert.equal(waits.failed('in', 1), 1, 'a new outage starts at attempt 1');
  });
  it('a rebalance drops the partitions no longer assigned; back when none is left waiting', () => {
    const waits = new PartitionWaits();
    waits.failed('in', 0);
    waits.failed('in', 3);
    assert.equal(waits.retain(new Map([['in', [0, 1]]])), undefined, 'partition 0 is still ours and waits');
    assert.deepEqual(waits.retain(new Map([['in', [1]]])), { attempts: 2 });
    assert.equal(waits.waiting, false);
  });
  it('backs off exponentially from 200 ms, with jitter between half and all of it, capped', () => {
    assert.equal(waitBackoffMs(1, 30_000, () => 1), 400);
    assert.equal(waitBackoffMs(1, 30_000, () => 0), 200);
    assert.equal(waitBackoffMs(3, 30_000, () => 1), 1_600);
    assert.equal(waitBackoffMs(40, 5_000, () => 1), 5_000);
  });
});
