import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OffsetCommits, type PartitionOffset } from '../../src/kafka/offset-commits';

interface Pending {
  readonly offsets: PartitionOffset[];
  resolve(): void;
  reject(error: Error): void;
}

/** A commit function whose answers the test gives by hand, in any order. */
function manualCommits(): { requests: Pending[]; commit: (offsets: PartitionOffset[]) => Promise<void> } {
  const requests: Pending[] = [];
  return {
    requests,
    commit: (offsets) =>
      new Promise<void>((resolve, reject) => {
        requests.push({ offsets, resolve, reject });
      }),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('OffsetCommits', () => {
  it('sends the first offset at once, and merges what arrives meanwhile into one next request', async () => {
    const { requests, commit } = manualCommits();
    const commits = new OffsetCommits(commit, () => assert.fail('no failure expected'));
    commits.send({ topic: 't', partition: 0, offset: '10' }, 10);
    commits.send({ topic: 't', partition: 1, offset: '7' }, 7);
    commits.send({ topic: 't', partition: 0, offset: '25' }, 15);
    assert.equal(requests.length, 1, 'one request in flight at a time');
    assert.deepEqual(requests[0]?.offsets, [{ topic: 't', partition: 0, offset: '10' }]);
    requests[0]?.resolve();
    await tick();
    assert.equal(requests.length, 2);
    assert.deepEqual([...(requests[1]?.offsets ?? [])].sort((a, b) => a.partition - b.partition), [
      { topic: 't', partition: 0, offset: '25' },
      { topic: 't', partition: 1, offset: '7' },
    ]);
  });

  it('counts the events of offsets not committed yet, waiting or in flight', async () => {
    const { requests, commit } = manualCommits();
    const commits = new OffsetCommits(commit, () => undefined);
    commits.send({ topic: 't', partition: 0, offset: '10' }, 10);
    commits.send({ topic: 't', partition: 1, offset: '7' }, 7);
    assert.equal(commits.uncommittedEvents(), 17);
    requests[0]?.resolve();
    await tick();
    assert.equal(commits.uncommittedEvents(), 7, 'the second offset is in flight now');
    requests[1]?.reject(new Error('coordinator moved'));
    await tick();
    assert.equal(commits.uncommittedEvents(), 0);
  });

  it('reports a failed commit with its offsets, and keeps going', async () => {
    const { requests, commit } = manualCommits();
    const failures: Array<[string, readonly PartitionOffset[]]> = [];
    const commits = new OffsetCommits(commit, (error, offsets) => failures.push([error.message, offsets]));
    commits.send({ topic: 't', partition: 3, offset: '42' }, 5);
    requests[0]?.reject(new Error('The coordinator is not aware of this member'));
    await tick();
    commits.send({ topic: 't', partition: 3, offset: '50' }, 8);
    requests[1]?.resolve();
    await commits.settled();
    assert.deepEqual(failures, [['The coordinator is not aware of this member', [{ topic: 't', partition: 3, offset: '42' }]]]);
    assert.equal(commits.uncommittedEvents(), 0);
  });

  it('flush() sends waiting offsets even while a request is in flight (a rebalance is starting)', () => {
    const { requests, commit } = manualCommits();
    const commits = new OffsetCommits(commit, () => undefined);
    commits.send({ topic: 't', partition: 0, offset: '10' }, 10);
    commits.send({ topic: 't', partition: 0, offset: '20' }, 10);
    commits.flush();
    assert.deepEqual(
      requests.map((r) => r.offsets),
      [[{ topic: 't', partition: 0, offset: '10' }], [{ topic: 't', partition: 0, offset: '20' }]],
    );
    commits.flush();
    assert.equal(requests.length, 2, 'nothing waiting: no empty request');
  });

  it('settled() waits until every offset handed over is answered, including ones waiting', async () => {
    const { requests, commit } = manualCommits();
    const commits = new OffsetCommits(commit, () => undefined);
    commits.send({ topic: 't', partition: 0, offset: '1' }, 1);
    commits.send({ topic: 't', partition: 1, offset: '1' }, 1);
    let settled = false;
    const waiting = commits.settled().then(() => (settled = true));
    requests[0]?.resolve();
    await tick();
    assert.equal(settled, false, 'the second offset went out after the first answer and is unanswered');
    assert.equal(requests.length, 2);
    requests[1]?.resolve();
    await waiting;
    assert.equal(settled, true);
    assert.equal(commits.uncommittedEvents(), 0);
  });
});
