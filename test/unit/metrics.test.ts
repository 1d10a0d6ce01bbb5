import { FeatureStore } from '../../src/features/store/lookup';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { type HealthServer, startHealthServer } from '../../src/health/server';
import { Readiness } from '../../src/health/readiness';
import { DriftMonitor } from '../../src/monitor/drift';
import { loadProfile } from '../../src/monitor/profile';
import { type PipelineDeps, type ProcessedBatch, processBatch } from '../../src/pipeline';
import type { SourceMessage } from '../../src/records';
import { prepare } from '../../src/service';
import { FastHistogram } from '../../src/telemetry/fast-histogram';
import { createLogger } from '../../src/telemetry/logger';
import { METRIC, ServiceMetrics } from '../../src/telemetry/metrics';
import { compareShadow } from '../../src/model/shadow';
import { PartitionProgress } from '../../src/telemetry/partition-progress';
import { OTHER, UnknownValueCounts } from '../../src/telemetry/unknown-values';
import { mixedCases } from '../support/mixed';
import { ROOT, referenceCases, testConfig } from '../support/model';
import { PROFILE_PATH } from '../support/profile-events';
import { zooConfigEnv, zooReference } from '../support/zoo';
import { samples } from '../support/prometheus';

function sampleNames(text: string): Set<string> {
  return new Set([...samples(text).keys()].map((s) => s.replace(/\{.*$/, '')));
}

let deps: PipelineDeps;
let metrics: ServiceMetrics;
let drift: DriftMonitor;
let server: HealthServer;
let brokerUp = false;
const readiness = new Readiness(async () => brokerUp, 0);
const STALL_TIMEOUT = 60_000;
let clock = 1_700_000_000_000;
const progress = new PartitionProgress({ stallTimeoutMs: STALL_TIMEOUT, now: () => clock });
readiness.stalledPartitions = () => progress.stalled();
let messages: SourceMessage[];
let processed: ProcessedBatch;
const ACKED_AT = 1_700_000_000_000 + 2_500;

before(async () => {
  deps = { ...(await prepare(testConfig({ SCORE_BATCH_MAX_EVENTS: '4' }), createLogger('silent'))), tracer: trace.getTracer('test') };
  metrics = new ServiceMetrics({ serviceName: 'test', serviceVersion: '0', unknownValuesNamed: 10 });
  metrics.setModel('card-fraud', '1.0.0');
  drift = new DriftMonitor(loadProfile(PROFILE_PATH), {
    windowMs: 3_600_000,
    minWindowEvents: 1,
    psiThreshold: 0.2,
    predictionPsiThreshold: 0.2,
    unknownRateThreshold: 0.01,
    mode: 'offline',
    eventTimeField: 'event_time',
  });
  metrics.setDriftMonitor(drift);
  // A feature store with one lookup, so its instruments (the histogram too) have samples.
  const store = new FeatureStore(async (requests) => requests.map((r) => r.fields.map(() => '1')), { failureThreshold: 3, openMs: 1_000 });
  metrics.attachFeatureStore(store);
  await store.lookup([{ key: 'card:c1', fields: ['txn_count_24h'] }]);
  store.found({ keys: 1, hits: 1, misses: 0 });

  const cases = mixedCases(deps.decoder.reader, referenceCases(), 'metrics');
  messages = cases.map((c, i) => ({ topic: 'in', partition: 2, offset: String(100 + i), key: c.key, value: c.value, headers: c.headers, timestamp: String(1_700_000_000_000 + i) }));
  processed = await processBatch(deps, messages);
  processed.finish();
  metrics.setPartitionProgress(progress);
  progress.assigned(new Map([['in', [2, 3]]]));
  // Partition 2 processed this batch; partition 3 fetched a batch (offsets 30..) that fails to be written.
  progress.fetched('in', 2, '150', '100');
  progress.progressed('in', 2, String(Number(messages[messages.length - 1]?.offset) + 1), '150');
  progress.fetched('in', 3, '40', '30');
  for (let i = 0; i < 2; i += 1) {
    metrics.recordRetry('in', 3, 'transient');
    progress.retried('in', 3);
    progress.fetched('in', 3, '42', '30');
  }
  metrics.recordRetry('in', 3, 'no-such-class' as never);
  metrics.recordMembershipLost('UNKNOWN_MEMBER_ID');
  metrics.recordMembershipLost('no-such-reason' as never);
  metrics.recordBatch(messages, { predictions: processed.predictions.length, rejections: processed.rejections, observation: processed.observation }, ACKED_AT);
  // A model whose manifest scores unknown countries and flags them (models/zoo/xgboost): one flagged prediction.
  const zoo = { ...(await prepare(testConfig(zooConfigEnv('xgboost')), createLogger('silent'))), tracer: trace.getTracer('test') };
  const zooEvent = zooReference('xgboost').events[0] as Record<string, unknown>;
  const flaggedEvent = { ...zooEvent, merchant: { ...(zooEvent.merchant as object), country: 'ZZ' } };
  const zooMessages: SourceMessage[] = [{ topic: 'zoo', partition: 0, offset: '0', key: null, value: zoo.decoder.reader.toBuffer(flaggedEvent), headers: {}, timestamp: '1700000000000' }];
  const flagged = await processBatch(zoo, zooMessages);
  flagged.finish();
  metrics.recordBatch(zooMessages, { predictions: flagged.predictions.length, rejections: flagged.rejections, observation: flagged.observation }, ACKED_AT);
  await zoo.model.session.release();
  // Shadow scoring: the same graph under another version scores the same batch (issue 13).
  const challenger = { ...(await prepare(testConfig({ SCORE_BATCH_MAX_EVENTS: '4', MODEL_VERSION: '2.0.0-challenger' }), createLogger('silent'))), tracer: trace.getTracer('test'), outputTopic: 'shadow', recordSpans: false };
  const shadowed = await processBatch(challenger, messages);
  shadowed.finish();
  const comparison = compareShadow(processed.observation, shadowed.observation, 0.01);
  metrics.shadowConfigured();
  metrics.recordShadow({ predictions: shadowed.predictions.length, ...comparison, rejections: shadowed.rejections, scoreSeconds: { champion: processed.observation.stageSeconds.score, challenger: shadowed.observation.stageSeconds.score } });
  metrics.recordShadowError('score');
  await challenger.model.session.release();
  for (const chunk of processed.observation.chunks) drift.observeChunk(chunk, messages);
  drift.finish();

  server = await startHealthServer('127.0.0.1', 0, {
    metrics: () => metrics.text(),
    readiness: async () => {
      const report = await readiness.check();
      metrics.setReady(report.ready);
      return report;
    },
    drift: () => drift.report(),
  });
});

after(async () => {
  await server?.close();
  await metrics?.shutdown();
});

describe('metrics: what one batch records', () => {
  it('records shadow scoring: agreement, score differences, both models\' score time, errors', async () => {
    const values = samples(await metrics.text());
    const cases = mixedCases(deps.decoder.reader, referenceCases(), 'metrics');
    const valid = cases.filter((c) => c.expected === undefined).length;
    assert.equal(values.get('stream_scorer_shadow_predictions_total'), valid);
    assert.equal(values.get('stream_scorer_shadow_agreement_total{result="agree"}'), valid, 'the same graph agrees with itself on every event');
    assert.equal(values.get('stream_scorer_shadow_agreement_total{result="disagree"}'), 0);
    assert.equal(values.get('stream_scorer_shadow_score_difference_count'), valid);
    assert.equal(values.get('stream_scorer_shadow_score_difference_sum'), 0);
    assert.equal(values.get('stream_scorer_shadow_score_duration_seconds_count{model="champion"}'), 1);
    assert.equal(values.get('stream_scorer_shadow_score_duration_seconds_count{model="challenger"}'), 1);
    assert.equal(values.get('stream_scorer_shadow_errors_total{kind="score"}'), 1);
    assert.equal(values.get('stream_scorer_shadow_errors_total{kind="write"}'), 0);
    assert.ok([...values.keys()].some((k) => k.startsWith('stream_scorer_shadow_rejections_total{reason=')), 'the challenger\'s rejections are counted by reason');
  });

  it('serves the OpenTelemetry metrics as Prometheus text on /metrics', async () => {
    const response = await fetch(`${server.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const values = samples(text);
    const cases = mixedCases(deps.decoder.reader, referenceCases(), 'metrics');
    const valid = cases.filter((c) => c.expected === undefined).length;

    assert.equal(values.get('stream_scorer_events_consumed_total{topic="in"}'), cases.length);
    // valid card-fraud events, plus the one flagged zoo prediction
    assert.equal(values.get('stream_scorer_predictions_total'), valid + 1);
    assert.equal(values.get('stream_scorer_predictions_flagged_total{reason="UNKNOWN_CATEGORY",column="merchant.country"}'), 1);
    assert.equal(values.get('stream_scorer_unknown_categories_total{column="merchant.country",value="ZZ"}'), 1);
    assert.equal(values.get('stream_scorer_batches_total{topic="in"}'), 1);
    const byReason = new Map<string, number>();
    for (const c of cases) if (c.expected) byReason.set(c.expected, (byReason.get(c.expected) ?? 0) + 1);
    for (const [reason, count] of byReason) assert.equal(values.get(`stream_scorer_dead_letters_total{reason="${reason}"}`), count, reason);
    assert.equal(values.get('stream_scorer_unknown_categories_total{column="channel",value="crypto_atm"}'), 1);
    assert.equal(values.get('stream_scorer_unknown_categories_total{column="country",value="ZZ"}'), 1);
    // MISSING_FIELD dead letters per column (issue 16): one null merchant_category, one null distance.
    assert.equal(values.get('stream_scorer_missing_fields_total{column="merchant_category"}'), 1);
    assert.equal(values.get('stream_scorer_missing_fields_total{column="distance_from_home_km"}'), 1);
    // The reference events lie in different hours: the latest window is one without a null.
    assert.equal(values.get('stream_scorer_drift_missing_rate{column="distance_from_home_km"}'), 0, 'the missing rate of the latest window');
    assert.ok(values.has('stream_scorer_drift_positive_rate{threshold="0.5"}'), 'the positive rate at the decision threshold');

    // Per-message histograms: every event's latency from its Kafka timestamp; one score per prediction
    // (+1 everywhere: the zoo batch of one flagged event).
    assert.equal(values.get('stream_scorer_end_to_end_latency_seconds_count'), cases.length + 1);
    assert.equal(values.get('stream_scorer_end_to_end_latency_seconds_bucket{le="2.5"}'), cases.length + 1, 'all within 2.5 s of their timestamp');
    assert.equal(values.get('stream_scorer_end_to_end_latency_seconds_bucket{le="1"}'), 0);
    assert.equal(values.get('stream_scorer_prediction_score_count'), valid + 1);
    assert.equal(values.get('stream_scorer_prediction_score_bucket{le="+Inf"}'), valid + 1);

    for (const stage of ['decode', 'check', 'score', 'encode', 'publish']) assert.equal(values.get(`stream_scorer_stage_duration_seconds_count{stage="${stage}"}`), 2, stage);
    assert.equal(values.get('stream_scorer_batch_size_sum'), cases.length + 1);
    assert.equal(values.get('stream_scorer_consumer_lag{topic="in",partition="2"}'), 150 - 111, 'high watermark - next offset to process');
    assert.equal(values.get('stream_scorer_consumer_lag{topic="in",partition="3"}'), 42 - 30, 'a batch fetched but not written is still waiting');
    assert.equal(values.get('stream_scorer_partition_stalled{topic="in",partition="3"}'), 0, 'not stalled before the timeout');
    assert.equal(values.get('stream_scorer_batch_retries_total{topic="in",partition="3",failure="transient"}'), 2);
    assert.equal(values.get('stream_scorer_batch_retries_total{topic="in",partition="3",failure="other"}'), 1, 'an unknown failure class does not become a label value');
    assert.equal(values.get('stream_scorer_group_memberships_lost_total{reason="UNKNOWN_MEMBER_ID"}'), 1);
    assert.equal(values.get('stream_scorer_group_memberships_lost_total{reason="other"}'), 1, 'an unknown reason does not become a label value');
    assert.equal(values.get('stream_scorer_model_info{model_name="card-fraud",model_version="1.0.0"}'), 1);
    assert.ok(values.has('stream_scorer_drift_psi{column="amount"}'));
    assert.ok(values.has('stream_scorer_drift_active{column="channel",measure="unknown_rate"}'));
    assert.match(text, /# TYPE stream_scorer_stage_duration_seconds histogram/);
  });

  it('answers /healthz always, /readyz only with model, group and broker', async () => {
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    let response = await fetch(`${server.url}/readyz`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), { status: 'not ready', model_loaded: false, consumer_joined: false, broker_reachable: false, partitions_stalled: [], schema_registry: 'not used', feature_store: 'not used' });
    readiness.modelLoaded = true;
    readiness.consumerJoined = true;
    assert.equal((await fetch(`${server.url}/readyz`)).status, 503, 'broker not reachable');
    brokerUp = true;
    response = await fetch(`${server.url}/readyz`);
    assert.equal(response.status, 200);
    assert.equal(samples(await (await fetch(`${server.url}/metrics`)).text()).get('stream_scorer_ready'), 1);
    assert.equal((await fetch(`${server.url}/nope`)).status, 404);
    assert.equal((await fetch(`${server.url}/metrics`, { method: 'POST' })).status, 405);
  });

  it('answers /readyz 503 naming a stalled partition, with its offset and since when, until it progresses', async () => {
    assert.equal((await fetch(`${server.url}/readyz`)).status, 200, 'model, group and broker are fine');
    // Partition 2 catches up and then idles: never stalled, however long nothing arrives.
    progress.progressed('in', 2, '150', '150');
    const since = clock;
    clock += STALL_TIMEOUT + 1_500;
    let response = await fetch(`${server.url}/readyz`);
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), {
      status: 'not ready',
      model_loaded: true,
      consumer_joined: true,
      broker_reachable: true,
      partitions_stalled: ['in[3]'],
      schema_registry: 'not used',
      feature_store: 'not used',
      stalled: [{ topic: 'in', partition: 3, offset: '30', lag: 12, since: new Date(since).toISOString(), stalled_for_ms: STALL_TIMEOUT + 1_500, retries: 2 }],
    });
    let values = samples(await (await fetch(`${server.url}/metrics`)).text());
    assert.equal(values.get('stream_scorer_partition_stalled{topic="in",partition="3"}'), 1);
    assert.equal(values.get('stream_scorer_partition_stalled{topic="in",partition="2"}'), 0, 'partition 2 is idle');
    assert.equal(values.get('stream_scorer_consumer_lag{topic="in",partition="3"}'), 12);
    assert.equal(values.get('stream_scorer_ready'), 0);

    progress.progressed('in', 3, '42', '42');
    response = await fetch(`${server.url}/readyz`);
    assert.equal(response.status, 200);
    assert.deepEqual(((await response.json()) as { partitions_stalled: string[] }).partitions_stalled, []);
    values = samples(await (await fetch(`${server.url}/metrics`)).text());
    assert.equal(values.get('stream_scorer_partition_stalled{topic="in",partition="3"}'), 0);
    assert.equal(values.get('stream_scorer_consumer_lag{topic="in",partition="3"}'), 0);
  });

  it('serves the live drift report on /drift', async () => {
    const report = (await (await fetch(`${server.url}/drift`)).json()) as { columns: { column: string }[]; windowsEvaluated: number };
    assert.ok(report.windowsEvaluated >= 1);
    assert.ok(report.columns.some((c) => c.column === 'channel'));
  });
});

describe('metrics: bounded unknown-category series', () => {
  it('names a bounded set of values per column, counts the rest as __other__, and only ever grows', () => {
    const counts = new UnknownValueCounts(2, 1);
    for (const value of ['a', 'a', 'b', 'c', 'c', 'c']) counts.add('col', value);
    const first = counts.collect();
    assert.deepEqual(first, [
      { column: 'col', value: 'a', count: 2 },
      { column: 'col', value: 'b', count: 1 },
      { column: 'col', value: OTHER, count: 3 },
    ]);
    // b stays idle and gives its slot up; c, the most frequent of the rest, takes it from 0.
    for (const value of ['a', 'c', 'c']) counts.add('col', value);
    assert.deepEqual(
      counts.collect().map((s) => `${s.value}=${s.count}`),
      ['a=3', 'c=0', `${OTHER}=5`],
    );
    // Now a is idle: its series ends; c counts under its name.
    counts.add('col', 'c');
    assert.deepEqual(
      counts.collect().map((s) => `${s.value}=${s.count}`),
      ['c=1', `${OTHER}=5`],
    );
  });

  it('a FastHistogram puts a value on a boundary in that bucket, like Prometheus', () => {
    const h = new FastHistogram('h', 'test', 's', [1, 2, 5]);
    for (const v of [0.5, 1, 1.5, 2, 5, 6, Number.NaN]) h.record(v);
    const point = h.toMetricData(0, 1).dataPoints[0] as { value: { buckets: { counts: number[] }; count: number; sum: number } };
    assert.deepEqual(point.value.buckets.counts, [2, 2, 1, 1]);
    assert.equal(point.value.count, 6);
    assert.equal(point.value.sum, 16);
  });
});

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or strings. */
function metricNames(expr: string): string[] {
  const FUNCTIONS = new Set([
    'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
    'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'histogram_quantile', 'abs', 'ceil', 'floor', 'round', 'clamp_min', 'clamp_max',
    'label_replace', 'label_join', 'time', 'timestamp', 'vector', 'scalar', 'sort', 'sort_desc', 'absent', 'changes', 'resets',
    'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time', 'count_over_time', 'last_over_time', 'by', 'without',
    'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset',
  ]);
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = stripped.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? [];
  return [...new Set(names.filter((n) => !FUNCTIONS.has(n)))];
}

describe('dashboard: dashboards/stream-scorer.json', () => {
  interface Panel {
    title: string;
    targets?: { expr: string }[];
    panels?: Panel[];
  }
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'dashboards/stream-scorer.json'), 'utf8')) as { panels: Panel[] };
  const exprs = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('extracts metric names from PromQL', () => {
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (le, stage) (rate(a_bucket{x="rate(b)"}[5m]))) / on (stage) c'), ['a_bucket', 'c']);
  });

  it('queries only metrics the service exports, and every one it exports', async () => {
    assert.ok(exprs.length >= 15, `${exprs.length} queries`);
    const text = await metrics.text();
    const exported = sampleNames(text);
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${panel}: ${expr} reads a metric`);
      for (const name of names) assert.ok(exported.has(name), `${panel}: ${name} is not exported (exported: ${[...exported].filter((n) => n.startsWith('stream_scorer')).join(', ')})`);
    }
    const used = new Set(exprs.flatMap((e) => metricNames(e.expr)));
    const families = [...text.matchAll(/^# TYPE (stream_scorer_\w+) /gm)].map((m) => m[1] as string);
    assert.equal(families.length, Object.keys(METRIC).length, `one family per METRIC entry: ${families.join(', ')}`);
    for (const family of families) assert.ok([...used].some((n) => n === family || n.startsWith(`${family}_`)), `the dashboard shows ${family}`);
  });
});
