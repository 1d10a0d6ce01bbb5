import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import avro from 'avsc';
import { type IHeaders, type Kafka, type KafkaMessage, Partitioners } from 'kafkajs';
import { EventFactory, type PaymentEvent, seededRandom } from '../../src/demo/synthetic';
import { readContract } from '../../src/model/contract';
import { H } from '../../src/output/headers';
import { loadSchema } from '../../src/stages/decode';
import { type VerifyReport, formatReport, verifyTopics } from '../../src/verify/verify';
import { type TestTopics, collect, committedAtLeast, createTestTopics, endOffsets, headerText, testKafka, topicEnv } from '../support/kafka';
import { MODEL_PATH, PREDICTION_SCHEMA, ROOT } from '../support/model';
import { type ScorerProcess, sleep, spawnScorer } from '../support/processes';

/*
 * "A defect in one record is that record's problem": every kind of hostile record the service
 * has been seen to choke on, mixed with good traffic on several partitions, against a scorer
 * running as its own process with the heap limit of the Kubernetes pod. Each must end up as
 * a dead letter with the right code (or a prediction, when only its headers are odd), nothing
 * may be lost, no partition may stall, and the process must stay alive.
 */
const EXTRAS_SCHEMA = join(ROOT, 'test/fixtures/payment-event-extras.avsc');
const inputType = loadSchema(EXTRAS_SCHEMA, 'INPUT_SCHEMA');
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const longType = avro.Type.forSchema('long');
const MiB = 1024 * 1024;
const THROW_KEY = 'hostile-internal-error';

/** The scorer container's heap limit, as the base Deployment sets it (--max-old-space-size). */
function podNodeOptions(): string {
  const manifest = readFileSync(join(ROOT, 'k8s/base/deployment.yaml'), 'utf8');
  const match = manifest.match(/--max-old-space-size=(\d+)/);
  assert.ok(match, 'the base Deployment sets the heap limit');
  return `--max-old-space-size=${match[1]}`;
}

/** The scorer container's memory limit in MiB (resources.limits.memory of the base Deployment). */
function podMemoryLimitMb(): number {
  const manifest = readFileSync(join(ROOT, 'k8s/base/deployment.yaml'), 'utf8');
  const limits = manifest.slice(manifest.indexOf('limits:'));
  const match = limits.match(/memory:\s*(\d+)Mi/);
  assert.ok(match, 'the base Deployment sets a memory limit in Mi');
  return Number(match[1]);
}

/** A hostile or odd record, and what must become of it. */
interface Case {
  readonly name: string;
  readonly key: string;
  readonly value: Buffer | null;
  readonly headers?: IHeaders;
  /** A reason code: dead-lettered with it; undefined: scored. */
  readonly expected?: string;
  /** Extra checks on the output record. */
  readonly check?: (output: KafkaMessage) => void;
}

function event(factory: EventFactory, extras: { tags?: string[]; attributes?: Record<string, string> } = {}, change?: (e: PaymentEvent) => void): Record<string, unknown> {
  const e = factory.valid();
  change?.(e);
  return { ...e, tags: extras.tags ?? [], attributes: extras.attributes ?? {} };
}

/**
 * An event whose last two fields (tags: array, attributes: map) are empty ends in two zero bytes
 * (the block terminators); hostile block headers replace them.
 */
function withTail(factory: EventFactory, tail: Buffer): Buffer {
  const body = inputType.toBuffer(event(factory));
  assert.deepEqual([...body.subarray(-2)], [0, 0], 'empty array and map end the encoding');
  return Buffer.concat([body.subarray(0, body.length - 2), tail]);
}

function varint(n: number): Buffer {
  return longType.toBuffer(n);
}

