import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { H } from '../../src/output/headers';
import { parseRedriveArgs } from '../../src/redrive/args';
import { type RedriveResult, runRedrive } from '../../src/redrive/redrive';
import type { RunningService } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { createLogger } from '../../src/telemetry/logger';
import { type TestTopics, collect, committedOffsets, createTestTopics, endOffsets, headerText, produce, testKafka, topicEnv } from '../support/kafka';
import { runCli } from '../support/processes';
import { INPUT_SCHEMA, MODEL_PATH, PREDICTION_SCHEMA, referenceCases } from '../support/model';
import { scorerConfig, startScorer, waitFor } from '../support/scorer';

/**
 * `stream-scorer redrive` on a real broker: dead letters of the example model (unknown country
 * "ZZ", unknown channel, a null field) re-driven after a "retrain" (the same graph with a manifest
 * that scores an unknown country and flags it: an honest stand-in for a model that accepts it),
 * to OUTPUT_TOPIC and to the input topic; every re-driven dead letter becomes exactly one
 * prediction, and a second run writes nothing.
 */
const kafka = testKafka();
const eventType = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const logger = createLogger('warn');

interface Prediction {
  event_id: string;
  model_version: string;
  flags: string[];
  source: { topic: string; partition: number; offset: number };
}

/** The example model as if retrained to accept unknown countries: a copy with a manifest, version 1.1.0. */
function retrainedModelEnv(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'redrive-model-'));
  copyFileSync(MODEL_PATH, join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'manifest.yaml'), ['name: card-fraud', 'version: "1.1.0"', 'inputs:', '  - {name: country, field: country, unknown: score-and-flag}', ''].join('\n'));
  return { MODEL_PATH: join(dir, 'model.onnx') };
}

/** 10 good events, 4 with country ZZ, 2 with an unknown channel, 1 with a null merchant category. */
function mixedEvents(tag: string): { key: string; value: Buffer; headers: Record<string, Buffer> }[] {
  const reference = referenceCases();
  const ev = (i: number): Record<string, unknown> => ({ ...(reference[i % reference.length]?.event as Record<string, unknown>) });
  const events: [string, Record<string, unknown>][] = [];
  for (let i = 0; i < 10; i += 1) events.push([`good-${i}`, ev(i)]);
  for (let i = 0; i < 4; i += 1) events.push([`zz-${i}`, { ...ev(10 + i), country: 'ZZ' }]);
  for (let i = 0; i < 2; i += 1) events.push([`chan-${i}`, { ...ev(14 + i), channel: 'crypto_atm' }]);
  events.push(['miss-0', { ...ev(16), merchant_category: null }]);
  return events.map(([key, event]) => ({
    key: `${tag}-${key}`,
    value: eventType.toBuffer({ ...event, event_id: `${tag}-${key}` }),
    headers: { 'x-case': Buffer.from(key), 'x-bytes': Buffer.from([0x00, 0xff, 0x7f]) },
  }));
}

const GOOD = 10;
const ZZ = 4;
const DEAD = 7;

async function scoreOnce(topics: TestTopics, count: number, env: Record<string, string> = {}): Promise<void> {
  const scorer = await startScorer(topics, env);
  try {
    await waitFor(() => scorer.stats.consumed >= count, 60_000, 'the scorer to consume every event');
  } finally {
    await scorer.stop();
  }
}

async function redrive(topics: TestTopics, argv: string[], env: Record<string, string> = {}): Promise<{ result: RedriveResult; lines: string[] }> {
  const lines: string[] = [];
  const result = await runRedrive(scorerConfig(topics, env), logger, parseRedriveArgs(argv), (line) => lines.push(line));
  return { result, lines };
}

function predictionsByKey(outputs: readonly { message: KafkaMessage }[]): Map<string, Prediction[]> {
  const byKey = new Map<string, Prediction[]>();
  for (const { message } of outputs) {
    const p = predictionType.fromBuffer(message.value as Buffer) as Prediction;
    byKey.set(p.event_id, [...(byKey.get(p.event_id) ?? []), p]);
  }
  return byKey;
}

const snapshot = async (topics: TestTopics): Promise<string> =>
  JSON.stringify(await Promise.all([topics.input, topics.output, topics.deadLetter].map(async (t) => [...(await endOffsets(kafka, t))])));

