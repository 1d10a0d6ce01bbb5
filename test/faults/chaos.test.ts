import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { readTopic } from '../../src/kafka/reader';
import { loadSchema } from '../../src/stages/decode';
import { formatReport } from '../../src/verify/verify';
import { type AppliedFault, CHAOS_TOPIC_CONFIGS, type FaultDamage, type FaultKind, attribute, eventsPerFetch, formatPlan, planChaos, readOutputs, runChaos, settleReport, stopScorers } from '../support/chaos';
import { type TestTopics, createTestTopics, topicEnv } from '../support/kafka';
import { PREDICTION_SCHEMA } from '../support/model';
import { waitFor } from '../support/scorer';
import { type ScorerProcess, sleep, spawnScorer } from '../support/processes';
import { sendTraffic } from '../support/traffic';

/*
 * Chaos, independent of the fail-points: three scorer processes in one group under steady
 * traffic, SIGKILLed and restarted, SIGTERMed and restarted, SIGSTOPped and resumed at random
 * moments from a fixed seed; then the verifier accounts for every input record.
 *
 *   CHAOS_SEED     the schedule's seed (printed; rerun a failure with it)   default 17
 *   CHAOS_SECONDS  length of the chaos window per guarantee                 default 45
 *   CHAOS_RATE     input events per second                                  default 300
 *
 * Longer runs: `CHAOS_SECONDS=300 CHAOS_RATE=1000 npm run test:chaos`.
 */
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const MODES = ['at-least-once', 'exactly-once'] as const;
type Mode = (typeof MODES)[number];

const SEED = Number(process.env.CHAOS_SEED ?? '17');
const SECONDS = Number(process.env.CHAOS_SECONDS ?? '45');
const SCORERS = 3;
const PARTITIONS = 6;
const RATE = Number(process.env.CHAOS_RATE ?? '300');
const PRODUCER_CHUNK = 50;
const SESSION_TIMEOUT_MS = 6_000;
const MAX_BYTES_PER_PARTITION = 16_384;

/**
 * The at-least-once promise for one fault (docs/delivery.md): what a scorer had read but not yet
 * committed may be written again by the next owner. Random signals cannot ask the scorer how
 * much that was (the kill fail-point logs it; a SIGKILL from outside cannot), so the bound is
 * what it can be at most: on every partition (the victim may own them all after earlier faults),
 * the batch in flight plus the batch whose commit request is still unanswered, each at most one
 * fetch (CONSUMER_MAX_BYTES_PER_PARTITION over the smallest record, plus one producer batch,
 * which a fetch returns whole).
 */
function boundPerFault(perFetch: number): number {
  return PARTITIONS * perFetch * 2;
}

/**
 * Issue 17: a scorer paused past the session timeout may come back still writing the batch in
 * hand for partitions the group has moved (at-least-once has no fencing), duplicating the new
 * owner's writes. With this test's small fetches that stayed far inside the bound on current
 * code (worst 11 extra outputs in 21 pauses, 9 of them past the session timeout), so the bound
 * is enforced. If it fails with thousands of extra outputs after a long pause, that is the
 * fencing bug: set this to the reason to mark only that assertion todo until the fix is merged.
 */
const STOP_BOUND_TODO: string | undefined = undefined; // e.g. 'issue 17: resumed scorer writes lost partitions; enable with the fencing fix'

function scorerEnv(topics: TestTopics, mode: Mode): Record<string, string> {
  return {
    ...topicEnv(topics),
    PROCESSING_GUARANTEE: mode,
    CONSUMER_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
    CONSUMER_MAX_BYTES_PER_PARTITION: String(MAX_BYTES_PER_PARTITION),
    RETRY_BACKOFF_MAX_MS: '2000',
    // A crashed instance's open transaction blocks read_committed readers until fenced or timed out.
    TRANSACTION_TIMEOUT_MS: '20000',
    SHUTDOWN_TIMEOUT_MS: '15000',
    HEALTH_PORT: '0',
  };
}

function damageTable(damage: readonly FaultDamage[], bound: number): string {
  return damage
    .map((d, i) =>
      d.fault === undefined
        ? `before any fault: ${d.extraOutputs} extra outputs`
        : `#${i} ${d.fault.kind} for ${(d.fault.downMs / 1000).toFixed(1)}s, partitions [${d.fault.partitions.join(',')}]: ${d.extraOutputs} extra outputs (bound ${bound}), partitions moving again after ${d.recoveryMs === undefined ? '—' : `${(d.recoveryMs / 1000).toFixed(1)}s`}`,
    )
    .join('\n');
}

