import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { readTopic } from '../../src/kafka/reader';
import { H } from '../../src/output/headers';
import type { SourceMessage } from '../../src/records';
import { type RunningService } from '../../src/service';
import { loadSchema } from '../../src/stages/decode';
import { type Monitoring } from '../../src/telemetry/monitoring';
import { type VerifyReport, formatReport, verifyTopics } from '../../src/verify/verify';
import { type TestTopics, brokers, committedAtLeast, createTestTopics, endOffsets, testKafka } from '../support/kafka';
import { MODEL_PATH, PREDICTION_SCHEMA } from '../support/model';
import { startMonitoredScorer } from '../support/scorer';
import { metricMatching } from '../support/prometheus';
import { sendTraffic } from '../support/traffic';

/**
 * Issue 13, shadow (challenger) scoring on a real broker. The challenger is models/card-fraud's
 * graph under another version (a manifest "2.0.0-challenger"): the zoo models read another
 * schema, so the same graph is the challenger that fits; it is enough to show where records go,
 * that every champion prediction has its shadow twin, and that challenger failures leave the
 * champion's outputs and commits alone.
 */
const predictionType = loadSchema(PREDICTION_SCHEMA, 'PREDICTION_SCHEMA');
const CHALLENGER = '2.0.0-challenger';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Prediction {
  event_id: string;
  model_name: string;
  model_version: string;
  source: { topic: string; partition: number; offset: number };
}

function header(message: SourceMessage, name: string): string | undefined {
  const value = message.headers[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last === undefined || last === null ? undefined : last.toString();
}

/** A model folder: model.onnx and a manifest with this version. */
function modelFolder(prefix: string, version: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  copyFileSync(MODEL_PATH, join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'manifest.yaml'), `name: card-fraud\nversion: "${version}"\n`);
  return join(dir, 'model.onnx');
}

async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
  await admin.disconnect();
}

async function settle(topics: TestTopics, expected: number, readCommitted: boolean, timeoutMs = 90_000): Promise<VerifyReport> {
  const kafka = testKafka();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, readCommitted);
    if ((report.lost === 0 && report.eventsIn >= expected) || Date.now() > deadline) return report;
    await sleep(1_000);
  }
}

async function predictions(topic: string, readCommitted: boolean): Promise<{ message: SourceMessage; value: Prediction }[]> {
  const { messages } = await readTopic(testKafka(), topic, { readCommitted });
  return messages.map((message) => ({ message, value: predictionType.fromBuffer(message.value as Buffer) as Prediction }));
}

const position = (p: Prediction): string => `${p.source.topic}/${p.source.partition}/${p.source.offset}`;

function metric(monitoring: Monitoring, pattern: RegExp): Promise<number | undefined> {
  return metricMatching(`${monitoring.server.url}/metrics`, pattern);
}

