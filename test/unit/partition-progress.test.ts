import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionProgress, type StallEvent } from '../../src/telemetry/partition-progress';

const TIMEOUT = 10_000;

/** A PartitionProgress on a hand-driven clock, with the events it emitted. */
function tracker(stallTimeoutMs = TIMEOUT) {
  let now = 1_000_000;
  const events: StallEvent[] = [];
  const progress = new PartitionProgress({ stallTimeoutMs, now: () => now, onEvent: (e) => events.push(e) });
  progress.assigned(new Map([['t', [0, 1]]]));
  return {
    progress,
    events,
    advance: (ms: number) => (now += ms),
    now: () => now,
    state: (partition: number) => progress.partitions().find((p) => p.partition === partition),
  };
}

describe('partition progress: lag', () => {
  it('counts from the processed position, not the fetched batch: a batch fetched again and again keeps its lag', () => {
    const t = tracker();
    assert.equal(t.state(0)?.lag, undefined, 'unknown before the first fetch');
    t.progress.fetched('t', 0, '150', '100');
    assert.equal(t.state(0)?.lag, 50, 'the whole fetched batch still waits');
    // The batch was not written; the retry fetches it again, with a newer high watermark.
    t.progress.retried('t', 0);
    t.progress.fetched('t', 0, '160', '100');
    assert.equal(t.state(0)?.lag, 60, 'a refetch updates the high watermark; the retry took nothing off');
    t.progress.progressed('t', 0, '111', '160');
    assert.equal(t.state(0)?.lag, 49);
    t.progress.progressed('t', 0, '160', '160');
    assert.equal(t.state(0)?.lag, 0);
  });

  it('moves the position to a fetch that starts past it (records compacted away or deleted by retention)', () => {
    const t = tracker();
    t.progress.fetched('t', 0, '100', '10');
    t.advance(TIMEOUT - 1);
    t.progress.fetched('t', 0, '100', '60');
    assert.equal(t.state(0)?.lag, 40);
    t.advance(TIMEOUT - 1);
    assert.equal(t.state(0)?.stalled, false, 'the consumer moved on: the clock started again');
  });

  it('never goes below 0 when the log is behind the position (topic recreated)', () => {
    const t = tracker();
    t.progress.progressed('t', 0, '500', '500');
    t.progress.fetched('t', 0, '20', '500');
    assert.equal(t.state(0)?.lag, 0);
  });

  it('counts records read again after a rebalance as waiting, without calling that progress', () => {
    const t = tracker();
    t.progress.fetched('t', 0, '100', '0');
    t.advance(TIMEOUT / 2);
    t.progress.progressed('t', 0, '90', '100');
    t.advance(TIMEOUT / 2 + 1);
    // Re-read from the committed offset 80 (commits were behind); the fetch moves nothing back.
    t.progress.fetched('t', 0, '100', '80');
    t.progress.progressed('t', 0, '85', '100');
    assert.equal(t.state(0)?.lag, 15);
    t.advance(TIMEOUT / 2);
    assert.equal(t.state(0)?.stalled, true, 'going back is not progress: the clock kept running since offset 90');
  });
});

