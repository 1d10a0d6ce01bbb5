import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Partitioners } from 'kafkajs';
import { backfill } from '../../src/batch/backfill';
import { parseRange } from '../../src/batch/range';
import { EXIT_DEAD_LETTERS, exitCodeOf } from '../../src/batch/types';
import { H } from '../../src/output/headers';
import { loadSchema } from '../../src/stages/decode';
import { createLogger } from '../../src/telemetry/logger';
import { collect, createTestTopics, endOffsets, headerText, produce, testKafka, topicEnv } from '../support/kafka';
import { INPUT_SCHEMA, PREDICTION_SCHEMA, referenceCases, testConfig } from '../support/model';
import { runCli } from '../support/processes';

const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const reference = referenceCases();

/** "topic[0:0..120 1:0..95 2:0..85]" (the summary's source) → partition → [start, end). */
function rangesOf(description: string): Map<number, [bigint, bigint]> {
  const inner = /\[(.*)\]/.exec(description)?.[1] ?? '';
  return new Map(
    inner.split(' ').map((part) => {
      const [p, span] = part.split(':') as [string, string];
      const [start, end] = span.split('..') as [string, string];
      return [Number(p), [BigInt(start), BigInt(end)]];
    }),
  );
}

describe('integration: backfill of an input topic range into separate topics', () => {
  it('writes one output per input of the range and stops at the end offsets seen at start while more is produced', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'backfill', 3);
    const bad = new Set([10, 77, 150]);
    await produce(
      kafka,
      topics.input,
      reference.map((c, i) => ({ key: String(c.event.event_id), value: eventType.toBuffer(bad.has(i) ? { ...c.event, country: 'ZZ' } : c.event) })),
    );
    const before = await endOffsets(kafka, topics.input);

    // Live traffic keeps arriving during the whole backfill.
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    let live = 0;
    let producing = true;
    const liveTraffic = (async () => {
      while (producing) {
        const c = reference[live % reference.length];
        await producer.send({ topic: topics.input, acks: -1, messages: Array.from({ length: 10 }, (_, k) => ({ key: `live-${live}-${k}`, value: eventType.toBuffer(c?.event) })) });
        live += 1;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    let summary;
    try {
      await new Promise((r) => setTimeout(r, 300));
      summary = await backfill(testConfig(topicEnv(topics)), createLogger('warn'), { range: {}, toTopic: topics.output, deadLetterTopic: topics.deadLetter, idleMs: 20_000 });
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      producing = false;
      await liveTraffic;
      await producer.disconnect();
    }
    const after = await endOffsets(kafka, topics.input);
    const ranges = rangesOf(summary.source);
    let inRange = 0;
    let producedAfterStart = 0;
    for (const [partition, [start, end]] of ranges) {
      assert.equal(start, 0n);
      assert.ok(end >= BigInt(before.get(partition) as string), `partition ${partition}: the range covers what was there before`);
      inRange += Number(end - start);
      producedAfterStart += Number(BigInt(after.get(partition) as string) - end);
    }
    assert.ok(producedAfterStart > 0, 'records were produced after the backfill fixed its end offsets');

    assert.equal(summary.events, inRange);
    assert.equal(summary.deadLetters, bad.size);
    assert.deepEqual(summary.reasons, { UNKNOWN_CATEGORY: bad.size });
    assert.equal(exitCodeOf(summary), EXIT_DEAD_LETTERS);

    const predictions = await collect(kafka, topics.output, inRange - bad.size, 30_000, 1_000);
    const deadLetters = await collect(kafka, topics.deadLetter, bad.size, 30_000, 1_000);
    assert.equal(predictions.length, inRange - bad.size, 'no prediction beyond the range');
    assert.equal(deadLetters.length, bad.size);

    // Exactly one output per (partition, offset) of the range.
    const seen = new Set<string>();
    const byId = new Map(reference.map((c) => [c.event.event_id, c]));
    let worst = 0;
    for (const { message } of predictions) {
      const p = predictionType.fromBuffer(message.value as Buffer) as { event_id: string; score: number; source: { topic: string; partition: number; offset: number } };
      assert.equal(p.source.topic, topics.input);
      const position = `${p.source.partition}:${p.source.offset}`;
      assert.ok(!seen.has(position), `one output for ${position}`);
      seen.add(position);
      const expected = byId.get(p.event_id);
      if (expected) worst = Math.max(worst, Math.abs(p.score - expected.probabilities[1]));
    }
    for (const { message } of deadLetters) {
      assert.equal(headerText(message, H.reasonCode), 'UNKNOWN_CATEGORY');
      const position = `${headerText(message, H.sourcePartition)}:${headerText(message, H.sourceOffset)}`;
      assert.ok(!seen.has(position), `one output for ${position}`);
      seen.add(position);
    }
    for (const [partition, [start, end]] of ranges) for (let o = start; o < end; o += 1n) assert.ok(seen.has(`${partition}:${o}`), `output for ${partition}:${o}`);
    assert.equal(seen.size, inRange);
    assert.ok(worst <= 1e-5, `max |node - python| = ${worst}`);
  });

  it('CLI: an offset range (per partition and all partitions), a summary, exit 0 without dead letters, usage errors exit 2', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'backfill-cli', 2);
    await produce(kafka, topics.input, reference.slice(0, 100).map((c, i) => ({ key: String(c.event.event_id), value: eventType.toBuffer(c.event), partition: i % 2 })));
    const ends = await endOffsets(kafka, topics.input);
    const run = runCli(['backfill', '--from-offset', '5', '--to-offset', '0:20', '--to-topic', topics.output, '--dead-letter-topic', topics.deadLetter, '--json'], topicEnv(topics));
    assert.equal(await run.exit, 0, run.output().slice(-2000));
    const line = run.output().split('\n').find((l) => l.startsWith('{"source"'));
    assert.ok(line, run.output().slice(-2000));
    const summary = JSON.parse(line) as { events: number; predictions: number; deadLetters: number; exitCode: number };
    const expected = Math.max(0, Math.min(20, Number(ends.get(0))) - 5) + Math.max(0, Number(ends.get(1)) - 5);
    assert.equal(summary.events, expected);
    assert.equal(summary.predictions, expected);
    assert.equal(summary.exitCode, 0);
    const outputs = await collect(kafka, topics.output, expected, 30_000, 1_000);
    assert.equal(outputs.length, expected);

    const usage = runCli(['backfill', '--from-offset', '5', '--from-time', '2026-01-01T00:00:00Z', '--to-topic', topics.output], topicEnv(topics));
    assert.equal(await usage.exit, 2);
    assert.match(usage.output(), /--from-offset and --from-time exclude each other/);
    const missing = runCli(['backfill', '--to-topic', `${topics.output}-nope`], topicEnv(topics));
    assert.equal(await missing.exit, 1);
    assert.match(missing.output(), /OUTPUT_UNWRITABLE: topic\(s\) missing: --to-topic=/);
  });

  it('a time range: the records whose Kafka timestamps fall in [from, to)', async () => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'backfill-time', 1);
    const base = Date.parse('2026-11-30T12:00:00Z');
    await produce(kafka, topics.input, reference.slice(0, 60).map((c, i) => ({ key: String(c.event.event_id), value: eventType.toBuffer(c.event), timestamp: String(base + i * 1000) })));
    const range = parseRange({ 'from-time': new Date(base + 10_000).toISOString(), 'to-time': String(base + 40_000) });
    const summary = await backfill(testConfig(topicEnv(topics)), createLogger('warn'), { range, toTopic: topics.output, deadLetterTopic: topics.deadLetter, idleMs: 20_000 });
    assert.equal(summary.events, 30);
    assert.equal(exitCodeOf(summary), 0);
    const outputs = await collect(kafka, topics.output, 30, 30_000, 1_000);
    const offsets = outputs.map(({ message }) => (predictionType.fromBuffer(message.value as Buffer) as { source: { offset: number } }).source.offset).sort((a, b) => a - b);
    assert.deepEqual(offsets, Array.from({ length: 30 }, (_, i) => 10 + i));
  });
});