describe('integration: stream-scorer redrive', () => {
  let scorer: RunningService | undefined;
  after(async () => {
    await scorer?.stop();
  });

  it('the dry run writes nothing; filters select exactly what they say', async () => {
    const topics = await createTestTopics(kafka, 'redrive-dry');
    const before = Date.now();
    await produce(kafka, topics.input, mixedEvents('dry'));
    await scoreOnce(topics, GOOD + DEAD);
    assert.equal((await collect(kafka, topics.deadLetter, DEAD)).length, DEAD);
    const state = await snapshot(topics);

    const all = await redrive(topics, []);
    assert.equal(all.result.applied, undefined, 'no --apply: dry run only');
    assert.equal(all.result.dryRun.read, DEAD);
    assert.equal(all.result.dryRun.matched, DEAD);
    assert.deepEqual(Object.fromEntries(all.result.dryRun.readByReason), { UNKNOWN_CATEGORY: 6, MISSING_FIELD: 1 });
    assert.ok(all.lines.some((l) => l.includes('nothing written')), all.lines.join('\n'));

    const matched = async (argv: string[]): Promise<number> => (await redrive(topics, argv)).result.dryRun.matched;
    assert.equal(await matched(['--reason', 'UNKNOWN_CATEGORY']), 6);
    assert.equal(await matched(['--reason', 'MISSING_FIELD']), 1);
    assert.equal(await matched(['--field', 'channel']), 2);
    assert.equal(await matched(['--reason', 'UNKNOWN_CATEGORY', '--field', 'country', '--value', 'ZZ']), ZZ);
    assert.equal(await matched(['--field', 'country', '--value', 'XX']), 0);
    assert.equal(await matched(['--model-version', '1.0.0']), DEAD);
    assert.equal(await matched(['--model-version', '9.9.9']), 0);
    assert.equal(await matched(['--since', new Date(before).toISOString()]), DEAD);
    assert.equal(await matched(['--until', new Date(before).toISOString()]), 0);
    assert.equal(await matched(['--since', new Date(Date.now() + 3_600_000).toISOString()]), 0);
    const top = (await redrive(topics, ['--reason', 'UNKNOWN_CATEGORY', '--top', '1'])).result.dryRun;
    assert.deepEqual(Object.fromEntries(top.matchedByFieldValue), { 'country=ZZ': ZZ, 'channel=crypto_atm': 2 });

    // The command line: the same summary, exit 0, nothing written.
    const cli = runCli(['redrive', '--reason', 'UNKNOWN_CATEGORY', '--field', 'country'], { ...topicEnv(topics), LOG_LEVEL: 'warn' });
    assert.equal(await cli.exit, 0, cli.output());
    assert.match(cli.output(), /dry run: read 7 dead letter\(s\), 4 match the filter, 4 can be re-driven/);
    assert.match(cli.output(), /4 {2}country=ZZ/);
    assert.match(cli.output(), /nothing written: run again with --apply/);
    const bad = runCli(['redrive', '--to', 'nowhere', '--apply'], { ...topicEnv(topics), LOG_LEVEL: 'warn' });
    assert.equal(await bad.exit, 2, bad.output());
    assert.match(bad.output(), /--to "nowhere": expected input or output/);

    assert.equal(await snapshot(topics), state, 'dry runs write no record');
    const committed = await committedOffsets(kafka, `${topics.group}.redrive`, topics.deadLetter);
    assert.ok([...committed.values()].every((o) => o === '-1'), `dry runs commit nothing: ${JSON.stringify([...committed])}`);
  });

  for (const guarantee of ['at-least-once', 'exactly-once'] as const) it(`re-drive after a retrain turns UNKNOWN_CATEGORY dead letters into predictions (--to output, ${guarantee}), and a second run adds nothing`, async () => {
    const topics = await createTestTopics(kafka, 'redrive-out');
    const env = { ...retrainedModelEnv(), PROCESSING_GUARANTEE: guarantee };
    await produce(kafka, topics.input, mixedEvents('out'));
    await scoreOnce(topics, GOOD + DEAD);
    const deadLetters = await collect(kafka, topics.deadLetter, DEAD);
    assert.equal(deadLetters.length, DEAD);
    assert.equal((await collect(kafka, topics.output, GOOD)).length, GOOD);

    const argv = ['--to', 'output', '--reason', 'UNKNOWN_CATEGORY', '--field', 'country', '--value', 'ZZ', '--apply'];
    const first = await redrive(topics, argv, env);
    assert.equal(first.result.applied?.redriven, ZZ, first.lines.join('\n'));
    assert.deepEqual(Object.fromEntries(first.result.applied?.redrivenByReason ?? []), { UNKNOWN_CATEGORY: ZZ });
    assert.deepEqual(await committedOffsets(kafka, `${topics.group}.redrive`, topics.deadLetter), await endOffsets(kafka, topics.deadLetter), 'the re-drive group committed up to the end offsets');
    assert.equal(first.result.applied?.predictions, ZZ);
    assert.equal(first.result.applied?.deadLettered, 0);
    assert.equal(first.result.applied?.complete, true);

    const outputs = await collect(kafka, topics.output, GOOD + ZZ);
    assert.equal(outputs.length, GOOD + ZZ, 'one prediction per re-driven dead letter');
    const byKey = predictionsByKey(outputs);
    for (const dead of deadLetters.filter((d) => headerText(d.message, H.reasonValue) === 'ZZ')) {
      const key = dead.message.key?.toString() as string;
      const predictions = byKey.get(key) ?? [];
      assert.equal(predictions.length, 1, `exactly one prediction for ${key}`);
      const p = predictions[0] as Prediction;
      assert.equal(p.model_version, '1.1.0');
      assert.deepEqual(p.flags, ['UNKNOWN_CATEGORY:country']);
      // The prediction names the original input record, as if the scorer had scored it.
      assert.deepEqual([p.source.topic, String(p.source.partition), String(p.source.offset)], [headerText(dead.message, H.sourceTopic), headerText(dead.message, H.sourcePartition), headerText(dead.message, H.sourceOffset)]);
    }

    const state = await snapshot(topics);
    const second = await redrive(topics, argv, env);
    assert.equal(second.result.dryRun.read, 0, 'the re-drive group passed every dead letter');
    assert.equal(second.result.applied?.redriven, 0);
    assert.equal(await snapshot(topics), state, 'a second run writes nothing');
    assert.equal((await collect(kafka, topics.output, GOOD + ZZ + 1, 3_000)).length, GOOD + ZZ);
  });

  it('re-drive --to input: a scorer running the retrained model makes exactly one prediction per dead letter, and a second run adds nothing', async () => {
    const topics = await createTestTopics(kafka, 'redrive-in');
    await produce(kafka, topics.input, mixedEvents('in'));
    await scoreOnce(topics, GOOD + DEAD);
    assert.equal((await collect(kafka, topics.deadLetter, DEAD)).length, DEAD);

    scorer = await startScorer(topics, retrainedModelEnv());
    const argv = ['--to', 'input', '--reason', 'UNKNOWN_CATEGORY', '--field', 'country', '--apply'];
    const first = await redrive(topics, argv);
    assert.equal(first.result.applied?.redriven, ZZ, first.lines.join('\n'));
    await waitFor(() => (scorer?.stats.consumed ?? 0) >= ZZ, 60_000, 'the retrained scorer to consume the re-driven events');

    const outputs = await collect(kafka, topics.output, GOOD + ZZ);
    assert.equal(outputs.length, GOOD + ZZ);
    const byKey = predictionsByKey(outputs);
    for (let i = 0; i < ZZ; i += 1) {
      const predictions = byKey.get(`in-zz-${i}`) ?? [];
      assert.equal(predictions.length, 1, `exactly one prediction for in-zz-${i}`);
      assert.equal(predictions[0]?.model_version, '1.1.0');
      assert.deepEqual(predictions[0]?.flags, ['UNKNOWN_CATEGORY:country']);
    }
    // The re-driven input records: original key, value and headers, no rejection headers, a count and the dead letter's coordinates.
    const inputs = await collect(kafka, topics.input, GOOD + DEAD + ZZ);
    const redriven = inputs.filter((r) => r.message.headers?.[H.redriveCount] !== undefined);
    assert.equal(redriven.length, ZZ);
    const originals = mixedEvents('in');
    for (const { message } of redriven) {
      const original = originals.find((o) => o.key === message.key?.toString());
      assert.ok(original, 'same key');
      assert.deepEqual(message.value, original.value, 'same value bytes');
      assert.deepEqual(message.headers?.['x-bytes'], original.headers['x-bytes'], 'original headers byte for byte');
      assert.equal(headerText(message, H.redriveCount), '1');
      assert.equal(headerText(message, H.redriveFromTopic), topics.deadLetter);
      assert.ok(headerText(message, H.redriveFromOffset) !== undefined);
      assert.equal(message.headers?.[H.reasonCode], undefined, 'the rejection headers are not sent back');
    }

    const state = await snapshot(topics);
    const second = await redrive(topics, argv);
    assert.equal(second.result.applied?.redriven, 0);
    assert.equal(await snapshot(topics), state, 'a second run writes nothing');
    await scorer.stop();
    scorer = undefined;
    assert.equal((await collect(kafka, topics.output, GOOD + ZZ + 1, 3_000)).length, GOOD + ZZ);
  });

  for (const guarantee of ['at-least-once', 'exactly-once'] as const) it(`a failure between send and commit (${guarantee}): ${guarantee === 'exactly-once' ? 'the next run repeats nothing' : 'the next run repeats the batch, with the same source to dedupe on'}`, async () => {
    const topics = await createTestTopics(kafka, 'redrive-crash');
    const reference = referenceCases();
    const unknown = [0, 1, 2].map((i) => ({ key: `crash-${i}`, value: eventType.toBuffer({ ...(reference[i]?.event as object), event_id: `crash-${i}`, country: 'ZZ' }) }));
    await produce(kafka, topics.input, unknown);
    await scoreOnce(topics, unknown.length);
    assert.equal((await collect(kafka, topics.deadLetter, 3)).length, 3);
    const config = scorerConfig(topics, { ...retrainedModelEnv(), PROCESSING_GUARANTEE: guarantee });
    const args = parseRedriveArgs(['--to', 'output', '--apply']);
    await assert.rejects(
      runRedrive(config, logger, args, () => undefined, {
        beforeCommit: () => {
          throw new Error('crash between send and commit');
        },
      }),
      /crash between send and commit/,
    );
    const second = await runRedrive(config, logger, args, () => undefined);
    assert.equal(second.applied?.redriven, 3, 'the batch that was not committed is re-driven again');

    const expected = guarantee === 'exactly-once' ? 3 : 6;
    const outputs = await collect(kafka, topics.output, expected, 30_000, 1_000);
    assert.equal(outputs.length, expected);
    const byKey = predictionsByKey(outputs);
    for (const [key, predictions] of byKey) {
      assert.equal(predictions.length, expected / 3, key);
      // Duplicates name the same input record: that is what to dedupe on.
      assert.equal(new Set(predictions.map((p) => `${p.source.topic}/${p.source.partition}/${p.source.offset}`)).size, 1, key);
    }
  });

  it('stops at the end offsets seen at its start: its own re-dead-letters wait for the next run; --max-redrives ends the loop', async () => {
    const topics = await createTestTopics(kafka, 'redrive-end');
    const reference = referenceCases();
    const missing = [0, 1, 2].map((i) => ({ key: `end-${i}`, value: eventType.toBuffer({ ...(reference[i]?.event as object), event_id: `end-${i}`, merchant_category: null }) }));
    await produce(kafka, topics.input, missing);
    await scoreOnce(topics, missing.length);
    assert.equal((await collect(kafka, topics.deadLetter, 3)).length, 3);

    // The unchanged model rejects them again: 3 new dead letters arrive while the run reads; and
    // 5 others (EMPTY_VALUE, as a scorer would write them) as soon as the dry-run summary is out.
    const existing = await collect(kafka, topics.deadLetter, 3);
    const others = existing.slice(0, 1).flatMap(({ message }) =>
      [0, 1, 2, 3, 4].map((i) => ({ key: `late-${i}`, value: message.value, headers: { ...message.headers, [H.reasonCode]: 'EMPTY_VALUE' } })),
    );
    let late: Promise<void> | undefined;
    const lines: string[] = [];
    const config = scorerConfig(topics);
    const args = parseRedriveArgs(['--to', 'output', '--apply', '--reason', 'MISSING_FIELD']);
    const applied = (
      await runRedrive(config, logger, args, (line) => {
        lines.push(line);
        if (line.startsWith('dry run:')) late = produce(kafka, topics.deadLetter, others);
      })
    ).applied;
    await late;
    const first = { result: { applied }, lines };
    assert.equal(first.result.applied?.read, 3, 'only what was there at the start is read');
    assert.equal(first.result.applied?.redriven, 3);
    assert.equal(first.result.applied?.deadLettered, 3);
    assert.ok(first.lines.some((l) => l.startsWith('progress: ')), first.lines.join('\n'));
    const again = (await collect(kafka, topics.deadLetter, 11)).filter(({ message }) => headerText(message, H.reasonCode) === 'MISSING_FIELD').slice(3);
    assert.equal(again.length, 3);
    for (const { message } of again) {
      assert.equal(headerText(message, H.redriveCount), '1');
      assert.equal(headerText(message, H.reasonCode), 'MISSING_FIELD');
      assert.equal(headerText(message, H.consumerGroup), `${topics.group}.redrive`);
    }

    const second = await redrive(topics, ['--to', 'output', '--apply', '--reason', 'MISSING_FIELD']);
    assert.equal(second.result.applied?.read, 8, 'the next run reads what arrived meanwhile');
    assert.equal(second.result.applied?.matched, 3);
    assert.equal(second.result.applied?.redriven, 3);
    const third = await redrive(topics, ['--to', 'output', '--apply', '--reason', 'MISSING_FIELD', '--max-redrives', '2']);
    assert.equal(third.result.applied?.read, 3);
    assert.equal(third.result.applied?.redriven, 0);
    assert.deepEqual(Object.fromEntries(third.result.applied?.skippedBy ?? []), { 'max re-drives': 3 });
    assert.equal((await collect(kafka, topics.output, 1, 2_000)).length, 0, 'nothing was scored');
  });
});
