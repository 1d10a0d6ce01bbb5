import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ConfigResourceTypes, type Kafka } from 'kafkajs';
import { loadSchema } from '../../src/stages/decode';
import { type TestTopics, committedAtLeast, committedOffsets, createTestTopics, produce, testKafka, topicEnv } from '../support/kafka';
import { INPUT_SCHEMA, referenceCases } from '../support/model';
import { type ScorerProcess, sleep, spawnScorer } from '../support/processes';
import { samples } from '../support/prometheus';

const STALL_TIMEOUT_MS = 3_000;

interface ReadyBody {
  status: string;
  partitions_stalled: string[];
  stalled?: { topic: string; partition: number; offset: string; lag: number; since: string; stalled_for_ms: number; retries: number }[];
}

const HOUR_MS = 3_600_000;
const NO_LIMIT = '9223372036854775807';

/**
 * A poison record made by the real broker: a dead letter keeps its input's timestamp, and a
 * topic with `message.timestamp.before.max.ms` refuses records older than that
 * (INVALID_TIMESTAMP, which the scorer retries as transient, never dead-letters). The
 * partition holding such a record is stuck until the limit is lifted.
 */
async function setTimestampLimit(kafka: Kafka, topic: string, value: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'message.timestamp.before.max.ms', value }] }] });
  await admin.disconnect();
}

async function until<T>(what: string, timeoutMs: number, scorer: ScorerProcess, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline && scorer.child.exitCode === null, `timed out waiting for ${what}:\n${scorer.output().slice(-4000)}`);
    await sleep(200);
  }
}

/** `stream-scorer run` as a process, with its /readyz and /metrics. */
async function watchedScorer(topics: TestTopics, env: Record<string, string>, started: ScorerProcess[]) {
  const running = spawnScorer({ ...topicEnv(topics), PARTITION_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS), ...env });
  started.push(running);
  const url = await until('the health server', 60_000, running, async () => (/"msg":"health and metrics server listening"/.test(running.output()) ? /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(running.output())?.[1] : undefined));
  return {
    running,
    readyz: async () => {
      const response = await fetch(`${url}/readyz`);
      return { status: response.status, body: (await response.json()) as ReadyBody };
    },
    metrics: async () => samples(await (await fetch(`${url}/metrics`)).text()),
    series: (name: string, partition: number, extra = '') => `${name}{topic="${topics.input}",partition="${partition}"${extra}}`,
  };
}

