import type avro from 'avsc';
import type { Kafka } from 'kafkajs';
import { seededRandom } from '../../src/demo/synthetic';
import { readTopic } from '../../src/kafka/reader';
import { H } from '../../src/output/headers';
import type { SourceMessage } from '../../src/records';
import { type VerifyReport, verifyTopics } from '../../src/verify/verify';
import type { TestTopicConfigs, TestTopics } from './kafka';
import { type ScorerProcess, sleep } from './processes';

/*
 * A chaos driver for scorer processes: faults at random moments from a fixed seed, so a failing
 * run can be repeated with the same schedule (CHAOS_SEED). Output topics use LogAppendTime, so
 * every output record carries the moment the broker wrote it: that is what ties a duplicate to
 * the fault it came from, and a partition's first output after a fault to its recovery time.
 */

/**
 * kill: SIGKILL, restarted after `downMs` (a crashed pod). term: SIGTERM, restarted after `downMs`
 * (a rolling update). stop: SIGSTOP for `downMs`, then SIGCONT (a VM or GC pause, a frozen node).
 */
export type FaultKind = 'kill' | 'term' | 'stop';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'term', 'stop'];

export interface PlannedFault {
  /** Milliseconds after the start of the chaos window. */
  readonly atMs: number;
  readonly kind: FaultKind;
  /** Index of the scorer slot hit. */
  readonly slot: number;
  /** How long the scorer stays down (kill, term) or paused (stop). */
  readonly downMs: number;
}

export interface ChaosPlanOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly slots: number;
  readonly sessionTimeoutMs: number;
}

/**
 * The schedule, fixed by the seed. Faults do not overlap: the next one is drawn after the
 * previous scorer is back (restarted or resumed), so each fault's damage can be told apart.
 * Pauses are drawn on both sides of the session timeout: a short one must cost nothing, a long
 * one makes the group move the partitions while the paused scorer still believes it owns them.
 */
export function planChaos(options: ChaosPlanOptions): PlannedFault[] {
  const random = seededRandom(options.seed);
  const between = (lo: number, hi: number): number => Math.round(lo + random() * (hi - lo));
  // Kinds come in shuffled rounds of four, so even a short run sees each of them, a long pause included.
  const round = (): Array<{ kind: FaultKind; downMs: () => number }> => {
    const kinds = [
      { kind: 'kill' as const, downMs: () => between(500, 4_000) },
      { kind: 'term' as const, downMs: () => between(500, 4_000) },
      { kind: 'stop' as const, downMs: () => between(1_000, options.sessionTimeoutMs / 2) },
      { kind: 'stop' as const, downMs: () => between(options.sessionTimeoutMs + 2_000, options.sessionTimeoutMs * 2) },
    ];
    for (let i = kinds.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [kinds[i], kinds[j]] = [kinds[j] as (typeof kinds)[number], kinds[i] as (typeof kinds)[number]];
    }
    return kinds;
  };
  const plan: PlannedFault[] = [];
  let queue = round();
  let at = between(3_000, 6_000);
  for (;;) {
    if (queue.length === 0) queue = round();
    const next = queue.shift() as { kind: FaultKind; downMs: () => number };
    const downMs = next.downMs();
    if (at + downMs > options.durationMs) break;
    plan.push({ atMs: at, kind: next.kind, slot: Math.floor(random() * options.slots), downMs });
    at += downMs + between(3_000, 8_000);
  }
  return plan;
}

export function formatPlan(plan: readonly PlannedFault[]): string {
  return plan.map((f, i) => `#${i + 1} t=${(f.atMs / 1000).toFixed(1)}s ${f.kind} scorer ${f.slot} for ${(f.downMs / 1000).toFixed(1)}s`).join('\n');
}

/** A fault as it happened: wall-clock time, comparable with the broker's LogAppendTime. */
export interface AppliedFault extends PlannedFault {
  readonly at: number;
  readonly pid: number | undefined;
  /** Input partitions the scorer had in its last assignment before the fault. */
  readonly partitions: readonly number[];
}