describe('partition progress: stalls', () => {
  it('stalls once records wait without progress for the timeout, and says so once', () => {
    const t = tracker();
    t.progress.fetched('t', 0, '150', '100');
    const since = t.now();
    for (let i = 0; i < 9; i += 1) {
      t.advance(1_000);
      t.progress.retried('t', 0);
      t.progress.fetched('t', 0, '150', '100');
    }
    t.advance(999);
    assert.equal(t.state(0)?.stalled, false, 'not before the timeout');
    assert.deepEqual(t.progress.stalled(), []);
    t.advance(1);
    assert.equal(t.state(0)?.stalled, true);
    assert.deepEqual(t.progress.stalled(), [{ topic: 't', partition: 0, offset: '100', lag: 50, since, stalledForMs: TIMEOUT, retries: 9 }]);
    t.advance(5_000);
    t.progress.fetched('t', 0, '150', '100');
    t.progress.stalled();
    assert.equal(t.state(1)?.stalled, false, 'the other partition is not stalled');
    assert.deepEqual(
      t.events.map((e) => `${e.type} ${e.partition}@${e.offset}`),
      ['stalled 0@100'],
      'one event per onset, however often it is checked',
    );
  });

  it('recovers when the processed offset moves, and starts a new clock for what still waits', () => {
    const t = tracker();
    t.progress.fetched('t', 0, '150', '100');
    t.advance(TIMEOUT + 5_000);
    t.progress.retried('t', 0);
    t.progress.retried('t', 0);
    assert.equal(t.progress.stalled().length, 1);
    t.progress.progressed('t', 0, '120', '150');
    assert.deepEqual(t.progress.stalled(), []);
    const recovered = t.events[1];
    assert.equal(recovered?.type, 'recovered');
    assert.equal(recovered?.offset, '120');
    assert.equal(recovered?.stalledForMs, TIMEOUT + 5_000, 'how long it was stuck');
    assert.equal(recovered?.retries, 2, 'the retries the stall took');
    assert.equal(recovered?.lag, 30);
    t.progress.retried('t', 0);
    t.advance(TIMEOUT - 1);
    assert.equal(t.state(0)?.stalled, false, '30 records still wait, but only since the progress');
    t.advance(1);
    assert.equal(t.state(0)?.stalled, true, 'stuck again at the new offset');
    assert.equal(t.progress.stalled()[0]?.retries, 1, 'retries count from the last progress');
    assert.deepEqual(
      t.events.map((e) => `${e.type}@${e.offset}`),
      ['stalled@100', 'recovered@120', 'stalled@120'],
    );
  });

  it('never stalls an idle partition, and starts the clock only when records arrive', () => {
    const t = tracker();
    t.progress.fetched('t', 0, '100', '90');
    t.progress.progressed('t', 0, '100', '100');
    t.advance(TIMEOUT * 10);
    assert.equal(t.state(0)?.stalled, false);
    assert.equal(t.state(0)?.lag, 0);
    // New records after a long idle time: they have waited since now, not since the last progress.
    t.progress.fetched('t', 0, '105', '100');
    t.advance(TIMEOUT - 1);
    assert.equal(t.state(0)?.stalled, false);
    t.advance(1);
    assert.equal(t.state(0)?.stalled, true);
  });

  it('never stalls an assigned partition it has never fetched records from', () => {
    const t = tracker();
    t.advance(TIMEOUT * 3);
    assert.deepEqual(t.state(1), { topic: 't', partition: 1, lag: undefined, stalled: false });
  });

  it('counts a batch of transaction markers kafkajs skipped as progress (no lag of 1 forever)', () => {
    const t = tracker();
    t.progress.fetched('t', 0, '11', '0');
    t.progress.progressed('t', 0, '10', '11');
    assert.equal(t.state(0)?.lag, 1, 'the marker at offset 10 is not processed yet');
    t.progress.progressed('t', 0, '11', '11');
    t.advance(TIMEOUT * 2);
    assert.equal(t.state(0)?.stalled, false);
  });

  it('drops partitions no longer assigned, and keeps the clock of those it keeps', () => {
    const t = tracker();
    t.progress.fetched('t', 0, '150', '100');
    t.progress.fetched('t', 1, '20', '10');
    t.advance(TIMEOUT);
    assert.deepEqual(
      t.progress.stalled().map((s) => s.partition),
      [0, 1],
    );
    // Rebalance: partition 1 goes to another member; 0 stays, still stuck; 2 is new.
    t.progress.assigned(new Map([['t', [0, 2]]]));
    assert.deepEqual(
      t.progress.partitions().map((p) => `${p.partition}:${p.lag}:${p.stalled}`),
      ['0:50:true', '2:undefined:false'],
    );
    assert.deepEqual(
      t.events.map((e) => `${e.type} ${e.partition}`),
      ['stalled 0', 'stalled 1', 'unassigned 1'],
    );
    // Partition 1 comes back later: a fresh start, not the old stall.
    t.progress.assigned(new Map([['t', [0, 1, 2]]]));
    assert.equal(t.state(1)?.stalled, false);
    assert.equal(t.state(1)?.lag, undefined);
  });

  it('reports nothing with a timeout of 0', () => {
    const t = tracker(0);
    t.progress.fetched('t', 0, '150', '100');
    t.advance(86_400_000);
    assert.deepEqual(t.progress.stalled(), []);
    assert.equal(t.state(0)?.lag, 50, 'lag is still measured');
  });
});
