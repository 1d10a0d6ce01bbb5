import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { readTopic } from '../../src/kafka/reader';
import { H } from '../../src/output/headers';
import { loadSchema } from '../../src/stages/decode';
import { formatReport, verifyTopics } from '../../src/verify/verify';
import { type TestTopics, committedOffsets, createTestTopics, topicEnv } from '../support/kafka';
import { PREDICTION_SCHEMA } from '../support/model';
import { type ScorerProcess, sleep, spawnScorer } from '../support/processes';
import { sendTraffic } from '../support/traffic';

/*
 * Issue 17: a scorer frozen (SIGSTOP) for longer than the session timeout loses its partitions to
 * the other member of the group. When it wakes up it must not go on fetching, scoring and
 * writing them. At-least-once, so some duplicates are allowed: at most what the frozen scorer had
 * in flight when it lost the partitions (written but not committed, plus a batch per partition
 * handled at once whose write had already started). Runs against the shared local broker; each scorer is its own process.
 */
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const SESSION_TIMEOUT_MS = 6_000;
// Batches of different partitions handled at once: each may have its write under way at the pause.
const CONCURRENT_PARTITIONS = 3;

function scorerEnv(brokers: string[], topics: TestTopics, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...topicEnv(topics, brokers),
    PROCESSING_GUARANTEE: 'at-least-once',
    CONSUMER_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
    // Small fetches keep batches, and so the duplicate bound, small.
    CONSUMER_MAX_BYTES_PER_PARTITION: '16384',
    CONSUMER_CONCURRENT_PARTITIONS: String(CONCURRENT_PARTITIONS),
    RETRY_BACKOFF_MAX_MS: '2000',
    HEALTH_PORT: '0',
    ...extra,
  };
}

async function untilJoined(scorer: ScorerProcess, joins: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (scorer.joins() < joins) {
    if (Date.now() > deadline || scorer.child.exitCode !== null) throw new Error(`scorer did not join:\n${scorer.output().slice(-3_000)}`);
    await sleep(100);
  }
}

/** Until the process is stopped (state T in /proc/<pid>/stat). */
async function untilStopped(scorer: ScorerProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const state = (): string => readFileSync(`/proc/${scorer.child.pid}/stat`, 'utf8').replace(/^.*\) /s, '').charAt(0);
  while (state() !== 'T') {
    if (Date.now() > deadline || scorer.child.exitCode !== null) throw new Error(`scorer did not stop itself:\n${scorer.output().slice(-3_000)}`);
    await sleep(50);
  }
}

function lastAssignment(scorer: ScorerProcess, topic: string): number[] {
  const lines = scorer.output().split('\n').filter((l) => l.includes('"msg":"joined consumer group"'));
  const last = lines[lines.length - 1];
  const assignment = last ? (JSON.parse(last) as { assignment?: Record<string, number[]> }).assignment : undefined;
  return [...(assignment?.[topic] ?? [])].sort((a, b) => a - b);
}

/** Input offsets (per partition) that have at least one prediction or dead letter so far. */
async function outputOffsets(kafka: Kafka, topics: TestTopics): Promise<Map<number, Set<bigint>>> {
  const byPartition = new Map<number, Set<bigint>>();
  const add = (partition: number, offset: bigint): void => {
    const set = byPartition.get(partition) ?? new Set<bigint>();
    set.add(offset);
    byPartition.set(partition, set);
  };
  for (const record of (await readTopic(kafka, topics.output, { readCommitted: false })).messages) {
    const { source } = predictionType.fromBuffer(record.value as Buffer) as { source: { partition: number; offset: number } };
    add(source.partition, BigInt(source.offset));
  }
  for (const record of (await readTopic(kafka, topics.deadLetter, { readCommitted: false })).messages) {
    const header = (name: string): string => String(record.headers[name]);
    add(Number(header(H.sourcePartition)), BigInt(header(H.sourceOffset)));
  }
  return byPartition;
}

/** Largest batch the scorer logged as written (debug log "batch written"). */
function largestBatch(scorer: ScorerProcess): number {
  let largest = 0;
  for (const line of scorer.output().split('\n')) {
    if (!line.includes('"msg":"batch written"')) continue;
    largest = Math.max(largest, Number(/"events":(\d+)/.exec(line)?.[1] ?? 0));
  }
  return largest;
}