function hostileCases(factory: EventFactory): Case[] {
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const undecodable = (output: KafkaMessage): void => assert.ok((headerText(output, H.reasonMessage) ?? '').length < 2_000, 'a reason message of bounded size');
  return [
    // 1. Block counts avsc trusts: 10^8 array items (heap OOM), a negative count with a block size, 10^11 map entries (CPU loop).
    { name: 'array block count 10^8', key: 'hostile-array-1e8', value: withTail(factory, Buffer.concat([varint(1e8), Buffer.from('abc')])), expected: 'UNDECODABLE_AVRO', check: undecodable },
    { name: 'array block count -10^9 with block size', key: 'hostile-array-neg', value: withTail(factory, Buffer.concat([varint(-1e9), varint(64), Buffer.from('abcdef')])), expected: 'UNDECODABLE_AVRO', check: undecodable },
    { name: 'map block count 10^11', key: 'hostile-map-1e11', value: withTail(factory, Buffer.concat([Buffer.from([0]), varint(1e11), Buffer.from('k')])), expected: 'UNDECODABLE_AVRO', check: undecodable },
    { name: 'nested: 10^7 tags of 1 byte declared in 40 bytes', key: 'hostile-array-1e7', value: withTail(factory, Buffer.concat([varint(1e7), Buffer.alloc(40, 2)])), expected: 'UNDECODABLE_AVRO', check: undecodable },
    // 2. Null header values, on both paths.
    { name: 'valid event, null traceparent', key: 'hostile-null-traceparent', value: inputType.toBuffer(event(factory)), headers: { traceparent: null as unknown as Buffer } },
    { name: 'valid event, traceparent and null tracestate', key: 'hostile-null-tracestate', value: inputType.toBuffer(event(factory)), headers: { traceparent, tracestate: null as unknown as Buffer } },
    { name: 'valid event, duplicate traceparent headers', key: 'hostile-dup-traceparent', value: inputType.toBuffer(event(factory)), headers: { traceparent: [traceparent, traceparent] } },
    { name: 'valid event, null custom header', key: 'hostile-null-custom-ok', value: inputType.toBuffer(event(factory)), headers: { 'x-custom': null as unknown as Buffer } },
    {
      name: 'unknown category, null custom header and null traceparent',
      key: 'hostile-null-custom-bad',
      value: inputType.toBuffer(event(factory, {}, (e) => (e.channel = 'smart_fridge'))),
      headers: { 'x-custom': null as unknown as Buffer, traceparent: null as unknown as Buffer },
      expected: 'UNKNOWN_CATEGORY',
      check: (output) => {
        assert.ok('x-custom' in (output.headers ?? {}), 'the null header is kept');
        assert.equal(output.headers?.['x-custom'], null, 'and is still null');
      },
    },
    // 3. A record the scorer's own code throws on (a defect, injected by a test-only fail-point): isolated to it.
    { name: 'record the pipeline throws for', key: THROW_KEY, value: inputType.toBuffer(event(factory)), expected: 'INTERNAL_ERROR', check: (output) => assert.match(headerText(output, H.reasonMessage) ?? '', /Error/) },
    // 4. Dead letters bigger than the dead-letter topic accepts (1 MiB there, 2 MiB on the input topic).
    {
      name: '~1 MiB of undecodable bytes',
      key: 'hostile-big-undecodable',
      value: Buffer.concat([Buffer.from([0xff, 0xff]), randomBytes(MiB - 200)]),
      expected: 'UNDECODABLE_AVRO',
      check: (output) => {
        for (const name of [H.sourceTopic, H.sourcePartition, H.sourceOffset]) assert.ok(headerText(output, name) !== undefined, `${name} present`);
      },
    },
    {
      name: 'unknown category of 600 KB',
      key: 'hostile-big-category',
      value: inputType.toBuffer(event(factory, {}, (e) => (e.country = 'Z'.repeat(600_000)))),
      expected: 'UNKNOWN_CATEGORY',
      check: (output) => {
        assert.equal(headerText(output, H.reasonField), 'country');
        assert.ok((headerText(output, H.reasonMessage) ?? '').length < 2_000, 'the reason message does not repeat the value');
      },
    },
  ];
}

/** The input topic accepts bigger records than the dead-letter topic (1 MiB default): the case that broke dead-lettering. */
function createTopics(kafka: Kafka, name: string, partitions: number): Promise<TestTopics> {
  return createTestTopics(kafka, name, partitions, { input: [{ name: 'max.message.bytes', value: String(2 * MiB) }] });
}

