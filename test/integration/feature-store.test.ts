import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import avro from 'avsc';
import { backfill } from '../../src/batch/backfill';
import { outputName, scoreFile } from '../../src/batch/score-file';
import { readTopic } from '../../src/kafka/reader';
import { H } from '../../src/output/headers';
import { type RunningService } from '../../src/service';
import { type Monitoring } from '../../src/telemetry/monitoring';
import { type VerifyReport, formatReport } from '../../src/verify/verify';
import { type TestTopics, collect, createTestTopics, headerText, produce, testKafka, topicEnv } from '../support/kafka';
import { ROOT, PREDICTION_SCHEMA, testConfig } from '../support/model';
import { readContainerFile, writeContainerFile } from '../support/container';
import { createLogger } from '../../src/telemetry/logger';
import { type StoreCase, STORE_INPUT_SCHEMA, STORE_MODEL_PATH, seedStore, settleStoreTopics, storeCases } from '../support/feature-store';
import { samples } from '../support/prometheus';
import { waitFor, startMonitoredScorer } from '../support/scorer';

/**
 * Issue 15 on a real broker and a real Redis (Debian's redis-server, run by scripts/redis.sh on
 * REDIS_PORT, default 16380: this test starts and stops it, since one case stops Redis mid-stream).
 * The model is models/card-fraud-store: the zoo XGBoost graph with the card's 24 h transaction
 * count and the merchant's risk score read from Redis.
 */
const REDIS_PORT = process.env.REDIS_PORT ?? '16380';
const REDIS_SCRIPT = join(ROOT, 'scripts/redis.sh');
const redisEnv = { ...process.env, REDIS_PORT };
const redis = (command: 'start' | 'stop' | 'pid'): string => execFileSync(REDIS_SCRIPT, [command], { env: redisEnv, encoding: 'utf8' });

const eventType = avro.Type.forSchema(JSON.parse(readFileSync(STORE_INPUT_SCHEMA, 'utf8')) as avro.Schema);
const predictionType = avro.Type.forSchema(JSON.parse(readFileSync(PREDICTION_SCHEMA, 'utf8')) as avro.Schema);
interface Prediction {
  readonly score: number;
  readonly flags: string[];
  readonly features: Record<string, number>;
}