describe('a scorer paused longer than the session timeout: at-least-once', { concurrency: 1 }, () => {
  const brokers = (process.env.KAFKA_BROKERS ?? '').split(',');
  const kafka = new Kafka({ clientId: 'pause-test', brokers, logLevel: logLevel.NOTHING });
  const scorers: ScorerProcess[] = [];
  after(async () => {
    for (const s of scorers) {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGCONT');
        s.child.kill('SIGTERM');
      }
      await Promise.race([s.exit, sleep(20_000)]);
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    }
  });

  it('stops writing the partitions it lost: nothing lost, duplicates at most what was in flight at the pause', async (t) => {
    const topics = await createTestTopics(kafka, 'pause', 4);
    const total = 12_000;
    const survivor = spawnScorer(scorerEnv(brokers, topics));
    scorers.push(survivor);
    await untilJoined(survivor, 1);
    const traffic = sendTraffic(brokers, topics.input, total, 500);
    await sleep(2_000);
    // The victim freezes itself as its 5th heartbeat answer arrives (a few seconds into scoring),
    // before kafkajs notes that answer: resumed, it trusts its membership for another heartbeat
    // interval, which a SIGSTOP from outside hits only by chance. Debug logs: its "batch written"
    // lines give the size of its batches.
    const victim = spawnScorer(scorerEnv(brokers, topics, { LOG_LEVEL: 'debug', FAILPOINT_STOP_ON_HEARTBEAT: '5' }));
    scorers.push(victim);
    await untilJoined(victim, 1);
    await untilStopped(victim);
    const owned = lastAssignment(victim, topics.input);
    assert.ok(owned.length > 0, 'the victim owns partitions at the pause');
    // Frozen, and nobody else owns its partitions before its session times out: what it wrote
    // past its committed offsets is what it had in flight.
    await sleep(1_000);
    const committed = await committedOffsets(kafka, topics.group, topics.input);
    const written = await outputOffsets(kafka, topics);
    let inFlight = 0;
    for (const partition of owned) {
      const from = BigInt(committed.get(partition) ?? '-1');
      for (const offset of written.get(partition) ?? []) if (offset >= from) inFlight += 1;
    }
    // Well past the session timeout: the survivor has taken the partitions over by then.
    await sleep(SESSION_TIMEOUT_MS + 4_000 - 1_000);
    victim.child.kill('SIGCONT');
    await traffic;

    const deadline = Date.now() + 120_000;
    let report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, false);
    while ((report.lost > 0 || report.eventsIn < total) && Date.now() < deadline) {
      await sleep(2_000);
      report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, false);
    }
    const batch = largestBatch(victim);
    t.diagnostic(`pause of a scorer owning partitions ${owned.join(',')}\n${formatReport(report)}`);
    t.diagnostic(`in flight at the pause: ${inFlight} written but not committed; largest batch of the victim: ${batch} events`);
    const lostLine = victim.output().split('\n').find((l) => l.includes('lost its group membership'));
    t.diagnostic(`victim: ${lostLine ?? 'no lost-membership log line'}`);
    // The scorers' logs, for reading a run afterwards.
    if (process.env.PAUSE_TEST_LOG_DIR) {
      writeFileSync(`${process.env.PAUSE_TEST_LOG_DIR}/victim.log`, victim.output());
      writeFileSync(`${process.env.PAUSE_TEST_LOG_DIR}/survivor.log`, survivor.output());
    }
    assert.equal(report.eventsIn, total);
    assert.equal(report.lost, 0);
    assert.ok(batch > 0, 'the victim wrote batches before the pause');
    // Writes already under way at the pause may land after it: a batch of each partition handled at once.
    const underWay = Math.min(CONCURRENT_PARTITIONS, owned.length) * batch;
    assert.ok(report.extraOutputs <= inFlight + underWay, `duplicates ${report.extraOutputs} <= in flight at the pause (${inFlight}) + writes under way (${underWay}: ${Math.min(CONCURRENT_PARTITIONS, owned.length)} × ${batch})`);
    assert.ok(lostLine, 'the victim logged that it lost its partitions');
  });
});