/** The partitions a scorer process was last assigned, from its "joined consumer group" log line. */
export function lastAssignment(scorer: ScorerProcess, topic: string): number[] {
  const lines = scorer.output().split('\n').filter((l) => l.includes('"msg":"joined consumer group"'));
  const last = lines[lines.length - 1];
  const assignment = last ? (JSON.parse(last) as { assignment?: Record<string, number[]> }).assignment : undefined;
  return [...(assignment?.[topic] ?? [])].sort((a, b) => a - b);
}

export function isRunning(scorer: ScorerProcess): boolean {
  return scorer.child.exitCode === null && scorer.child.signalCode === null;
}

/** Stops every scorer gracefully (resuming paused ones first), SIGKILL after 20 s. */
export async function stopScorers(scorers: readonly ScorerProcess[]): Promise<void> {
  await Promise.all(
    scorers.map(async (s) => {
      if (!isRunning(s)) return;
      s.child.kill('SIGCONT');
      s.child.kill('SIGTERM');
      await Promise.race([s.exit, sleep(20_000)]);
      if (isRunning(s)) s.child.kill('SIGKILL');
    }),
  );
}

/**
 * Runs the plan against `slots` scorer processes. Every process ever started is pushed to
 * `started`, so the caller can stop them whatever happens. Returns the faults with their times.
 */
export async function runChaos(plan: readonly PlannedFault[], slots: ScorerProcess[], makeScorer: () => ScorerProcess, started: ScorerProcess[], topic: string, log: (line: string) => void): Promise<AppliedFault[]> {
  const begin = Date.now();
  const applied: AppliedFault[] = [];
  for (const fault of plan) {
    const wait = begin + fault.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    const victim = slots[fault.slot] as ScorerProcess;
    const at = Date.now();
    applied.push({ ...fault, at, pid: victim.child.pid, partitions: lastAssignment(victim, topic) });
    log(`t=${((at - begin) / 1000).toFixed(1)}s ${fault.kind} scorer ${fault.slot} (pid ${victim.child.pid}, partitions ${lastAssignment(victim, topic).join(',')}) for ${(fault.downMs / 1000).toFixed(1)}s`);
    if (fault.kind === 'stop') {
      victim.child.kill('SIGSTOP');
      await sleep(fault.downMs);
      victim.child.kill('SIGCONT');
      continue;
    }
    victim.child.kill(fault.kind === 'kill' ? 'SIGKILL' : 'SIGTERM');
    // A graceful stop may take a while (finish the batch, leave the group); the restart waits for it like a pod's would.
    await Promise.race([victim.exit, sleep(30_000)]);
    if (isRunning(victim)) victim.child.kill('SIGKILL');
    await sleep(fault.downMs);
    const next = makeScorer();
    started.push(next);
    slots[fault.slot] = next;
  }
  return applied;
}

export interface Output {
  /** topic/partition/offset of the input record this output is for. */
  readonly source: string | undefined;
  readonly inputPartition: number | undefined;
  /** When the broker wrote it (LogAppendTime). */
  readonly writtenAt: number;
}

/** Output topics get LogAppendTime so the analysis can time every output. */
export const CHAOS_TOPIC_CONFIGS: TestTopicConfigs = {
  output: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
  deadLetter: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }],
};

