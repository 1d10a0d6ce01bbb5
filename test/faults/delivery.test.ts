import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { loadSchema } from '../../src/stages/decode';
import { type VerifyReport, formatReport, verifyTopics } from '../../src/verify/verify';
import { type TestTopics, committedOffsets, createTestTopics, topicEnv } from '../support/kafka';
import { PREDICTION_SCHEMA } from '../support/model';
import { type ScorerProcess, TestBroker, sleep, spawnScorer } from '../support/processes';
import { sendTraffic } from '../support/traffic';

/*
 * Fault injection against real brokers, in both processing guarantees. Each test starts its
 * scorer(s) as separate processes, injects one fault, lets the stream finish, then accounts for
 * every input record with the verifier and prints its figures.
 */
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const MODES = ['at-least-once', 'exactly-once'] as const;
type Mode = (typeof MODES)[number];

function kafkaFor(brokers: string[]): Kafka {
  return new Kafka({ clientId: 'fault-test', brokers, logLevel: logLevel.NOTHING });
}

function scorerEnv(brokers: string[], topics: TestTopics, mode: Mode, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...topicEnv(topics, brokers),
    PROCESSING_GUARANTEE: mode,
    CONSUMER_SESSION_TIMEOUT_MS: '10000',
    // Small fetches keep batches (and so the at-least-once duplicate bound) small.
    CONSUMER_MAX_BYTES_PER_PARTITION: '16384',
    RETRY_BACKOFF_MAX_MS: '2000',
    // Several scorers run at once: each takes any free port for /healthz and /metrics.
    HEALTH_PORT: '0',
    ...extra,
  };
}

/** Verifies until everything is accounted for (or the deadline), and prints the figures. */
async function settle(t: TestContext, kafka: Kafka, topics: TestTopics, mode: Mode, expected: number, timeoutMs = 90_000, scorers: readonly ScorerProcess[] = []): Promise<VerifyReport> {
  const deadline = Date.now() + timeoutMs;
  let report: VerifyReport;
  for (;;) {
    report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, mode === 'exactly-once');
    if ((report.lost === 0 && report.eventsIn >= expected) || Date.now() > deadline) break;
    await sleep(2_000);
  }
  t.diagnostic(`[${mode}] ${t.name}\n${formatReport(report)}`);
  if (report.lost > 0) {
    // The scorer's own account of what went wrong is the first thing to read.
    for (const scorer of scorers) t.diagnostic(`scorer pid ${scorer.child.pid} log tail:\n${scorer.output().slice(-6_000)}`);
  }
  return report;
}

async function stopAll(scorers: ScorerProcess[]): Promise<void> {
  for (const s of scorers) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
    await Promise.race([s.exit, sleep(20_000)]);
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  }
}

/** Faults are injected into a running scorer, not one still starting (a slow machine takes seconds). */
async function untilScoring(scorer: ScorerProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!scorer.output().includes('"msg":"scoring"')) {
    if (Date.now() > deadline || scorer.child.exitCode !== null) throw new Error(`scorer did not start:\n${scorer.output().slice(-3_000)}`);
    await sleep(100);
  }
}

/** The partitions a scorer process was last assigned, from its "joined consumer group" log line. */
function lastAssignment(scorer: ScorerProcess): Map<string, number[]> {
  const lines = scorer.output().split('\n').filter((l) => l.includes('"msg":"joined consumer group"'));
  const last = lines[lines.length - 1];
  const assignment = last ? (JSON.parse(last) as { assignment?: Record<string, number[]> }).assignment : undefined;
  return new Map(Object.entries(assignment ?? {}).map(([topic, partitions]) => [topic, [...partitions].sort((a, b) => a - b)]));
}

function uncommittedAtKill(scorer: ScorerProcess): number {
  const line = scorer.output().split('\n').find((l) => l.includes('failpoint: SIGKILL'));
  const match = line?.match(/"uncommitted_events":(\d+)/);
  return match ? Number(match[1]) : Number.POSITIVE_INFINITY;
}