/** Sends records one request each (a big record must be alone in its batch), returning when each was appended. */
async function send(kafka: Kafka, topic: string, records: { key: string; value: Buffer | null; headers?: IHeaders }[]): Promise<Map<string, number>> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const sentAt = new Map<string, number>();
  for (let from = 0; from < records.length; ) {
    // Small records go in groups; a big one alone.
    const group: typeof records = [];
    let bytes = 0;
    while (from < records.length && (group.length === 0 || bytes + ((records[from]?.value?.length ?? 0) as number) < 256 * 1024)) {
      const record = records[from] as (typeof records)[number];
      group.push(record);
      bytes += record.value?.length ?? 0;
      from += 1;
    }
    await producer.send({ topic, acks: -1, messages: group.map((r) => ({ key: r.key, value: r.value, ...(r.headers ? { headers: r.headers } : {}) })) });
    const now = Date.now();
    for (const r of group) sentAt.set(r.key, now);
  }
  await producer.disconnect();
  return sentAt;
}

function scorerEnv(topics: TestTopics, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...topicEnv(topics),
    INPUT_SCHEMA: EXTRAS_SCHEMA,
    NODE_OPTIONS: podNodeOptions(),
    CONSUMER_SESSION_TIMEOUT_MS: '10000',
    RETRY_BACKOFF_MAX_MS: '2000',
    FAILPOINT_THROW_ON_KEY: THROW_KEY,
    ...extra,
  };
}

async function untilScoring(scorer: ScorerProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!scorer.output().includes('"msg":"scoring"')) {
    if (Date.now() > deadline || scorer.child.exitCode !== null || scorer.child.signalCode !== null) throw new Error(`scorer did not start:\n${scorer.output().slice(-3_000)}`);
    await sleep(100);
  }
}

/** Verifies until every input is accounted for, the scorer died, or the deadline passed. */
async function settle(t: TestContext, kafka: Kafka, topics: TestTopics, expected: number, scorer: ScorerProcess, timeoutMs: number): Promise<VerifyReport> {
  const deadline = Date.now() + timeoutMs;
  let report: VerifyReport;
  for (;;) {
    report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, false);
    const dead = scorer.child.exitCode !== null || scorer.child.signalCode !== null;
    if ((report.lost === 0 && report.eventsIn >= expected) || dead || Date.now() > deadline) break;
    await sleep(1_000);
  }
  t.diagnostic(formatReport(report));
  return report;
}

/** Peak resident set of a live process, from /proc (VmHWM). */
function peakRssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1]);
  return Math.round(kb / 1024);
}

function alive(scorer: ScorerProcess): boolean {
  return scorer.child.exitCode === null && scorer.child.signalCode === null;
}

async function stop(scorer: ScorerProcess | undefined): Promise<void> {
  if (!scorer || !alive(scorer)) return;
  scorer.child.kill('SIGTERM');
  await Promise.race([scorer.exit, sleep(20_000)]);
  if (alive(scorer)) scorer.child.kill('SIGKILL');
}

