import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { Membership, lostMembershipReason } from '../../src/kafka/membership';
import { OffsetCommits, type PartitionOffset } from '../../src/kafka/offset-commits';

function protocolError(type: string): Error {
  return new KafkaJSProtocolError({ message: `answer ${type}`, type, code: 0, retriable: false } as never);
}

/** What consumer.commitOffsets rejects with: kafkajs' retrier wraps what it will not retry. */
function retrierWrapped(error: Error): Error {
  return new (KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: Error }) => Error)(error, { cause: error });
}

describe('lostMembershipReason: which commit and heartbeat errors mean the partitions may be gone', () => {
  for (const type of ['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS', 'FENCED_INSTANCE_ID']) {
    it(`${type}, bare or wrapped by kafkajs' retrier`, () => {
      assert.equal(lostMembershipReason(protocolError(type)), type);
      assert.equal(lostMembershipReason(retrierWrapped(protocolError(type))), type);
      assert.equal(lostMembershipReason(new KafkaJSNumberOfRetriesExceeded(protocolError(type), { retryCount: 5, retryTime: 1000 })), type);
    });
  }

  it('not other broker answers, not by message text, not other errors', () => {
    for (const type of ['NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'REQUEST_TIMED_OUT', 'GROUP_AUTHORIZATION_FAILED']) assert.equal(lostMembershipReason(protocolError(type)), undefined, type);
    assert.equal(lostMembershipReason(new Error('The coordinator is not aware of this member')), undefined);
    assert.equal(lostMembershipReason(new TypeError('x is undefined')), undefined);
    assert.equal(lostMembershipReason('UNKNOWN_MEMBER_ID'), undefined);
    assert.equal(lostMembershipReason(undefined), undefined);
  });
});

describe('Membership: the fencing flag', () => {
  it('is lost after a lost-membership answer of its generation, reported once, cleared by the next join', () => {
    const membership = new Membership();
    const generation = membership.joined();
    assert.equal(membership.lost(), undefined);
    const loss = membership.failed(generation, retrierWrapped(protocolError('UNKNOWN_MEMBER_ID')));
    assert.equal(loss?.reason, 'UNKNOWN_MEMBER_ID');
    assert.equal(loss?.generation, generation);
    assert.equal(membership.failed(generation, protocolError('ILLEGAL_GENERATION')), undefined, 'reported once per generation');
    assert.equal(membership.lost()?.reason, 'UNKNOWN_MEMBER_ID', 'the first reason stays');
    const next = membership.joined();
    assert.notEqual(next, generation);
    assert.equal(membership.lost(), undefined, 'a new generation owns its new assignment');
  });

  it('ignores other errors, and answers about an older generation', () => {
    const membership = new Membership();
    const old = membership.joined();
    const current = membership.joined();
    assert.equal(membership.failed(old, protocolError('UNKNOWN_MEMBER_ID')), undefined, 'a commit sent before the rejoin, answered after it');
    assert.equal(membership.failed(current, protocolError('NOT_COORDINATOR')), undefined);
    assert.equal(membership.failed(current, new Error('Connection error: ECONNREFUSED')), undefined);
    assert.equal(membership.lost(), undefined);
  });

  it('is confirmed for a lease counted from when the accepted request was sent, not answered', () => {
    const membership = new Membership();
    const generation = membership.joined();
    assert.equal(membership.confirmedWithin(1_000, 4_000), false, 'nothing confirmed yet');
    membership.confirmed(generation, 10_000);
    assert.equal(membership.confirmedWithin(13_999, 4_000), true);
    assert.equal(membership.confirmedWithin(14_000, 4_000), false, 'frozen for a lease: ask the coordinator');
    membership.confirmed(generation, 9_000);
    assert.equal(membership.confirmedWithin(13_500, 4_000), true, 'an older confirmation answered late does not shorten the lease');
    membership.confirmed(generation - 1, 20_000);
    assert.equal(membership.confirmedWithin(21_000, 4_000), false, 'a confirmation of an older generation does not count');
    membership.joined();
    assert.equal(membership.confirmedWithin(10_001, 4_000), false, 'a new generation starts unconfirmed');
    membership.joined(30_000);
    assert.equal(membership.confirmedWithin(33_000, 4_000), true, 'unless the join request is known to have been sent then');
  });
});

describe('OffsetCommits.discardWaiting', () => {
  it('drops the offsets not sent yet: nothing is sent for them after the request in flight', async () => {
    const requests: { offsets: PartitionOffset[]; resolve(): void }[] = [];
    const commits = new OffsetCommits(
      (offsets) => new Promise<void>((resolve) => requests.push({ offsets, resolve })),
      () => assert.fail('no failure expected'),
    );
    commits.send({ topic: 't', partition: 0, offset: '10' }, 10);
    commits.send({ topic: 't', partition: 0, offset: '20' }, 10);
    assert.equal(commits.uncommittedEvents(), 20);
    commits.discardWaiting();
    assert.equal(commits.uncommittedEvents(), 10, 'only the request in flight is still unanswered');
    requests[0]?.resolve();
    await commits.settled();
    assert.equal(requests.length, 1, 'the discarded offset was never sent');
    assert.equal(commits.uncommittedEvents(), 0);
  });
});