describe('integration: stuck partitions', () => {
  const kafka = testKafka();
  const started: ScorerProcess[] = [];
  after(async () => {
    for (const scorer of started) {
      if (scorer.child.exitCode !== null) continue;
      scorer.child.kill('SIGTERM');
      await scorer.exit;
    }
  });

  it('keeps its lag, makes /readyz 503 naming it and /metrics show it stalled, and clears once it progresses', async () => {
    // Partition 0 stays idle (never stalled), 1 gets the poison record, 2 keeps flowing.
    const topics = await createTestTopics(kafka, 'stall', 3);
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const events = referenceCases().map((c) => c.event);
    const good = (partition: number, from: number, to: number) => events.slice(from, to).map((e, i) => ({ key: `k${from + i}`, value: eventType.toBuffer(e), partition }));
    await produce(kafka, topics.input, good(1, 0, 3));

    const { running, readyz, metrics, series } = await watchedScorer(topics, { RETRY_BACKOFF_MAX_MS: '500', PRODUCER_RETRIES: '1' }, started);

    // Healthy first: the three records are written and committed, nothing waits.
    await committedAtLeast(kafka, topics.group, topics.input, new Map([[1, '3']]), 60_000);
    await until('ready', 30_000, running, async () => ((await readyz()).status === 200 ? true : undefined));
    let values = await metrics();
    assert.equal(values.get(series('stream_scorer_consumer_lag', 1)), 0);
    assert.equal(values.get(series('stream_scorer_partition_stalled', 1)), 0);
    assert.equal(values.get(series('stream_scorer_partition_stalled', 0)), 0);

    // Offset 3 of partition 1: an unknown category (a dead letter) two hours old, which the
    // dead-letter topic now refuses; four good records behind it. Its batch is fetched, fails, is retried.
    await setTimestampLimit(kafka, topics.deadLetter, String(HOUR_MS));
    const poison = { key: 'poison', value: eventType.toBuffer({ ...events[3], channel: 'crypto_atm' }), partition: 1, timestamp: String(Date.now() - 2 * HOUR_MS) };
    const stuckAt = Date.now();
    await produce(kafka, topics.input, [poison, ...good(1, 4, 8)]);
    await produce(kafka, topics.input, good(2, 10, 15));
    const notReady = await until('/readyz to report the stall', 60_000, running, async () => {
      const answer = await readyz();
      return answer.status === 503 ? answer.body : undefined;
    });
    assert.ok(Date.now() - stuckAt >= STALL_TIMEOUT_MS, 'not before the stall timeout');
    assert.equal(notReady.status, 'not ready');
    assert.deepEqual(notReady.partitions_stalled, [`${topics.input}[1]`], 'names the stuck partition, not the idle or the flowing one');
    const detail = notReady.stalled?.[0];
    assert.equal(detail?.offset, '3', 'stuck at the first record of the batch it cannot write');
    assert.equal(detail?.lag, 5);
    assert.ok((detail?.retries ?? 0) >= 1, `retries ${detail?.retries}`);
    assert.ok((detail?.stalled_for_ms ?? 0) >= STALL_TIMEOUT_MS);

    await committedAtLeast(kafka, topics.group, topics.input, new Map([[2, '5']]), 30_000);
    values = await metrics();
    assert.equal(values.get(series('stream_scorer_consumer_lag', 1)), 5, 'fetched again and again, written never: all 5 still wait');
    assert.equal(values.get(series('stream_scorer_partition_stalled', 1)), 1);
    assert.equal(values.get(series('stream_scorer_partition_stalled', 0)), 0);
    assert.equal(values.get(series('stream_scorer_partition_stalled', 2)), 0);
    assert.equal(values.get(series('stream_scorer_consumer_lag', 2)), 0, 'the other partition went on');
    assert.ok((values.get(series('stream_scorer_batch_retries_total', 1, ',failure="transient"')) ?? 0) >= 1, 'retries counted as transient');
    assert.equal(values.get('stream_scorer_ready'), 0);
    const committed = await committedOffsets(kafka, topics.group, topics.input);
    assert.equal(committed.get(1), '3', 'nothing committed past the stuck batch');
    assert.equal(committed.get(2), '5');

    // The limit is lifted: the retried batch goes through, the partition progresses.
    await setTimestampLimit(kafka, topics.deadLetter, NO_LIMIT);
    const ready = await until('/readyz to be ready again', 60_000, running, async () => {
      const answer = await readyz();
      return answer.status === 200 ? answer.body : undefined;
    });
    assert.deepEqual(ready.partitions_stalled, []);
    assert.equal(ready.stalled, undefined);
    await committedAtLeast(kafka, topics.group, topics.input, new Map([[1, '8']]), 30_000);
    values = await metrics();
    assert.equal(values.get(series('stream_scorer_consumer_lag', 1)), 0);
    assert.equal(values.get(series('stream_scorer_partition_stalled', 1)), 0);

    // One warning at the onset and one line at the recovery, however many retries and probes came between.
    const lines = running
      .output()
      .split('\n')
      .filter((l) => l.includes('"event":"partition_stall'))
      .map((l) => JSON.parse(l) as { level: string; event: string; topic: string; partition: number; offset: string; lag: number; stalled_for_ms: number });
    assert.deepEqual(
      lines.map((l) => `${l.event} ${l.topic}[${l.partition}]@${l.offset}`),
      [`partition_stalled ${topics.input}[1]@3`, `partition_stall_cleared ${topics.input}[1]@8`],
    );
    assert.equal(lines[0]?.level, 'warn', 'the onset is a warning');
    assert.equal(lines[0]?.lag, 5);
    assert.ok((lines[0]?.stalled_for_ms ?? 0) >= STALL_TIMEOUT_MS);
  });

  it('never calls a partition stalled that ends in a transaction marker (its last offset holds no record)', async () => {
    const topics = await createTestTopics(kafka, 'stall-txn', 1);
    const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    const producer = kafka.producer({ transactionalId: `${topics.group}-upstream`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const transaction = await producer.transaction();
    await transaction.send({ topic: topics.input, acks: -1, messages: referenceCases().slice(0, 3).map((c, i) => ({ key: `t${i}`, value: eventType.toBuffer(c.event), partition: 0 })) });
    await transaction.commit();
    await producer.disconnect();
    // Records at 0..2, the commit marker at 3: the high watermark is 4.

    const { running, readyz, metrics, series } = await watchedScorer(topics, {}, started);
    await committedAtLeast(kafka, topics.group, topics.input, new Map([[0, '3']]), 60_000);
    await sleep(STALL_TIMEOUT_MS + 1_000);
    const answer = await readyz();
    assert.equal(answer.status, 200, `ready: ${JSON.stringify(answer.body)}`);
    const values = await metrics();
    assert.equal(values.get(series('stream_scorer_consumer_lag', 0)), 0, 'the marker needs no output: nothing waits');
    assert.equal(values.get(series('stream_scorer_partition_stalled', 0)), 0);
    assert.doesNotMatch(running.output(), /"event":"partition_stalled"/);
  });
});