function lastText(record: SourceMessage, name: string): string | undefined {
  const value = record.headers[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined || last === null ? undefined : last.toString();
}

/** Every prediction and dead letter with its input position and write time. */
export async function readOutputs(kafka: Kafka, topics: TestTopics, predictionType: avro.Type, readCommitted: boolean): Promise<Output[]> {
  const outputs: Output[] = [];
  for (const record of (await readTopic(kafka, topics.output, { readCommitted })).messages) {
    const { source } = predictionType.fromBuffer(record.value as Buffer) as { source: { topic: string; partition: number; offset: number } };
    outputs.push({ source: `${source.topic}/${source.partition}/${source.offset}`, inputPartition: source.partition, writtenAt: Number(record.timestamp) });
  }
  for (const record of (await readTopic(kafka, topics.deadLetter, { readCommitted })).messages) {
    const topic = lastText(record, H.sourceTopic);
    const partition = lastText(record, H.sourcePartition);
    outputs.push({ source: topic === undefined ? undefined : `${topic}/${partition}/${lastText(record, H.sourceOffset)}`, inputPartition: partition === undefined ? undefined : Number(partition), writtenAt: Number(record.timestamp) });
  }
  return outputs;
}

export interface FaultDamage {
  readonly fault: AppliedFault | undefined;
  /** Extra outputs (beyond the first per input record) written after this fault and before the next. */
  readonly extraOutputs: number;
  /** From the fault to the first output written for each of the victim's partitions, ms (undefined: none seen). */
  readonly recoveryMs: number | undefined;
}

/**
 * Ties each extra output to the last fault before it was written, and times how long the
 * victim's partitions stood still. Index 0 is for extra outputs before any fault (there should be none).
 */
export function attribute(outputs: readonly Output[], faults: readonly AppliedFault[]): FaultDamage[] {
  const byPosition = new Map<string, number[]>();
  for (const o of outputs) {
    if (o.source === undefined) continue;
    const times = byPosition.get(o.source) ?? [];
    times.push(o.writtenAt);
    byPosition.set(o.source, times);
  }
  const extra = new Array<number>(faults.length + 1).fill(0);
  const sorted = [...faults].sort((a, b) => a.at - b.at);
  for (const times of byPosition.values()) {
    if (times.length < 2) continue;
    times.sort((a, b) => a - b);
    for (const t of times.slice(1)) {
      let index = 0;
      sorted.forEach((f, i) => {
        if (f.at <= t) index = i + 1;
      });
      extra[index] = (extra[index] ?? 0) + 1;
    }
  }
  return [
    { fault: undefined, extraOutputs: extra[0] ?? 0, recoveryMs: undefined },
    ...sorted.map((fault, i) => ({ fault, extraOutputs: extra[i + 1] ?? 0, recoveryMs: recoveryOf(outputs, fault.partitions, fault.at) })),
  ];
}

/**
 * The time from `at` until every one of `partitions` had an output written again: the slowest
 * partition is the recovery time (undefined when one never moved again, e.g. no traffic).
 * Outputs within 50 ms of the fault are the victim's last writes landing, not a recovery.
 */
export function recoveryOf(outputs: readonly Output[], partitions: readonly number[], at: number): number | undefined {
  let slowest = 0;
  for (const p of partitions) {
    let first = Number.POSITIVE_INFINITY;
    for (const o of outputs) if (o.inputPartition === p && o.writtenAt > at + 50 && o.writtenAt < first) first = o.writtenAt;
    if (!Number.isFinite(first)) return undefined;
    slowest = Math.max(slowest, first - at);
  }
  return slowest;
}

/** Verifies until everything is accounted for or the deadline passes. */
export async function settleReport(kafka: Kafka, topics: TestTopics, predictionType: avro.Type, readCommitted: boolean, expected: number, timeoutMs: number): Promise<VerifyReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, readCommitted);
    if ((report.lost === 0 && report.eventsIn >= expected) || Date.now() > deadline) return report;
    await sleep(2_000);
  }
}

/**
 * Most events one fetch can hold per partition: the fetch size over the smallest input record
 * (value, key and the record's own framing, at least 8 bytes), plus one producer batch, since a
 * fetch always returns at least the first whole record batch even when it is bigger.
 */
export function eventsPerFetch(inputs: readonly SourceMessage[], maxBytesPerPartition: number, producerChunk: number): number {
  let smallest = Number.POSITIVE_INFINITY;
  for (const m of inputs) smallest = Math.min(smallest, (m.value?.length ?? 0) + (m.key?.length ?? 0) + 8);
  return Math.ceil(maxBytesPerPartition / smallest) + producerChunk;
}