/** The sum of a metric's samples whose labels include `labels`. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [sample, value] of samples(text)) {
    const [sampleName] = sample.split('{');
    if (sampleName !== name) continue;
    if (Object.entries(labels).every(([k, v]) => sample.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}

const seed = (cases: readonly StoreCase[], skip: ReadonlySet<string> = new Set()): Promise<void> => seedStore({ host: '127.0.0.1', port: Number(REDIS_PORT) }, cases, skip);

function messages(cases: readonly StoreCase[], from = 0): { key: Buffer; value: Buffer }[] {
  return cases.map((c, i) => ({ key: Buffer.from(`k${from + i}`), value: eventType.toBuffer(c.event) }));
}

describe('integration: features from Redis (issue 15)', () => {
  const kafka = testKafka();
  const running: { service: RunningService; monitoring: Monitoring }[] = [];

  before(() => {
    redis('start');
  });
  after(async () => {
    for (const { service, monitoring } of running) {
      await service.stop().catch(() => undefined);
      await monitoring.close().catch(() => undefined);
    }
    redis('stop');
  });

  async function start(topics: TestTopics, env: Record<string, string> = {}): Promise<{ service: RunningService; monitoring: Monitoring }> {
    const { service, monitoring } = await startMonitoredScorer(topics, {
      MODEL_PATH: STORE_MODEL_PATH,
      INPUT_SCHEMA: STORE_INPUT_SCHEMA,
      FEATURE_STORE_ADDRESS: `127.0.0.1:${REDIS_PORT}`,
      HEALTH_PORT: '0',
      MODEL_RELOAD_WATCH: 'false',
      MODEL_RELOAD_POLL_MS: '0',
      RETRY_BACKOFF_MAX_MS: '1000',
      FEATURE_STORE_BREAKER_OPEN_MS: '500',
      ...env,
    });
    running.push({ service, monitoring });
    return { service, monitoring };
  }

  it('a normal run: every feature found, scores equal Python onnxruntime\'s for the same values, the values recorded; one lookup per batch; /readyz and metrics show the store', async () => {
    const topics = await createTestTopics(kafka, 'store-hits', 3);
    const cases = storeCases('hits-').slice(0, 120);
    await seed(cases);
    await produce(kafka, topics.input, messages(cases));
    const { service, monitoring } = await start(topics);
    await waitFor(() => service.stats.consumed >= cases.length, 60_000, 'every event consumed');
    const predictions = await collect(kafka, topics.output, cases.length);
    assert.equal(predictions.length, cases.length);
    for (const p of predictions) {
      const index = Number(p.message.key?.toString().slice(1));
      const c = cases[index] as StoreCase;
      const value = predictionType.fromBuffer(p.message.value as Buffer) as Prediction;
      assert.equal(value.score, c.expectedScore, `event ${index}`);
      assert.deepEqual(value.flags, []);
      assert.deepEqual(value.features, { card_txn_count_24h: c.txnCount, merchant_risk_score: c.riskScore });
    }
    const ready = await monitoring.readiness.check();
    assert.equal(ready.checks.feature_store, 'available');
    assert.equal(ready.feature_store_breaker, 'closed');
    const text = await monitoring.metrics.text();
    // At least: a batch tried again (a rebalance, a slow first fetch) is looked up again.
    assert.ok(metric(text, 'stream_scorer_feature_store_hits_total') >= cases.length * 2, 'two features per event, each key once');
    assert.equal(metric(text, 'stream_scorer_feature_store_misses_total'), 0);
    assert.equal(metric(text, 'stream_scorer_batch_retries_total', { failure: 'feature-store' }), 0, 'the first lookup waits for the connection instead of failing');
    const lookups = metric(text, 'stream_scorer_feature_store_lookups_total', { result: 'ok' });
    assert.ok(lookups >= 1 && lookups < cases.length / 2, `batched lookups, not one per event (${lookups})`);
    assert.ok(metric(text, 'stream_scorer_feature_store_keys_total') >= cases.length * 2);
    assert.equal(metric(text, 'stream_scorer_feature_store_breaker_state'), 0);
  });

  it('a missing key: FEATURE_MISSING dead letter for the card (missing: dead-letter), a flagged prediction with the default for the merchant (missing: default)', async () => {
    const topics = await createTestTopics(kafka, 'store-missing', 1);
    const cases = storeCases('miss-').slice(0, 20);
    await seed(cases, new Set([cases[3]?.cardKey as string, cases[5]?.merchantKey as string]));
    await produce(kafka, topics.input, messages(cases));
    const { service } = await start(topics);
    await waitFor(() => service.stats.consumed >= cases.length, 60_000, 'every event consumed');
    const dead = await collect(kafka, topics.deadLetter, 1);
    assert.equal(dead.length, 1);
    const message = (dead[0] as (typeof dead)[number]).message;
    assert.equal(message.key?.toString(), 'k3');
    assert.equal(headerText(message, H.reasonCode), 'FEATURE_MISSING');
    assert.equal(headerText(message, H.reasonField), 'card_txn_count_24h');
    assert.equal(headerText(message, H.reasonValue), 'card:miss-c-3');
    assert.ok(message.value?.equals(eventType.toBuffer(cases[3]?.event)), 'original bytes');
    const predictions = await collect(kafka, topics.output, cases.length - 1);
    assert.equal(predictions.length, cases.length - 1);
    const five = predictions.find((p) => p.message.key?.toString() === 'k5');
    const value = predictionType.fromBuffer(five?.message.value as Buffer) as Prediction;
    assert.deepEqual(value.flags, ['FEATURE_MISSING:merchant_risk_score']);
    assert.equal(value.features.merchant_risk_score, 0.1, 'the declared default, recorded');
    assert.deepEqual(service.stats.snapshot().byReason, { FEATURE_MISSING: 1 });
  });

  it('Redis stopped mid-stream under unavailable: wait: batches wait (/readyz says so), nothing is lost or dead-lettered, all is scored once Redis is back', async () => {
    const topics = await createTestTopics(kafka, 'store-outage', 3);
    const cases = storeCases('out-');
    const first = cases.slice(0, 80);
    const second = cases.slice(80);
    await seed(cases);
    // Open long enough that batches retried meanwhile meet the open breaker (and fail at once).
    const { service, monitoring } = await start(topics, { FEATURE_STORE_BREAKER_OPEN_MS: '3000' });
    await produce(kafka, topics.input, messages(first));
    await waitFor(() => service.stats.consumed >= first.length, 60_000, 'the first wave scored');

    redis('stop');
    await produce(kafka, topics.input, messages(second, first.length));
    await waitFor(() => service.stats.retries >= 3, 30_000, 'batches waiting for the store');
    let waiting = await monitoring.readiness.check();
    for (const deadline = Date.now() + 20_000; waiting.feature_store_breaker !== 'open' && Date.now() < deadline; waiting = await monitoring.readiness.check()) await new Promise((r) => setTimeout(r, 100));
    assert.equal(waiting.feature_store_breaker, 'open', 'the breaker opened after FEATURE_STORE_BREAKER_FAILURES failures');
    assert.equal(waiting.checks.feature_store, 'waiting');
    assert.equal(waiting.ready, false);
    assert.ok(waiting.feature_store_error, 'the store error is shown');
    assert.equal(service.stats.consumed, first.length, 'nothing of the second wave accounted for while the store is down');
    const text = await monitoring.metrics.text();
    assert.equal(metric(text, 'stream_scorer_feature_store_breaker_state'), 2, 'open');
    assert.ok(metric(text, 'stream_scorer_batch_retries_total', { failure: 'feature-store' }) >= 3);

    // A restarted Redis is empty (no persistence): the feature pipeline fills it again.
    redis('start');
    await seed(cases);
    await waitFor(() => service.stats.consumed >= cases.length, 90_000, 'the second wave scored after the store came back');
    const report = await settle(topics, cases.length);
    assert.equal(report.lost, 0, formatReport(report));
    assert.equal(report.duplicated, 0, formatReport(report));
    assert.equal(report.deadLetters, 0, formatReport(report));
    assert.equal(report.predictions, cases.length, formatReport(report));
    const after = await monitoring.readiness.check();
    assert.equal(after.checks.feature_store, 'available');
    assert.equal(after.feature_store_breaker, 'closed', 'a half-open probe closed it again');
    const text2 = await monitoring.metrics.text();
    assert.ok(metric(text2, 'stream_scorer_feature_store_lookups_total', { result: 'breaker-open' }) >= 1, 'lookups failed fast while the breaker was open');
    const { messages: scored } = await readTopic(kafka, topics.output, { readCommitted: true });
    for (const m of scored) {
      const index = Number(m.key?.toString().slice(1));
      assert.equal((predictionType.fromBuffer(m.value as Buffer) as Prediction).score, (cases[index] as StoreCase).expectedScore, `event ${index}`);
    }
  });

  it('score-file with a `wait` feature and Redis frozen: the batch waits and is scored once Redis answers; past BATCH_DEPENDENCY_WAIT_MS the job fails with FEATURE_STORE_UNAVAILABLE and writes no file', async () => {
    const cases = storeCases('file-').slice(0, 50);
    await seed(cases);
    const dir = mkdtempSync(join(tmpdir(), 'stream-scorer-store-file-'));
    const input = join(dir, 'events.avro');
    await writeContainerFile(input, eventType, cases.map((c) => c.event));
    const config = (env: Record<string, string>) =>
      testConfig({ MODEL_PATH: STORE_MODEL_PATH, INPUT_SCHEMA: STORE_INPUT_SCHEMA, FEATURE_STORE_ADDRESS: `127.0.0.1:${REDIS_PORT}`, FEATURE_STORE_TIMEOUT_MS: '300', FEATURE_STORE_BREAKER_OPEN_MS: '300', RETRY_BACKOFF_MAX_MS: '500', ...env });
    const pid = Number(redis('pid').trim());
    process.kill(pid, 'SIGSTOP');
    let continued = false;
    try {
      const started = Date.now();
      await assert.rejects(scoreFile(config({ BATCH_DEPENDENCY_WAIT_MS: '1500' }), createLogger('silent'), { input, outDir: join(dir, 'gave-up') }), /FEATURE_STORE_UNAVAILABLE: .*BATCH_DEPENDENCY_WAIT_MS=1500/);
      assert.ok(Date.now() - started >= 1_500, 'it waited before giving up');
      assert.equal(existsSync(join(dir, 'gave-up', `${outputName(input)}.predictions.avro`)), false, 'no predictions file from a job that gave up');

      const job = scoreFile(config({ BATCH_DEPENDENCY_WAIT_MS: '60000' }), createLogger('silent'), { input, outDir: join(dir, 'waited') });
      await new Promise((r) => setTimeout(r, 2_000));
      process.kill(pid, 'SIGCONT');
      continued = true;
      const summary = await job;
      assert.equal(summary.predictions, cases.length, 'every event scored after the wait');
      assert.equal(summary.deadLetters, 0);
      const scored = (await readContainerFile(join(dir, 'waited', `${outputName(input)}.predictions.avro`))) as { event_id: string; score: number }[];
      const expected = new Map(cases.map((c) => [String(c.event.event_id), c.expectedScore]));
      for (const p of scored) assert.equal(p.score, expected.get(p.event_id), `event ${p.event_id}`);
    } finally {
      if (!continued) process.kill(pid, 'SIGCONT');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('backfill with a `wait` feature and Redis frozen longer than the scan\'s idle time: the batch waits (the read is not idle while it does), then all is scored once', async () => {
    const topics = await createTestTopics(kafka, 'store-backfill', 3);
    const cases = storeCases('bf-').slice(0, 40);
    await seed(cases);
    await produce(kafka, topics.input, messages(cases));
    const pid = Number(redis('pid').trim());
    process.kill(pid, 'SIGSTOP');
    let continued = false;
    try {
      const job = backfill(
        testConfig({ ...topicEnv(topics), MODEL_PATH: STORE_MODEL_PATH, INPUT_SCHEMA: STORE_INPUT_SCHEMA, FEATURE_STORE_ADDRESS: `127.0.0.1:${REDIS_PORT}`, FEATURE_STORE_TIMEOUT_MS: '300', FEATURE_STORE_BREAKER_OPEN_MS: '300', RETRY_BACKOFF_MAX_MS: '500' }),
        createLogger('silent'),
        { range: {}, toTopic: topics.output, deadLetterTopic: topics.deadLetter, idleMs: 1_500 },
      );
      await new Promise((r) => setTimeout(r, 4_000));
      process.kill(pid, 'SIGCONT');
      continued = true;
      const summary = await job;
      assert.equal(summary.events, cases.length, 'the whole range was read although the batch waited past idleMs');
      assert.equal(summary.predictions, cases.length);
      assert.equal(summary.deadLetters, 0);
      const report = await settle(topics, cases.length);
      assert.equal(report.lost, 0, formatReport(report));
      assert.equal(report.duplicated, 0, formatReport(report));
    } finally {
      if (!continued) process.kill(pid, 'SIGCONT');
    }
  });

  const settle = (topics: TestTopics, expected: number): Promise<VerifyReport> => settleStoreTopics(kafka, topics, expected, predictionType);
});