for (const mode of MODES) {
  describe(`delivery under faults: ${mode}`, { concurrency: 1 }, () => {
    const mainBrokers = (process.env.KAFKA_BROKERS ?? '').split(',');
    const kafka = kafkaFor(mainBrokers);
    const scorers: ScorerProcess[] = [];
    after(() => stopAll(scorers));

    it('scorer SIGKILLed between produce and commit: nothing lost; duplicates bounded by what was not committed', async (t) => {
      const topics = await createTestTopics(kafka, `kill-${mode}`, 2);
      const total = 2_000;
      await sendTraffic(mainBrokers, topics.input, total, 4_000);
      const victim = spawnScorer(scorerEnv(mainBrokers, topics, mode, { FAILPOINT_KILL_BEFORE_COMMIT: '4' }));
      scorers.push(victim);
      assert.equal(await victim.signal, 'SIGKILL', 'the fail-point killed the scorer');
      const notCommitted = uncommittedAtKill(victim);
      assert.ok(Number.isFinite(notCommitted) && notCommitted > 0, 'the fail-point reported how many events were not committed');
      const successor = spawnScorer(scorerEnv(mainBrokers, topics, mode));
      scorers.push(successor);
      const report = await settle(t, kafka, topics, mode, total);
      assert.equal(report.eventsIn, total);
      assert.equal(report.lost, 0);
      if (mode === 'exactly-once') assert.equal(report.extraOutputs, 0, 'read_committed sees each input once');
      else assert.ok(report.extraOutputs <= notCommitted, `duplicates ${report.extraOutputs} <= the events not committed at the kill (${notCommitted})`);
      t.diagnostic(`events not committed at the kill (killed batch + unanswered commits): ${notCommitted}`);
    });

    for (const stopSignal of ['SIGTERM', 'SIGKILL'] as const) {
      it(`two scorers in one group, the first stopped with ${stopSignal}: nothing lost${stopSignal === 'SIGTERM' ? ', no duplicates' : ''}`, async (t) => {
        const topics = await createTestTopics(kafka, `pair-${stopSignal}-${mode}`, 4);
        const total = 6_000;
        const first = spawnScorer(scorerEnv(mainBrokers, topics, mode));
        scorers.push(first);
        const traffic = sendTraffic(mainBrokers, topics.input, total, 600);
        await sleep(3_000);
        const second = spawnScorer(scorerEnv(mainBrokers, topics, mode));
        scorers.push(second);
        await sleep(3_500);
        first.child.kill(stopSignal);
        const code = await first.exit;
        if (stopSignal === 'SIGTERM') assert.equal(code, 0, 'graceful stop exits 0');
        await traffic;
        const report = await settle(t, kafka, topics, mode, total);
        assert.equal(report.lost, 0);
        if (stopSignal === 'SIGTERM' || mode === 'exactly-once') assert.equal(report.extraOutputs, 0);
        assert.deepEqual(lastAssignment(second).get(topics.input), [0, 1, 2, 3], 'the second scorer owns every partition in the end');
      });
    }

    it('slow scoring (longer than the session timeout per batch) keeps the group membership', async (t) => {
      const topics = await createTestTopics(kafka, `slow-${mode}`, 1);
      const total = 300;
      await sendTraffic(mainBrokers, topics.input, total, 10_000, 100);
      const slow = spawnScorer(scorerEnv(mainBrokers, topics, mode, { SCORE_DELAY_MS: '12000', CONSUMER_SESSION_TIMEOUT_MS: '6000', CONSUMER_MAX_BYTES_PER_PARTITION: '1048576' }));
      scorers.push(slow);
      const report = await settle(t, kafka, topics, mode, total, 120_000);
      assert.equal(report.lost, 0);
      assert.equal(report.extraOutputs, 0, 'no batch was redone after a lost membership');
      assert.equal(slow.joins(), 1, 'joined once, never rebalanced out');
      assert.doesNotMatch(slow.output(), /not a member|REBALANCE_IN_PROGRESS|UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION/i);
    });

    it('the dead-letter topic disappears: the service halts, nothing past the failure is committed', async (t) => {
      const topics = await createTestTopics(kafka, `dlq-${mode}`, 1);
      await sendTraffic(mainBrokers, topics.input, 100, 10_000, 100);
      const scorer = spawnScorer(scorerEnv(mainBrokers, topics, mode, { PRODUCER_RETRIES: '2' }));
      scorers.push(scorer);
      const deadline = Date.now() + 30_000;
      while ((await committedOffsets(kafka, topics.group, topics.input)).get(0) !== '100' && Date.now() < deadline) await sleep(200);
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [topics.deadLetter], timeout: 10_000 });
      await admin.disconnect();
      await sendTraffic(mainBrokers, topics.input, 100, 10_000, 100); // offsets 100..199, every tenth bad
      const code = await Promise.race([scorer.exit, sleep(90_000).then(() => -1)]);
      assert.equal(code, 1, 'the service stopped with an error');
      assert.match(scorer.output(), /OUTPUT_UNWRITABLE/);
      assert.match(scorer.output(), new RegExp(`Missing topic\\(s\\): DEAD_LETTER_TOPIC=${topics.deadLetter}`));
      const committed = (await committedOffsets(kafka, topics.group, topics.input)).get(0);
      t.diagnostic(`[${mode}] committed offset after the halt: ${committed} (first bad event of the second round at 109)`);
      assert.ok(BigInt(committed ?? '-1') <= 109n, `committed ${committed}: nothing past the first event that needed the dead-letter topic`);
    });
  });

  describe(`delivery when the broker fails: ${mode}`, { concurrency: 1 }, () => {
    const broker = new TestBroker(mode === 'exactly-once' ? 19392 : 19292);
    const kafka = kafkaFor(broker.brokers);
    const scorers: ScorerProcess[] = [];
    before(() => {
      broker.reset();
      broker.start();
    });
    after(async () => {
      await stopAll(scorers);
      broker.signal('SIGCONT');
      broker.stop();
    });

    it('broker SIGKILLed while traffic flows, then restarted: nothing lost, the scorer recovers', async (t) => {
      const topics = await createTestTopics(kafka, `bkill-${mode}`, 2);
      const total = 4_000;
      const scorer = spawnScorer(scorerEnv(broker.brokers, topics, mode));
      scorers.push(scorer);
      await untilScoring(scorer);
      const traffic = sendTraffic(broker.brokers, topics.input, total, 800);
      await sleep(2_000);
      broker.signal('SIGKILL');
      await sleep(2_000);
      broker.start();
      await traffic;
      const report = await settle(t, kafka, topics, mode, total, 150_000, [scorer]);
      assert.equal(report.eventsIn, total);
      assert.equal(report.lost, 0);
      if (mode === 'exactly-once') assert.equal(report.extraOutputs, 0);
      assert.equal(scorer.child.exitCode, null, 'the scorer kept running');
      assert.match(scorer.output(), /ECONNREFUSED|Connection error|batch not written/, 'the scorer did see the broker go away');
    });

    it('scorer started while the broker is down: waits for it, then scores everything', async (t) => {
      const topics = await createTestTopics(kafka, `bdown-${mode}`, 2);
      broker.stop();
      const scorer = spawnScorer(scorerEnv(broker.brokers, topics, mode));
      scorers.push(scorer);
      // Longer than the client's own connection retries (about 10 s), so the service's wait is what holds.
      await sleep(14_000);
      assert.equal(scorer.child.exitCode, null, 'still waiting, not crashed');
      broker.start();
      await untilScoring(scorer);
      const total = 1_000;
      await sendTraffic(broker.brokers, topics.input, total, 5_000);
      const report = await settle(t, kafka, topics, mode, total, 90_000, [scorer]);
      assert.equal(report.lost, 0);
      assert.equal(report.extraOutputs, 0);
      assert.match(scorer.output(), /brokers not reachable yet; waiting/, 'the service waited for the broker');
    });

    it('broker paused longer than the session timeout, then resumed: nothing lost, no restart needed', async (t) => {
      const topics = await createTestTopics(kafka, `bstop-${mode}`, 2);
      const total = 3_000;
      const scorer = spawnScorer(scorerEnv(broker.brokers, topics, mode, { CONSUMER_SESSION_TIMEOUT_MS: '6000' }));
      scorers.push(scorer);
      await untilScoring(scorer);
      const traffic = sendTraffic(broker.brokers, topics.input, total, 600);
      await sleep(2_000);
      broker.signal('SIGSTOP');
      await sleep(10_000);
      broker.signal('SIGCONT');
      await traffic;
      const report = await settle(t, kafka, topics, mode, total, 150_000, [scorer]);
      assert.equal(report.lost, 0);
      if (mode === 'exactly-once') assert.equal(report.extraOutputs, 0);
      assert.equal(scorer.child.exitCode, null, 'the scorer kept running');
    });
  });
}
