import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import avro from 'avsc';
import { Redis } from 'ioredis';
import { parse, stringify } from 'yaml';
import { readTopic } from '../../src/kafka/reader';
import { H } from '../../src/output/headers';
import { type RunningService } from '../../src/service';
import { startTelemetry } from '../../src/telemetry/sdk';
import { type Monitoring } from '../../src/telemetry/monitoring';
import { type VerifyReport, formatReport, verifyTopics } from '../../src/verify/verify';
import { type TestTopics, createTestTopics, produce, testKafka } from '../support/kafka';
import { PREDICTION_SCHEMA, ROOT } from '../support/model';
import { type StoreCase, STORE_INPUT_SCHEMA, STORE_MODEL_DIR, STORE_MODEL_PATH, storeCases } from '../support/feature-store';
import { samples } from '../support/prometheus';
import { sleep } from '../support/processes';
import { waitFor, startMonitoredScorer } from '../support/scorer';

/*
 * Issue 15, faults of the online feature store, on a real broker and a real Redis
 * (scripts/redis.sh on FAULT_REDIS_PORT, default 16381: this test starts, stops, freezes and
 * pauses its own instance, never one another test uses). Each case counts exactly which events
 * were produced while the store misbehaved and accounts for every input record with the verifier.
 */
const REDIS_PORT = process.env.FAULT_REDIS_PORT ?? '16381';
const REDIS_SCRIPT = join(ROOT, 'scripts/redis.sh');
const redisEnv = { ...process.env, REDIS_PORT };
const redisScript = (command: 'start' | 'stop' | 'pid'): string => execFileSync(REDIS_SCRIPT, [command], { env: redisEnv, encoding: 'utf8' }).trim();

const eventType = avro.Type.forSchema(JSON.parse(readFileSync(STORE_INPUT_SCHEMA, 'utf8')) as avro.Schema);
const predictionType = avro.Type.forSchema(JSON.parse(readFileSync(PREDICTION_SCHEMA, 'utf8')) as avro.Schema);
interface Prediction {
  readonly score: number;
  readonly flags: string[];
  readonly features: Record<string, number>;
}
type Policies = Partial<Record<'card_txn_count_24h' | 'merchant_risk_score', { unavailable?: string; missing?: string; default?: number | null }>>;

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

