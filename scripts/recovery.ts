/*
 * How long partitions stand still after a scorer fails, per fault kind and session timeout.
 * Two scorers share four partitions under steady traffic; one of them (A) is hit, and the time
 * from the fault to the first output written again (LogAppendTime) for every partition A owned
 * is its recovery time. Also shown: the longest gap on B's own partitions after the fault
 * (kafkajs' eager rebalance stops every member, not only the one that left).
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node --import tsx scripts/recovery.ts
 *   RECOVERY_SESSION_TIMEOUTS=30000,10000,6000   RECOVERY_KINDS=kill,term,restart,stop
 */
import { Kafka, logLevel } from 'kafkajs';
import { loadSchema } from '../src/stages/decode';
import { CHAOS_TOPIC_CONFIGS, type Output, isRunning, lastAssignment, readOutputs, recoveryOf, stopScorers } from '../test/support/chaos';
import { createTestTopics, topicEnv } from '../test/support/kafka';
import { PREDICTION_SCHEMA } from '../test/support/model';
import { type ScorerProcess, sleep, spawnScorer } from '../test/support/processes';
import { sendTraffic } from '../test/support/traffic';

type Kind = 'kill' | 'term' | 'restart' | 'stop';
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const sessions = (process.env.RECOVERY_SESSION_TIMEOUTS ?? '30000,10000,6000').split(',').map(Number);
const kinds = (process.env.RECOVERY_KINDS ?? 'kill,term,restart,stop').split(',') as Kind[];
const RATE = 200;
const out = (line: string): void => void process.stdout.write(`${line}\n`);
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const kafka = new Kafka({ clientId: 'recovery', brokers, logLevel: logLevel.NOTHING });

/** Longest time without an output on any of `partitions` between `from` and the last output seen. */
function longestGap(outputs: readonly Output[], partitions: readonly number[], from: number): number {
  let worst = 0;
  for (const p of partitions) {
    const times = outputs.filter((o) => o.inputPartition === p && o.writtenAt >= from).map((o) => o.writtenAt).sort((a, b) => a - b);
    let previous = from;
    for (const t of times) {
      worst = Math.max(worst, t - previous);
      previous = t;
    }
  }
  return worst;
}

async function trial(kind: Kind, sessionTimeoutMs: number): Promise<string> {
  const topics = await createTestTopics(kafka, `recovery-${kind}-${sessionTimeoutMs}`, 4, CHAOS_TOPIC_CONFIGS);
  const env = { ...topicEnv(topics, brokers), CONSUMER_SESSION_TIMEOUT_MS: String(sessionTimeoutMs), CONSUMER_MAX_BYTES_PER_PARTITION: '16384', HEALTH_PORT: '0' };
  const started: ScorerProcess[] = [];
  let flowing = true;
  // Traffic in 5-second slices until the trial ends.
  const traffic = (async () => {
    while (flowing) await sendTraffic(brokers, topics.input, RATE * 5, RATE);
  })();
  try {
    const a = spawnScorer(env);
    const b = spawnScorer(env);
    started.push(a, b);
    const settled = Date.now() + 120_000;
    while (!(lastAssignment(a, topics.input).length === 2 && lastAssignment(b, topics.input).length === 2)) {
      if (Date.now() > settled) throw new Error('the two scorers did not split the partitions');
      await sleep(200);
    }
    await sleep(4_000);
    const victim = lastAssignment(a, topics.input);
    const survivor = lastAssignment(b, topics.input);
    const at = Date.now();
    if (kind === 'stop') a.child.kill('SIGSTOP');
    else a.child.kill(kind === 'term' ? 'SIGTERM' : 'SIGKILL');
    if (kind === 'restart') started.push(spawnScorer(env));
    let exitMs: number | undefined;
    void a.exit.then(() => (exitMs = Date.now() - at));
    const deadline = at + sessionTimeoutMs * 3 + 30_000;
    let recovery: number | undefined;
    let outputs: Output[] = [];
    while (recovery === undefined && Date.now() < deadline) {
      await sleep(2_000);
      outputs = await readOutputs(kafka, topics, predictionType, false);
      recovery = recoveryOf(outputs, victim, at);
    }
    if (kind === 'stop') a.child.kill('SIGCONT');
    // A little more traffic after the take-over, so the survivor's gap is measured past it.
    await sleep(3_000);
    outputs = await readOutputs(kafka, topics, predictionType, false);
    const gap = longestGap(outputs, survivor, at);
    const left = kind === 'term' ? `, exited after ${exitMs ?? '—'} ms (code ${a.child.exitCode ?? a.child.signalCode ?? 'running'})` : '';
    return `${kind.padEnd(8)} session ${String(sessionTimeoutMs).padStart(6)} ms: A's partitions [${victim.join(',')}] moving again after ${recovery === undefined ? 'never (timed out)' : `${recovery} ms`}; B's partitions [${survivor.join(',')}] longest gap ${gap} ms${left}`;
  } finally {
    flowing = false;
    await stopScorers(started.filter(isRunning));
    await traffic;
  }
}

async function main(): Promise<void> {
  out(`recovery times, ${RATE} events/s over 4 partitions, heartbeat = session/10 (min 1 s), ${new Date().toISOString()}`);
  for (const session of sessions) {
    for (const kind of kinds) out(await trial(kind, session));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