function extraBy(damage: readonly FaultDamage[], kinds: readonly FaultKind[]): { extra: number; worst: number; faults: number } {
  const hit = damage.filter((d) => d.fault !== undefined && kinds.includes(d.fault.kind));
  return { extra: hit.reduce((s, d) => s + d.extraOutputs, 0), worst: Math.max(0, ...hit.map((d) => d.extraOutputs)), faults: hit.length };
}

for (const mode of MODES) {
  describe(`chaos: ${mode}`, { concurrency: 1 }, () => {
    const kafka = new Kafka({ clientId: 'chaos-test', brokers: (process.env.KAFKA_BROKERS ?? '').split(','), logLevel: logLevel.NOTHING });
    const started: ScorerProcess[] = [];
    after(() => stopScorers(started));

    it(`${SCORERS} scorers killed, terminated, paused at random (seed ${SEED}, ${SECONDS}s): nothing lost${mode === 'exactly-once' ? ', nothing duplicated' : ', duplicates bounded per fault'}`, { timeout: (SECONDS + 240) * 1000 }, async (t) => {
      const topics = await createTestTopics(kafka, `chaos-${mode}`, PARTITIONS, CHAOS_TOPIC_CONFIGS);
      // The seed also differs per guarantee, so the two runs see different schedules.
      const plan = planChaos({ seed: SEED + (mode === 'exactly-once' ? 1 : 0), durationMs: SECONDS * 1000, slots: SCORERS, sessionTimeoutMs: SESSION_TIMEOUT_MS });
      t.diagnostic(`[${mode}] seed ${SEED}, ${SECONDS}s, ${plan.length} faults planned:\n${formatPlan(plan)}`);
      assert.ok(plan.length > 0, 'the window holds at least one fault');

      const make = (): ScorerProcess => spawnScorer(scorerEnv(topics, mode));
      const slots = Array.from({ length: SCORERS }, make);
      started.push(...slots);
      const total = RATE * (SECONDS + 5);
      const traffic = sendTraffic((process.env.KAFKA_BROKERS ?? '').split(','), topics.input, total, RATE, PRODUCER_CHUNK);
      // The chaos starts once every scorer is in the group and traffic flows (start-up takes seconds on a busy machine).
      await waitFor(() => slots.every((s) => s.joins() > 0), 90_000, 'every scorer to join the group');
      await sleep(2_000);
      const lines: string[] = [];
      const faults: AppliedFault[] = await runChaos(plan, slots, make, started, topics.input, (line) => lines.push(line));
      t.diagnostic(`[${mode}] faults applied:\n${lines.join('\n')}`);
      await traffic;

      const report = await settleReport(kafka, topics, predictionType, mode === 'exactly-once', total, 120_000);
      t.diagnostic(`[${mode}] verifier:\n${formatReport(report)}`);
      const outputs = await readOutputs(kafka, topics, predictionType, mode === 'exactly-once');
      const damage = attribute(outputs, faults);
      const perFetch = eventsPerFetch((await readTopic(kafka, topics.input, { readCommitted: true })).messages, MAX_BYTES_PER_PARTITION, PRODUCER_CHUNK);
      const bound = boundPerFault(perFetch);
      t.diagnostic(`[${mode}] per fault (events per fetch ≤ ${perFetch}, bound per fault ${bound}):\n${damageTable(damage, bound)}`);
      for (const kind of ['kill', 'term', 'stop'] as const) {
        const k = extraBy(damage, [kind]);
        t.diagnostic(`[${mode}] ${kind}: ${k.faults} faults, ${k.extra} extra outputs, worst ${k.worst}`);
      }
      if (report.lost > 0) for (const s of started) t.diagnostic(`scorer pid ${s.child.pid} log tail:\n${s.output().slice(-4_000)}`);

      await t.test('nothing lost', () => {
        assert.equal(report.eventsIn, total);
        assert.equal(report.lost, 0, `lost e.g. ${report.lostSample.join(' ')}`);
      });
      if (mode === 'exactly-once') {
        await t.test('nothing duplicated (read_committed)', () => assert.equal(report.extraOutputs, 0));
        return;
      }
      await t.test('no duplicates without a fault', () => assert.equal(damage[0]?.extraOutputs, 0));
      await t.test(`SIGKILL and SIGTERM: duplicates per fault within ${bound}`, () => {
        const k = extraBy(damage, ['kill', 'term']);
        assert.ok(k.worst <= bound, `worst fault caused ${k.worst} extra outputs, bound ${bound}`);
      });
      await t.test(`SIGSTOP/SIGCONT: duplicates per fault within ${bound}`, STOP_BOUND_TODO === undefined ? {} : { todo: STOP_BOUND_TODO }, () => {
        const k = extraBy(damage, ['stop']);
        assert.ok(k.worst <= bound, `worst pause caused ${k.worst} extra outputs, bound ${bound}`);
      });
    });
  });
}