/** Cumulative buckets (upper bound in seconds → count) of a histogram on the /metrics page. */
function buckets(text: string, name: string): [number, number][] {
  const out: [number, number][] = [];
  for (const [sample, value] of samples(text)) {
    if (!sample.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(sample)?.[1] as string;
    out.push([le === '+Inf' ? Infinity : Number(le), value]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** A percentile from cumulative buckets, interpolated linearly inside its bucket (as Prometheus does). */
function percentile(cumulative: readonly [number, number][], q: number): number {
  const total = cumulative[cumulative.length - 1]?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of cumulative) {
    if (count >= rank) return le === Infinity ? lower : lower + ((le - lower) * (rank - below)) / Math.max(1, count - below);
    lower = le;
    below = count;
  }
  return lower;
}

/** Span durations in milliseconds, sorted. */
function spanMs(spans: readonly ReadableSpan[]): number[] {
  return spans.map((span) => span.duration[0] * 1_000 + span.duration[1] / 1e6).sort((a, b) => a - b);
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Every prediction has the reference score and the store values of its own event: no reply of a timed-out lookup fed to another batch. */
async function assertScores(kafka: ReturnType<typeof testKafka>, topic: string, cases: readonly StoreCase[]): Promise<void> {
  const { messages: scored } = await readTopic(kafka, topic, { readCommitted: true });
  for (const m of scored) {
    const index = Number(m.key?.toString().slice(1));
    const c = cases[index] as StoreCase;
    const p = predictionType.fromBuffer(m.value as Buffer) as Prediction;
    assert.deepEqual(p.features, { card_txn_count_24h: c.txnCount, merchant_risk_score: c.riskScore }, `event ${index}`);
    assert.equal(p.score, c.expectedScore, `event ${index}`);
  }
}

function messages(cases: readonly StoreCase[], from: number): { key: Buffer; value: Buffer }[] {
  return cases.map((c, i) => ({ key: Buffer.from(`k${from + i}`), value: eventType.toBuffer(c.event) }));
}

describe('faults: the feature store (issue 15)', { concurrency: 1 }, () => {
  const kafka = testKafka();
  const running: { service: RunningService; monitoring: Monitoring }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'store-faults-'));
  let client: Redis;
  let frozen: number | undefined;

  before(async () => {
    redisScript('start');
    client = new Redis({ host: '127.0.0.1', port: Number(REDIS_PORT), lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
  });
  after(async () => {
    if (frozen !== undefined) process.kill(frozen, 'SIGCONT');
    for (const { service, monitoring } of running) {
      await service.stop().catch(() => undefined);
      await monitoring.close().catch(() => undefined);
    }
    client.disconnect();
    redisScript('stop');
    rmSync(dir, { recursive: true, force: true });
  });

  async function seed(cases: readonly StoreCase[], override: Record<string, Record<string, string>> = {}): Promise<void> {
    const pipeline = client.pipeline();
    for (const c of cases) for (const [key, hash] of Object.entries(c.hashes)) pipeline.hset(key, { ...hash, ...override[key] });
    await pipeline.exec();
  }

  /** models/card-fraud-store with other store policies: a manifest of its own (MODEL_MANIFEST). */
  function manifest(name: string, policies: Policies): string {
    const doc = parse(readFileSync(join(STORE_MODEL_DIR, 'manifest.yaml'), 'utf8')) as { store: { features: Record<string, Record<string, unknown>> } };
    for (const [feature, changes] of Object.entries(policies)) {
      const spec = doc.store.features[feature] as Record<string, unknown>;
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) delete spec[k];
        else spec[k] = v;
      }
    }
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, stringify(doc));
    return path;
  }

  async function start(topics: TestTopics, env: Record<string, string>): Promise<{ service: RunningService; monitoring: Monitoring }> {
    const { service, monitoring } = await startMonitoredScorer(topics, {
      MODEL_PATH: STORE_MODEL_PATH,
      INPUT_SCHEMA: STORE_INPUT_SCHEMA,
      FEATURE_STORE_ADDRESS: `127.0.0.1:${REDIS_PORT}`,
      HEALTH_PORT: '0',
      MODEL_RELOAD_WATCH: 'false',
      MODEL_RELOAD_POLL_MS: '0',
      RETRY_BACKOFF_MAX_MS: '500',
      ...env,
    });
    running.push({ service, monitoring });
    return { service, monitoring };
  }

  async function stop(scorer: { service: RunningService; monitoring: Monitoring }): Promise<void> {
    await scorer.service.stop();
    await scorer.monitoring.close();
    running.splice(running.indexOf(scorer), 1);
  }

  async function settle(t: TestContext, topics: TestTopics, expected: number, readCommitted = false): Promise<VerifyReport> {
    const deadline = Date.now() + 60_000;
    let report: VerifyReport;
    for (;;) {
      report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, readCommitted);
      if ((report.lost === 0 && report.eventsIn >= expected) || Date.now() > deadline) break;
      await sleep(1_000);
    }
    t.diagnostic(`${t.name}\n${formatReport(report)}`);
    return report;
  }

  /** Until the scorer's connection is back in Redis's client list (ioredis reconnects within 2 s). */
  async function untilReconnected(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (((await client.client('LIST')) as string).trim().split('\n').length < 2) {
      if (Date.now() > deadline) throw new Error('the scorer did not reconnect to Redis');
      await sleep(100);
    }
  }

  it('Redis stopped mid-stream and restarted under unavailable: dead-letter: exactly the events produced while it was down are FEATURE_UNAVAILABLE, none lost', async (t) => {
    // One partition: batches one after another, so the half-open probe after the restart is not raced by a second batch.
    const topics = await createTestTopics(kafka, 'store-fault-dl', 1);
    const cases = storeCases('fdl-');
    const [first, second, third] = [cases.slice(0, 40), cases.slice(40, 90), cases.slice(90)];
    await seed(cases);
    const scorer = await start(topics, {
      MODEL_MANIFEST: manifest('dead-letter', { card_txn_count_24h: { unavailable: 'dead-letter' }, merchant_risk_score: { unavailable: 'dead-letter' } }),
      FEATURE_STORE_TIMEOUT_MS: '300',
      FEATURE_STORE_BREAKER_OPEN_MS: '500',
    });
    const { service, monitoring } = scorer;
    await produce(kafka, topics.input, messages(first, 0));
    await waitFor(() => service.stats.consumed >= first.length, 60_000, 'the first wave scored');

    // Production pauses while Redis stops; the second wave is produced only once it is down.
    client.disconnect();
    redisScript('stop');
    await produce(kafka, topics.input, messages(second, first.length));
    await waitFor(() => service.stats.consumed >= first.length + second.length, 60_000, 'the second wave dead-lettered');
    const down = await monitoring.readiness.check();
    assert.equal(down.checks.feature_store, 'unavailable');
    assert.equal(down.ready, true, 'dead-letter policies: the scorer stays ready while the store is down');
    assert.deepEqual(service.stats.snapshot().byReason, { FEATURE_UNAVAILABLE: second.length });

    // A restarted Redis is empty (no persistence): the feature pipeline fills it again.
    redisScript('start');
    client = new Redis({ host: '127.0.0.1', port: Number(REDIS_PORT), lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    await seed(cases);
    await untilReconnected();
    await sleep(600); // past FEATURE_STORE_BREAKER_OPEN_MS: the third wave's first batch is the probe
    await produce(kafka, topics.input, messages(third, first.length + second.length));
    await waitFor(() => service.stats.consumed >= cases.length, 60_000, 'the third wave scored');

    const report = await settle(t, topics, cases.length);
    assert.equal(report.eventsIn, cases.length, formatReport(report));
    assert.equal(report.lost, 0, formatReport(report));
    assert.equal(report.duplicated, 0, formatReport(report));
    assert.equal(report.deadLetters, second.length, formatReport(report));
    assert.equal(report.predictions, first.length + third.length, formatReport(report));
    const { messages: dead } = await readTopic(kafka, topics.deadLetter, { readCommitted: true });
    const expectedKeys = second.map((_, i) => `k${first.length + i}`).sort();
    assert.deepEqual(dead.map((m) => m.key?.toString()).sort(), expectedKeys, 'exactly the events produced while Redis was down');
    for (const m of dead) {
      const index = Number(m.key?.toString().slice(1));
      assert.equal(String(m.headers[H.reasonCode]), 'FEATURE_UNAVAILABLE');
      assert.equal(String(m.headers[H.reasonField]), 'card_txn_count_24h', 'the first feature the event needs');
      assert.equal(String(m.headers[H.reasonValue]), (cases[index] as StoreCase).cardKey);
      assert.ok((m.value as Buffer).equals(eventType.toBuffer((cases[index] as StoreCase).event)), 'original bytes');
    }
    const { messages: scored } = await readTopic(kafka, topics.output, { readCommitted: true });
    for (const m of scored) {
      const index = Number(m.key?.toString().slice(1));
      assert.ok(index < first.length || index >= first.length + second.length, `k${index} was produced while Redis was down`);
      assert.equal((predictionType.fromBuffer(m.value as Buffer) as Prediction).score, (cases[index] as StoreCase).expectedScore, `event ${index}`);
    }
    const back = await monitoring.readiness.check();
    assert.equal(back.checks.feature_store, 'available');
    assert.equal(back.feature_store_breaker, 'closed');
    t.diagnostic(`waves ${first.length}/${second.length}/${third.length}: dead letters ${report.deadLetters} (all FEATURE_UNAVAILABLE), predictions ${report.predictions}, lost ${report.lost}`);
    await stop(scorer);
  });

  // Both guarantees: exactly-once waits inside its transactions (one per input partition) while the store is frozen.
  for (const guarantee of ['at-least-once', 'exactly-once'] as const) {
    it(`[${guarantee}] Redis frozen (SIGSTOP) past the time-out under unavailable: wait: the breaker opens, /readyz waits; after SIGCONT it closes, nothing lost or dead-lettered`, async (t) => {
      const topics = await createTestTopics(kafka, `store-fault-freeze-${guarantee === 'exactly-once' ? 'eos' : 'alo'}`, 3);
      const cases = storeCases(`ffz${guarantee === 'exactly-once' ? 'e' : 'a'}-`);
      const [first, second] = [cases.slice(0, 60), cases.slice(60)];
      await seed(cases);
      const TIMEOUT_MS = 300;
      const OPEN_MS = 1_000;
      const scorer = await start(topics, { PROCESSING_GUARANTEE: guarantee, FEATURE_STORE_TIMEOUT_MS: String(TIMEOUT_MS), FEATURE_STORE_BREAKER_FAILURES: '3', FEATURE_STORE_BREAKER_OPEN_MS: String(OPEN_MS) });
      const { service, monitoring } = scorer;
      await produce(kafka, topics.input, messages(first, 0));
      await waitFor(() => service.stats.consumed >= first.length, 60_000, 'the first wave scored');

      const pid = Number(redisScript('pid'));
      process.kill(pid, 'SIGSTOP');
      frozen = pid;
      const stoppedAt = Date.now();
      await produce(kafka, topics.input, messages(second, first.length));
      let state = await monitoring.readiness.check();
      for (const deadline = Date.now() + 30_000; state.feature_store_breaker !== 'open' && Date.now() < deadline; state = await monitoring.readiness.check()) await sleep(20);
      const openedAfter = Date.now() - stoppedAt;
      assert.equal(state.feature_store_breaker, 'open', 'three timed-out lookups open the breaker');
      assert.equal(state.checks.feature_store, 'waiting');
      assert.equal(state.ready, false);
      assert.match(state.feature_store_error ?? '', /FEATURE_STORE_TIMEOUT_MS=300|circuit breaker/);
      const text = await monitoring.metrics.text();
      assert.equal(metric(text, 'stream_scorer_feature_store_breaker_state'), 2);
      assert.ok(metric(text, 'stream_scorer_feature_store_errors_total', { kind: 'timeout' }) >= 3, 'the lookups timed out');
      // Frozen a while longer: the open breaker fails lookups at once, half-open probes time out again.
      await sleep(2 * OPEN_MS + TIMEOUT_MS);
      assert.equal(service.stats.consumed, first.length, 'nothing of the second wave accounted for while Redis is frozen');

      process.kill(pid, 'SIGCONT');
      frozen = undefined;
      const resumedAt = Date.now();
      for (state = await monitoring.readiness.check(); state.feature_store_breaker !== 'closed' && Date.now() - resumedAt < 30_000; state = await monitoring.readiness.check()) await sleep(20);
      const closedAfter = Date.now() - resumedAt;
      assert.equal(state.feature_store_breaker, 'closed', 'a probe after SIGCONT closes the breaker');
      await waitFor(() => service.stats.consumed >= cases.length, 60_000, 'the second wave scored after SIGCONT');
      const report = await settle(t, topics, cases.length, guarantee === 'exactly-once');
      assert.equal(report.eventsIn, cases.length, formatReport(report));
      assert.equal(report.lost, 0, formatReport(report));
      assert.equal(report.duplicated, 0, formatReport(report));
      assert.equal(report.deadLetters, 0, formatReport(report));
      assert.equal(report.predictions, cases.length, formatReport(report));
      await assertScores(kafka, topics.output, cases);
      const after = await monitoring.readiness.check();
      assert.equal(after.checks.feature_store, 'available');
      assert.equal(after.ready, true);
      const text2 = await monitoring.metrics.text();
      assert.equal(metric(text2, 'stream_scorer_feature_store_breaker_state'), 0);
      assert.ok(metric(text2, 'stream_scorer_feature_store_lookups_total', { result: 'breaker-open' }) >= 1, 'lookups failed at once while open');
      // Opened by three failed lookups of TIMEOUT_MS each: one after another with one partition at a
      // time, side by side when partitions are handled at once (CONSUMER_CONCURRENT_PARTITIONS), so
      // never before one time-out has passed. Closed by the first probe after SIGCONT (at most OPEN_MS away).
      assert.ok(openedAfter >= TIMEOUT_MS - 50, `the breaker opened before a lookup could time out (${openedAfter} ms)`);
      // … and no later than three time-outs and three retry backoffs (RETRY_BACKOFF_MAX_MS 500) with slack for a loaded machine:
      // a lookup that outlasted its time-out would push it past this.
      assert.ok(openedAfter <= 3 * (TIMEOUT_MS + 500) + 3_000, `the breaker opened ${openedAfter} ms after SIGSTOP`);
      assert.ok(closedAfter <= OPEN_MS + TIMEOUT_MS + 2_000, `closed ${closedAfter} ms after SIGCONT`);
      t.diagnostic(`${guarantee}: breaker opened ${openedAfter} ms after SIGSTOP (time-out ${TIMEOUT_MS} ms, 3 failures), closed ${closedAfter} ms after SIGCONT (open period ${OPEN_MS} ms); timeouts ${metric(text2, 'stream_scorer_feature_store_errors_total', { kind: 'timeout' })}, breaker-open lookups ${metric(text2, 'stream_scorer_feature_store_lookups_total', { result: 'breaker-open' })}, batch retries ${metric(text2, 'stream_scorer_batch_retries_total', { failure: 'feature-store' })}`);
      await stop(scorer);
    });
  }

  it('text that is not a number in a hash field ("abc" for a double): FEATURE_MISSING naming the feature, the key and the text under missing: dead-letter; the flagged default under missing: default', async (t) => {
    const cases = storeCases('fwt-').slice(0, 30);
    const bad = new Set([4, 11, 23]);
    const override = Object.fromEntries([...bad].map((i) => [(cases[i] as StoreCase).merchantKey, { risk_score: 'abc' }]));
    await seed(cases, override);

    // missing: dead-letter for the merchant's risk score (a double).
    const dlTopics = await createTestTopics(kafka, 'store-fault-type-dl', 1);
    await produce(kafka, dlTopics.input, messages(cases, 0));
    const dl = await start(dlTopics, { MODEL_MANIFEST: manifest('type-dead-letter', { merchant_risk_score: { missing: 'dead-letter', default: null } }) });
    await waitFor(() => dl.service.stats.consumed >= cases.length, 60_000, 'every event consumed (dead-letter)');
    const dlReport = await settle(t, dlTopics, cases.length);
    assert.equal(dlReport.lost, 0, formatReport(dlReport));
    assert.equal(dlReport.deadLetters, bad.size, formatReport(dlReport));
    assert.equal(dlReport.predictions, cases.length - bad.size, formatReport(dlReport));
    const { messages: dead } = await readTopic(kafka, dlTopics.deadLetter, { readCommitted: true });
    assert.deepEqual(dead.map((m) => m.key?.toString()).sort(), [...bad].map((i) => `k${i}`).sort());
    for (const m of dead) {
      const c = cases[Number(m.key?.toString().slice(1))] as StoreCase;
      assert.equal(String(m.headers[H.reasonCode]), 'FEATURE_MISSING');
      assert.equal(String(m.headers[H.reasonStage]), 'enrich');
      assert.equal(String(m.headers[H.reasonField]), 'merchant_risk_score');
      assert.equal(String(m.headers[H.reasonValue]), c.merchantKey);
      assert.match(String(m.headers[H.reasonMessage]), /the value "abc", which is not a number for feature "merchant_risk_score" at merchant:fwt-m-\d+ risk_score/);
    }
    assert.deepEqual(dl.service.stats.snapshot().byReason, { FEATURE_MISSING: bad.size });
    await stop(dl);

    // missing: default (the model's own manifest): scored with the default 0.1, flagged.
    const defTopics = await createTestTopics(kafka, 'store-fault-type-def', 1);
    await produce(kafka, defTopics.input, messages(cases, 0));
    const def = await start(defTopics, {});
    await waitFor(() => def.service.stats.consumed >= cases.length, 60_000, 'every event consumed (default)');
    const defReport = await settle(t, defTopics, cases.length);
    assert.equal(defReport.lost, 0, formatReport(defReport));
    assert.equal(defReport.deadLetters, 0, formatReport(defReport));
    assert.equal(defReport.predictions, cases.length, formatReport(defReport));
    const { messages: scored } = await readTopic(kafka, defTopics.output, { readCommitted: true });
    let flagged = 0;
    for (const m of scored) {
      const i = Number(m.key?.toString().slice(1));
      const p = predictionType.fromBuffer(m.value as Buffer) as Prediction;
      if (bad.has(i)) {
        flagged += 1;
        assert.deepEqual(p.flags, ['FEATURE_MISSING:merchant_risk_score'], `k${i}`);
        assert.equal(p.features.merchant_risk_score, 0.1, 'the declared default, recorded');
      } else {
        assert.deepEqual(p.flags, [], `k${i}`);
        assert.equal(p.score, (cases[i] as StoreCase).expectedScore, `k${i}`);
      }
    }
    assert.equal(flagged, bad.size);
    const text = await def.monitoring.metrics.text();
    assert.equal(metric(text, 'stream_scorer_predictions_flagged_total'), bad.size, 'flagged predictions counted');
    t.diagnostic(`"abc" in ${bad.size} of ${cases.length} merchants' risk_score: dead-letter → ${dlReport.deadLetters} FEATURE_MISSING; default → ${flagged} flagged predictions with 0.1`);
    await stop(def);
  });

  it('a slow store (CLIENT PAUSE longer than the time-out) under wait: no lookup outlasts FEATURE_STORE_TIMEOUT_MS, the batches wait and are all scored; lookup latency percentiles', async (t) => {
    const topics = await createTestTopics(kafka, 'store-fault-slow', 3);
    const cases = storeCases('fsl-');
    const [first, second] = [cases.slice(0, 60), cases.slice(60)];
    await seed(cases);
    const TIMEOUT_MS = 300;
    const PAUSE_MS = 2_500;
    // The service's spans, kept here: one `enrich` span per scored chunk (a failed lookup leaves none).
    const exporter = new InMemorySpanExporter();
    const telemetry = startTelemetry({ serviceName: 'store-faults', serviceVersion: '0', spanProcessors: [new SimpleSpanProcessor(exporter)] });
    t.after(() => telemetry.shutdown());
    // A breaker that never opens: every lookup during the pause goes to Redis and sits through the time-out.
    // Chunks of 20 events: one lookup each, so enough of them for percentiles.
    const scorer = await start(topics, { FEATURE_STORE_TIMEOUT_MS: String(TIMEOUT_MS), FEATURE_STORE_BREAKER_FAILURES: '1000', RETRY_BACKOFF_MAX_MS: '200', SCORE_BATCH_MAX_EVENTS: '20' });
    const { service, monitoring } = scorer;
    await produce(kafka, topics.input, messages(first, 0));
    await waitFor(() => service.stats.consumed >= first.length, 60_000, 'the first wave scored');
    const healthy = buckets(await monitoring.metrics.text(), 'stream_scorer_feature_store_lookup_duration_seconds');
    const healthySpans = spanMs(exporter.getFinishedSpans().filter((span) => span.name === 'enrich'));

    // Every client's commands wait PAUSE_MS (the pausing connection's own reply comes at once).
    await client.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const pausedAt = Date.now();
    await produce(kafka, topics.input, messages(second, first.length));
    await waitFor(() => service.stats.consumed >= cases.length, 60_000, 'the second wave scored after the pause');
    const scoredAfter = Date.now() - pausedAt;

    const report = await settle(t, topics, cases.length);
    assert.equal(report.lost, 0, formatReport(report));
    assert.equal(report.deadLetters, 0, formatReport(report));
    assert.equal(report.duplicated, 0, formatReport(report));
    assert.equal(report.predictions, cases.length, formatReport(report));
    await assertScores(kafka, topics.output, cases);
    const text = await monitoring.metrics.text();
    const all = buckets(text, 'stream_scorer_feature_store_lookup_duration_seconds');
    const timeouts = metric(text, 'stream_scorer_feature_store_errors_total', { kind: 'timeout' });
    const ok = metric(text, 'stream_scorer_feature_store_lookups_total', { result: 'ok' });
    assert.ok(timeouts >= 2, `lookups timed out during the pause (${timeouts})`);
    assert.equal(metric(text, 'stream_scorer_feature_store_lookups_total', { result: 'breaker-open' }), 0);
    assert.ok(scoredAfter >= PAUSE_MS - 100, `the second wave waited for the pause to end (${scoredAfter} ms)`);
    // The time-out is honoured: no lookup above the 0.5 s bucket (300 ms + slack), although Redis held every command 2.5 s.
    const upTo = (le: number): number => all.find(([bound]) => bound === le)?.[1] ?? 0;
    const total = all[all.length - 1]?.[1] ?? 0;
    assert.equal(upTo(0.5), total, `every lookup took at most 0.5 s: ${JSON.stringify(all)}`);
    // A timed-out lookup lasts the time-out and a little (it ends when its timer fires, which Node may fire a millisecond
    // early by performance.now()): 300 ms, well inside (0.25 s, 0.5 s]; a lookup answered just as the pause ended may be there too.
    assert.ok(upTo(0.5) - upTo(0.25) >= timeouts, `the ${timeouts} timed-out lookups took between 0.25 s and 0.5 s: ${JSON.stringify(all)}`);
    // Span timings of the enrich stage (chunks whose lookup answered): none outlasts the time-out either.
    const enrichSpans = spanMs(exporter.getFinishedSpans().filter((span) => span.name === 'enrich'));
    assert.ok(enrichSpans.length >= cases.length / 20, `an enrich span per chunk (${enrichSpans.length})`);
    assert.ok((enrichSpans[enrichSpans.length - 1] as number) < TIMEOUT_MS + 200, `every enrich span within the time-out: max ${enrichSpans[enrichSpans.length - 1]} ms`);
    const ms = (s: number): string => `${(s * 1_000).toFixed(2)} ms`;
    const spanLine = (sorted: readonly number[]): string => `${sorted.length} spans, p50 ${quantile(sorted, 0.5).toFixed(2)} ms, p99 ${quantile(sorted, 0.99).toFixed(2)} ms, max ${(sorted[sorted.length - 1] ?? NaN).toFixed(2)} ms`;
    t.diagnostic(
      `healthy lookups (${healthy[healthy.length - 1]?.[1]}): p50 ${ms(percentile(healthy, 0.5))}, p99 ${ms(percentile(healthy, 0.99))}; ` +
        `with a ${PAUSE_MS} ms CLIENT PAUSE (${total} lookups, ${timeouts} timed out at ${TIMEOUT_MS} ms, ${ok} ok): p50 ${ms(percentile(all, 0.5))}, p90 ${ms(percentile(all, 0.9))}, p99 ${ms(percentile(all, 0.99))}, max bucket ≤ 0.5 s; ` +
        `second wave scored ${scoredAfter} ms after the pause began; enrich spans before the pause: ${spanLine(healthySpans)}; over the run: ${spanLine(enrichSpans)}`,
    );
    await stop(scorer);
  });
});