describe('integration: hostile records never stop the stream', { concurrency: 1 }, () => {
  const kafka = testKafka();
  const scorers: ScorerProcess[] = [];
  after(async () => {
    for (const s of scorers) await stop(s);
  });

  it('every hostile kind mixed with good traffic on 3 partitions: good scored, bad dead-lettered with its code, no stall, the process lives', async (t) => {
    const topics = await createTopics(kafka, 'hostile', 3);
    const factory = new EventFactory(readContract(MODEL_PATH), seededRandom(10));
    const scorer = spawnScorer(scorerEnv(topics));
    scorers.push(scorer);
    await untilScoring(scorer);

    const cases = hostileCases(factory);
    // Good events around and between the hostile ones, on every partition.
    const good = (n: number, tag: string): { key: string; value: Buffer }[] =>
      Array.from({ length: n }, (_, i) => ({ key: `good-${tag}-${i}`, value: inputType.toBuffer(event(factory, { tags: ['a', 'b'], attributes: { source: 'pos' } })) }));
    const records = [...good(100, 'before'), ...cases.flatMap((c, i) => [c, ...good(20, `between-${i}`)]), ...good(100, 'after')];
    const sentAt = await send(kafka, topics.input, records);
    const total = records.length;

    const report = await settle(t, kafka, topics, total, scorer, 120_000);
    assert.ok(alive(scorer), `the scorer is alive (log tail:\n${scorer.output().slice(-4_000)})`);
    const peak = peakRssMb(scorer.child.pid);
    t.diagnostic(`scorer peak RSS ${peak} MB (${podNodeOptions()}, pod memory limit ${podMemoryLimitMb()} MiB)`);
    assert.ok(peak < podMemoryLimitMb(), `peak RSS ${peak} MB fits the pod's memory limit`);
    assert.equal(report.eventsIn, total);
    assert.equal(report.lost, 0, 'nothing lost');
    assert.equal(report.extraOutputs, 0, 'no record written twice (no retried batch)');

    // No partition stalled: the group committed to the end of every partition.
    const ends = await endOffsets(kafka, topics.input);
    const committed = await committedAtLeast(kafka, topics.group, topics.input, ends, 30_000);
    for (const [partition, end] of ends) assert.equal(committed.get(partition), end, `partition ${partition} committed to its end`);

    const badCount = cases.filter((c) => c.expected).length;
    const deadLetters = await collect(kafka, topics.deadLetter, badCount, 30_000);
    const predictions = await collect(kafka, topics.output, total - badCount, 30_000);
    assert.equal(deadLetters.length, badCount, 'one dead letter per bad record');
    assert.equal(predictions.length, total - badCount, 'one prediction per good record');
    const lines: string[] = [];
    for (const c of cases) {
      const output = (c.expected ? deadLetters : predictions).find((o) => o.message.key?.toString() === c.key)?.message;
      assert.ok(output, `${c.name}: found on the ${c.expected ? 'dead-letter' : 'output'} topic`);
      if (c.expected) assert.equal(headerText(output, H.reasonCode), c.expected, `${c.name}: reason code`);
      c.check?.(output);
      const doneAt = c.expected ? Date.parse(headerText(output, H.failedAt) ?? '') : Number((predictionType.fromBuffer(output.value as Buffer) as { scored_at: number }).scored_at);
      lines.push(`${c.name}: ${c.expected ?? 'scored'} ${doneAt - (sentAt.get(c.key) ?? doneAt)} ms after it was sent (input ${c.value?.length ?? 0} B, output value ${output.value?.length ?? 0} B)`);
    }
    t.diagnostic(lines.join('\n'));
  });

  it('a scorer killed while a hostile record is in flight does not die on it again', async (t) => {
    const topics = await createTopics(kafka, 'hostile-restart', 1);
    const factory = new EventFactory(readContract(MODEL_PATH), seededRandom(11));
    const cases = hostileCases(factory).filter((c) => !c.key.startsWith('hostile-big'));
    const records = [...cases, ...Array.from({ length: 200 }, (_, i) => ({ key: `good-${i}`, value: inputType.toBuffer(event(factory)) }))];
    await send(kafka, topics.input, records);
    // The first batch holds the hostile records: its outputs are written, then the process is killed before the commit.
    const victim = spawnScorer(scorerEnv(topics, { FAILPOINT_KILL_BEFORE_COMMIT: '1' }));
    scorers.push(victim);
    assert.equal(await victim.signal, 'SIGKILL', `the fail-point killed the scorer (log tail:\n${victim.output().slice(-3_000)})`);
    const successor = spawnScorer(scorerEnv(topics));
    scorers.push(successor);
    // The victim wrote every output but committed nothing: the successor is done once it committed to the end.
    const ends = await endOffsets(kafka, topics.input);
    const committed = await committedAtLeast(kafka, topics.group, topics.input, ends, 90_000);
    assert.equal(committed.get(0), ends.get(0), `the successor committed past the hostile records (log tail:\n${successor.output().slice(-4_000)})`);
    const report = await settle(t, kafka, topics, records.length, successor, 30_000);
    assert.ok(alive(successor), `the restarted scorer is alive (log tail:\n${successor.output().slice(-4_000)})`);
    assert.equal(report.lost, 0);
    assert.ok(report.duplicated > 0, `the restarted scorer read the killed batch (with the hostile records) again (victim log:\n${victim.output().slice(-3_000)})`);
    assert.ok(report.extraOutputs <= records.length, 'duplicates bounded by the killed batch');
    const peak = peakRssMb(successor.child.pid);
    t.diagnostic(`restarted scorer peak RSS ${peak} MB`);
    assert.ok(peak < podMemoryLimitMb(), `peak RSS ${peak} MB fits the pod's memory limit`);
  });
});
