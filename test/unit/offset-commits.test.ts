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
  it('requests each commit at once, in order, without waiting for earlier answers', () => {
    const { requests, commit } = manualCommits();
    const commits = new OffsetCommits(commit, () => assert.fail('no failure expected'));
    commits.send({ topic: 't', partition: 0, offset: '10' }, 10);
    commits.send({ topic: 't', partition: 1, offset: '7' }, 7);
    commits.send({ topic: 't', partition: 0, offset: '25' }, 15);
    assert.deepEqual(
      requests.map((r) => r.offsets),
      [[{ topic: 't', partition: 0, offset: '10' }], [{ topic: 't', partition: 1, offset: '7' }], [{ topic: 't', partition: 0, offset: '25' }]],
    );
  });

  it('counts the events of unanswered commits until each is answered', async () => {
    const { requests, commit } = manualCommits();
    const commits = new OffsetCommits(commit, () => undefined);
    commits.send({ topic: 't', partition: 0, offset: '10' }, 10);
    commits.send({ topic: 't', partition: 1, offset: '7' }, 7);
    assert.equal(commits.uncommittedEvents(), 17);
    requests[1]?.resolve();
    await tick();
    assert.equal(commits.uncommittedEvents(), 10);
    requests[0]?.reject(new Error('coordinator moved'));
    await tick();
    assert.equal(commits.uncommittedEvents(), 0);
  });

  it('reports a failed commit with its offset, and keeps going', async () => {
    const { requests, commit } = manualCommits();
    const failures: Array<[string, PartitionOffset]> = [];
    const commits = new OffsetCommits(commit, (error, offset) => failures.push([error.message, offset]));
    commits.send({ topic: 't', partition: 3, offset: '42' }, 5);
    requests[0]?.reject(new Error('The coordinator is not aware of this member'));
    commits.send({ topic: 't', partition: 3, offset: '50' }, 8);
    requests[1]?.resolve();
    await commits.settled();
    assert.deepEqual(failures, [['The coordinator is not aware of this member', { topic: 't', partition: 3, offset: '42' }]]);
    assert.equal(commits.uncommittedEvents(), 0);
  });

  it('settled() waits for every outstanding answer', async () => {
    const { requests, commit } = manualCommits();
    const commits = new OffsetCommits(commit, () => undefined);
    commits.send({ topic: 't', partition: 0, offset: '1' }, 1);
    commits.send({ topic: 't', partition: 1, offset: '1' }, 1);
    let settled = false;
    const waiting = commits.settled().then(() => (settled = true));
    requests[0]?.resolve();
    await tick();
    assert.equal(settled, false, 'one commit is still unanswered');
    requests[1]?.resolve();
    await waiting;
    assert.equal(settled, true);
  });
});