describe('integration: shadow (challenger) scoring', () => {
  const started: { service: RunningService; monitoring: Monitoring }[] = [];
  after(async () => {
    for (const { service, monitoring } of started) {
      await service.stop().catch(() => undefined);
      await monitoring.close().catch(() => undefined);
    }
  });

  async function start(topics: TestTopics, env: Record<string, string>): Promise<{ service: RunningService; monitoring: Monitoring }> {
    const { service, monitoring } = await startMonitoredScorer(topics, { HEALTH_PORT: '0', CONSUMER_MAX_BYTES_PER_PARTITION: '16384', MODEL_RELOAD_WATCH: 'false', MODEL_RELOAD_POLL_MS: '0', ...env });
    started.push({ service, monitoring });
    return { service, monitoring };
  }

  it('writes one shadow prediction per champion prediction (same key, event id, input position; challenger version) to SHADOW_TOPIC only, across a champion hot swap', async (t) => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'shadow', 3);
    const shadowTopic = `${topics.output}.shadow`;
    await createTopic(kafka, shadowTopic, 3);
    const championPath = modelFolder('scorer-shadow-champion-', '1.0.0');
    const { service, monitoring } = await start(topics, { MODEL_PATH: championPath, SHADOW_MODEL_PATH: modelFolder('scorer-shadow-challenger-', CHALLENGER), SHADOW_TOPIC: shadowTopic });
    const total = 1_500;
    const traffic = sendTraffic(brokers(), topics.input, total, 300);
    await sleep(2_000);
    // The champion is hot-swapped to 1.1.0 mid-stream; the challenger stays.
    writeFileSync(join(championPath, '..', 'manifest.yaml'), 'name: card-fraud\nversion: "1.1.0"\n');
    const swap = await service.reload('test');
    assert.equal(swap.result, 'ok');
    assert.equal(await traffic, total);

    const report = await settle(topics, total, false);
    t.diagnostic(formatReport(report));
    assert.equal(report.eventsIn, total);
    assert.equal(report.lost, 0, `lost: ${report.lostSample.join(' ')}`);
    assert.equal(report.duplicated, 0);

    const champion = await predictions(topics.output, false);
    const shadow = await predictions(shadowTopic, false);
    t.diagnostic(`champion predictions ${champion.length} (versions ${[...new Set(champion.map((c) => c.value.model_version))].join(', ')}), shadow predictions ${shadow.length}`);
    assert.ok(champion.length >= total * 0.85, 'nine in ten events are valid');
    assert.ok(champion.some((c) => c.value.model_version === '1.0.0') && champion.some((c) => c.value.model_version === '1.1.0'), 'the champion was swapped mid-stream');
    assert.ok(champion.every((c) => c.value.model_version !== CHALLENGER && header(c.message, H.modelVersion) !== CHALLENGER), 'no challenger prediction in OUTPUT_TOPIC');

    const byPosition = new Map(champion.map((c) => [position(c.value), c]));
    const shadowPositions = new Set<string>();
    for (const s of shadow) {
      const at = position(s.value);
      assert.ok(!shadowPositions.has(at), `one shadow prediction per event: ${at} twice`);
      shadowPositions.add(at);
      const twin = byPosition.get(at);
      assert.ok(twin, `shadow prediction ${at} has a champion prediction`);
      assert.equal(s.message.key?.toString(), twin.message.key?.toString(), 'same key');
      assert.equal(s.value.event_id, twin.value.event_id, 'same event id');
      assert.equal(s.message.partition, twin.message.partition, 'same key, same partition');
      assert.equal(s.value.model_version, CHALLENGER);
      assert.equal(header(s.message, H.modelVersion), CHALLENGER);
      assert.equal(header(s.message, H.modelName), 'card-fraud');
    }
    assert.equal(shadow.length, champion.length, 'one shadow prediction per champion prediction');

    assert.equal(await metric(monitoring, /^stream_scorer_shadow_agreement_total\{.*result="agree"/), champion.length, 'the same graph agrees on every event');
    assert.equal(await metric(monitoring, /^stream_scorer_shadow_agreement_total\{.*result="disagree"/), 0);
    assert.equal(await metric(monitoring, /^stream_scorer_shadow_predictions_total/), champion.length);
    assert.equal(await metric(monitoring, /^stream_scorer_shadow_errors_total\{.*kind="score"/), 0);
    assert.equal(await metric(monitoring, /^stream_scorer_shadow_errors_total\{.*kind="write"/), 0);
    assert.equal(await metric(monitoring, /^stream_scorer_shadow_score_difference_count/), champion.length);
  });

  it('exactly-once, a challenger that throws on every second batch: the champion loses and duplicates nothing and commits everything; the shadow output of the other batches is written', async (t) => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'shadow-throws', 3);
    const shadowTopic = `${topics.output}.shadow`;
    await createTopic(kafka, shadowTopic, 3);
    const { monitoring } = await start(topics, {
      PROCESSING_GUARANTEE: 'exactly-once',
      SHADOW_MODEL_PATH: modelFolder('scorer-shadow-throws-', CHALLENGER),
      SHADOW_TOPIC: shadowTopic,
      FAILPOINT_SHADOW_THROW_EVERY: '2',
    });
    const total = 1_200;
    assert.equal(await sendTraffic(brokers(), topics.input, total, 300), total);

    const report = await settle(topics, total, true);
    t.diagnostic(formatReport(report));
    assert.equal(report.eventsIn, total);
    assert.equal(report.lost, 0, `lost: ${report.lostSample.join(' ')}`);
    assert.equal(report.duplicated, 0);
    const ends = await endOffsets(kafka, topics.input);
    const committed = await committedAtLeast(kafka, topics.group, topics.input, ends, 30_000);
    for (const [partition, end] of ends) assert.equal(committed.get(partition), end, `partition ${partition} committed to its end`);

    const champion = await predictions(topics.output, true);
    const shadow = await predictions(shadowTopic, true);
    const errors = await metric(monitoring, /^stream_scorer_shadow_errors_total\{.*kind="score"/);
    t.diagnostic(`champion predictions ${champion.length}, shadow predictions ${shadow.length}, shadow score errors ${errors}`);
    assert.ok((errors ?? 0) >= 1, 'challenger failures are counted');
    assert.ok(shadow.length > 0 && shadow.length < champion.length, 'the batches the challenger did not fail on have shadow output');
    const positions = new Set(champion.map((c) => position(c.value)));
    const seen = new Set<string>();
    for (const s of shadow) {
      assert.ok(positions.has(position(s.value)), 'every shadow prediction has a champion twin');
      assert.ok(!seen.has(position(s.value)), 'no shadow duplicates under exactly-once');
      seen.add(position(s.value));
    }
    assert.ok(champion.every((c) => c.value.model_version !== CHALLENGER));
  });

  it('exactly-once, SHADOW_TOPIC deleted mid-stream: shadow output is switched off, the champion loses and duplicates nothing and commits everything', async (t) => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'shadow-deleted', 3);
    const shadowTopic = `${topics.output}.shadow`;
    await createTopic(kafka, shadowTopic, 3);
    const { monitoring } = await start(topics, {
      PROCESSING_GUARANTEE: 'exactly-once',
      SHADOW_MODEL_PATH: modelFolder('scorer-shadow-deleted-', CHALLENGER),
      SHADOW_TOPIC: shadowTopic,
      PRODUCER_RETRIES: '2',
      RETRY_BACKOFF_MAX_MS: '1000',
    });
    const total = 1_200;
    const traffic = sendTraffic(brokers(), topics.input, total, 300);
    await sleep(1_500);
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [shadowTopic] });
    await admin.disconnect();
    assert.equal(await traffic, total);

    const report = await settle(topics, total, true);
    t.diagnostic(formatReport(report));
    assert.equal(report.eventsIn, total);
    assert.equal(report.lost, 0, `lost: ${report.lostSample.join(' ')}`);
    assert.equal(report.duplicated, 0);
    const ends = await endOffsets(kafka, topics.input);
    const committed = await committedAtLeast(kafka, topics.group, topics.input, ends, 30_000);
    for (const [partition, end] of ends) assert.equal(committed.get(partition), end, `partition ${partition} committed to its end`);
    const writeErrors = await metric(monitoring, /^stream_scorer_shadow_errors_total\{.*kind="write"/);
    const shadowWritten = await metric(monitoring, /^stream_scorer_shadow_predictions_total/);
    t.diagnostic(`shadow write errors ${writeErrors}, shadow predictions before the topic went ${shadowWritten}`);
    assert.equal(writeErrors, 1, 'switched off once');
    assert.ok((shadowWritten ?? 0) > 0, 'shadow output was written before the topic was deleted');
  });

  it('a SHADOW_TOPIC that does not exist switches shadow output off; the champion scores and commits everything', async (t) => {
    const kafka = testKafka();
    const topics = await createTestTopics(kafka, 'shadow-missing', 3);
    const { monitoring } = await start(topics, { SHADOW_MODEL_PATH: modelFolder('scorer-shadow-missing-', CHALLENGER), SHADOW_TOPIC: `${topics.output}.no-such-shadow` });
    const total = 300;
    assert.equal(await sendTraffic(brokers(), topics.input, total, 300), total);
    const report = await settle(topics, total, false);
    t.diagnostic(formatReport(report));
    assert.equal(report.lost, 0);
    assert.equal(report.duplicated, 0);
    assert.equal(await metric(monitoring, /^stream_scorer_shadow_errors_total\{.*kind="write"/), 1);
    assert.equal(await metric(monitoring, /^stream_scorer_shadow_predictions_total/), 0);
  });
});
