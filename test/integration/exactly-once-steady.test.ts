import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { loadSchema } from '../../src/stages/decode';
import { formatReport, verifyTopics } from '../../src/verify/verify';
import { brokers, committedAtLeast, createTestTopics, endOffsets, testKafka, topicEnv } from '../support/kafka';
import { PREDICTION_SCHEMA } from '../support/model';
import { type ScorerProcess, sleep, spawnScorer } from '../support/processes';
import { sendTraffic } from '../support/traffic';

const CONCURRENT = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';

interface LogLine {
  readonly level?: string;
  readonly msg?: string;
  readonly error?: string;
}

function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

/*
 * Issue 17: in exactly-once mode every transaction but the first used to start while the broker
 * was still writing the previous one's commit markers, so the first AddPartitionsToTxn came back
 * CONCURRENT_TRANSACTIONS, which kafkajs logged at error level and retried 200 ms later. Steady
 * traffic, no faults: a healthy run must log no error at all.
 *
 * For measuring: STEADY_BACKLOG, STEADY_EVENTS, STEADY_PARTITIONS, STEADY_CHUNK (records per
 * backlog send), STEADY_FETCH_BYTES (CONSUMER_MAX_BYTES_PER_PARTITION) shape the run, STEADY_LOG_LEVEL
 * sets the scorer's LOG_LEVEL, STEADY_LOG names a file for its log.
 */
describe('integration: exactly-once under steady traffic', () => {
  const kafka = testKafka();
  const scorers: ScorerProcess[] = [];
  after(async () => {
    for (const s of scorers) {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    }
  });

  it('logs no error, loses and duplicates nothing (read_committed)', async (t) => {
    const backlog = Number(process.env.STEADY_BACKLOG ?? 6_000);
    const steady = Number(process.env.STEADY_EVENTS ?? 2_000);
    const total = backlog + steady;
    const topics = await createTestTopics(kafka, 'eos-steady', Number(process.env.STEADY_PARTITIONS ?? 1));
    // A backlog first (batches back to back, as after a restart or a rebalance), then a steady stream.
    await sendTraffic(brokers(), topics.input, backlog, 100_000, Number(process.env.STEADY_CHUNK ?? 20));
    const scorer = spawnScorer({
      ...topicEnv(topics),
      PROCESSING_GUARANTEE: 'exactly-once',
      ...(process.env.STEADY_LOG_LEVEL ? { LOG_LEVEL: process.env.STEADY_LOG_LEVEL } : {}),
      // One partition, small record batches and small fetches: hundreds of small transactions back
      // to back on one producer, which is where a commit and the next transaction overlapped
      // (about 2% of them here before the fix; more on a busier broker).
      CONSUMER_MAX_BYTES_PER_PARTITION: process.env.STEADY_FETCH_BYTES ?? '2048',
    });
    scorers.push(scorer);
    const started = Date.now();
    await sendTraffic(brokers(), topics.input, steady, 1_500);
    const ends = await endOffsets(kafka, topics.input);
    const committed = await committedAtLeast(kafka, topics.group, topics.input, ends, 120_000);
    const seconds = (Date.now() - started) / 1000;
    scorer.child.kill('SIGTERM');
    await Promise.race([scorer.exit, sleep(20_000)]);

    const report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA'), true);
    if (process.env.STEADY_LOG) writeFileSync(process.env.STEADY_LOG, scorer.output());
    const lines = logLines(scorer.output());
    const errors = lines.filter((l) => l.level === 'error');
    const concurrent = lines.filter((l) => `${l.msg ?? ''} ${l.error ?? ''}`.includes(CONCURRENT));
    const byLevel = (level: string) => concurrent.filter((l) => l.level === level).length;
    t.diagnostic(
      `${total} events in ${seconds.toFixed(1)} s; error-level lines ${errors.length}; CONCURRENT_TRANSACTIONS lines: ` +
        `error ${byLevel('error')}, warn ${byLevel('warn')}, info ${byLevel('info')}, debug ${byLevel('debug')}\n${formatReport(report)}`,
    );
    if (errors.length > 0) t.diagnostic(`first error lines:\n${errors.slice(0, 5).map((l) => JSON.stringify(l)).join('\n')}`);

    for (const [partition, end] of ends) assert.ok(BigInt(committed.get(partition) ?? '-1') >= BigInt(end), `partition ${partition} committed to its end`);
    assert.equal(report.eventsIn, total);
    assert.equal(report.lost, 0, 'nothing lost');
    assert.equal(report.extraOutputs, 0, 'read_committed sees each input once');
    assert.equal(byLevel('error'), 0, 'CONCURRENT_TRANSACTIONS is never an error');
    assert.equal(errors.length, 0, 'a healthy run logs no error');
  });
});
