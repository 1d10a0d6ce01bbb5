import { type Attributes, type Counter, type Histogram, type Meter, ValueType } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { Rejection } from '../errors';
import type { BreakerState } from '../features/store/breaker';
import type { FeatureStore } from '../features/store/lookup';
import type { RetryCause } from './observer';
import { LOST_MEMBERSHIP, type LostMembershipReason } from '../kafka/membership';
import type { DriftMonitor } from '../monitor/drift';
import type { SourceMessage } from '../records';
import { FastHistogram, FastHistogramProducer } from './fast-histogram';
import type { BatchObservation } from './observation';
import type { PartitionProgress } from './partition-progress';
import { UnknownValueCounts } from './unknown-values';

/**
 * Every metric stream-scorer exports, by its Prometheus name (counters get `_total`, histograms
 * `_bucket`/`_sum`/`_count`). dashboards/stream-scorer.json queries these names; a unit test
 * checks that each one it queries is exported.
 */
export const METRIC = {
  eventsConsumed: 'stream_scorer_events_consumed',
  predictions: 'stream_scorer_predictions',
  predictionsFlagged: 'stream_scorer_predictions_flagged',
  deadLetters: 'stream_scorer_dead_letters',
  unknownCategories: 'stream_scorer_unknown_categories',
  batches: 'stream_scorer_batches',
  stageDuration: 'stream_scorer_stage_duration_seconds',
  endToEndLatency: 'stream_scorer_end_to_end_latency_seconds',
  batchSize: 'stream_scorer_batch_size',
  consumerLag: 'stream_scorer_consumer_lag',
  partitionStalled: 'stream_scorer_partition_stalled',
  batchRetries: 'stream_scorer_batch_retries',
  membershipsLost: 'stream_scorer_group_memberships_lost',
  modelInfo: 'stream_scorer_model_info',
  modelReloads: 'stream_scorer_model_reloads',
  predictionScore: 'stream_scorer_prediction_score',
  ready: 'stream_scorer_ready',
  driftPsi: 'stream_scorer_drift_psi',
  unknownCategoryRate: 'stream_scorer_unknown_category_rate',
  driftActive: 'stream_scorer_drift_active',
  driftOnset: 'stream_scorer_drift_onset_timestamp_seconds',
  driftOnsets: 'stream_scorer_drift_onsets',
  driftWindows: 'stream_scorer_drift_windows',
  driftLateEvents: 'stream_scorer_drift_late_events',
  driftMissingRate: 'stream_scorer_drift_missing_rate',
  driftPositiveRate: 'stream_scorer_drift_positive_rate',
  driftMeanScore: 'stream_scorer_drift_mean_score',
  driftShift: 'stream_scorer_drift_mean_shift_sd',
  missingFields: 'stream_scorer_missing_fields',
  shadowPredictions: 'stream_scorer_shadow_predictions',
  shadowAgreement: 'stream_scorer_shadow_agreement',
  shadowScoreDifference: 'stream_scorer_shadow_score_difference',
  shadowScoreDuration: 'stream_scorer_shadow_score_duration_seconds',
  shadowRejections: 'stream_scorer_shadow_rejections',
  shadowErrors: 'stream_scorer_shadow_errors',
  featureStoreLookups: 'stream_scorer_feature_store_lookups',
  featureStoreKeys: 'stream_scorer_feature_store_keys',
  featureStoreHits: 'stream_scorer_feature_store_hits',
  featureStoreMisses: 'stream_scorer_feature_store_misses',
  featureStoreErrors: 'stream_scorer_feature_store_errors',
  featureStoreLookupDuration: 'stream_scorer_feature_store_lookup_duration_seconds',
  featureStoreBreakerState: 'stream_scorer_feature_store_breaker_state',
} as const;

const STAGE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3_600];
// Finer at the bottom, where most scores are; the 0.1 steps match the training profile's bins.
const SCORE_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
// |champion score − challenger score|: probabilities live in 0..1; the top buckets are for regressors.
const DIFFERENCE_BUCKETS = [0.0001, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 10, 100, 1_000];
const FAILURES: ReadonlySet<string> = new Set<RetryCause>(['transient', 'fenced', 'permanent', 'registry', 'feature-store']);

export interface MetricsOptions {
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** Unknown values per column exported by name; the rest are value="__other__". */
  readonly unknownValuesNamed: number;
}

/** One batch the challenger scored beside the champion, written with the champion's outputs. */
export interface ShadowWritten {
  readonly predictions: number;
  readonly agree: number;
  readonly disagree: number;
  readonly differences: readonly number[];
  readonly rejections: readonly Rejection[];
  readonly scoreSeconds: { readonly champion: number; readonly challenger: number };
}

export interface BatchWritten {
  readonly predictions: number;
  readonly rejections: readonly Rejection[];
  readonly observation: BatchObservation;
}

/**
 * OpenTelemetry metrics in Prometheus text format. Recorded once per batch after its outputs
 * were acknowledged; the two per-message distributions (end-to-end latency, score) go into
 * FastHistograms, everything else is a handful of SDK calls per batch.
 */
export class ServiceMetrics {
  private readonly provider: MeterProvider;
  private readonly reader: PrometheusExporter;
  private readonly serializer = new PrometheusSerializer(undefined, false, undefined, false, true);
  private readonly meter: Meter;
  private readonly consumed: Counter;
  private readonly predictions: Counter;
  private readonly flagged: Counter;
  private readonly deadLetters: Counter;
  private readonly missingFields: Counter;
  private readonly batches: Counter;
  private readonly retries: Counter;
  private readonly membershipsLost: Counter;
  private readonly modelReloads: Counter;
  private readonly stages: Histogram;
  private readonly batchSizes: Histogram;
  private readonly latency = new FastHistogram(
    METRIC.endToEndLatency,
    'From the Kafka timestamp of an input event to the broker acknowledging its prediction or dead letter.',
    's',
    LATENCY_BUCKETS,
  );
  private readonly scores = new FastHistogram(METRIC.predictionScore, 'Distribution of the published scores.', '', SCORE_BUCKETS);
  private readonly differences = new FastHistogram(
    METRIC.shadowScoreDifference,
    'Shadow scoring: |champion score − challenger score| per event both published a prediction for.',
    '',
    DIFFERENCE_BUCKETS,
  );
  private readonly shadowPredictions: Counter;
  private readonly shadowAgreement: Counter;
  private readonly shadowRejections: Counter;
  private readonly shadowErrors: Counter;
  private readonly shadowDuration: Histogram;
  private readonly unknown: UnknownValueCounts;
  private readonly store: { lookups: Counter; keys: Counter; hits: Counter; misses: Counter; errors: Counter; duration: Histogram };
  private breaker: BreakerState = 'closed';
  private progress: PartitionProgress | undefined;
  private model: { name: string; version: string } | undefined;
  private readyState = false;
  private drift: DriftMonitor | undefined;

  constructor(private readonly options: MetricsOptions) {
    this.reader = new PrometheusExporter({
      preventServerStart: true,
      withoutScopeInfo: true,
      metricProducers: [new FastHistogramProducer({ name: 'stream-scorer', version: options.serviceVersion }, [this.latency, this.scores, this.differences])],
    });
    this.provider = new MeterProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, [ATTR_SERVICE_VERSION]: options.serviceVersion }),
      readers: [this.reader],
    });
    this.unknown = new UnknownValueCounts(options.unknownValuesNamed);
    const meter = (this.meter = this.provider.getMeter('stream-scorer', options.serviceVersion));
    this.consumed = meter.createCounter(METRIC.eventsConsumed, { description: 'Input events consumed and accounted for (a prediction or a dead letter acknowledged).' });
    this.predictions = meter.createCounter(METRIC.predictions, { description: 'Predictions published and acknowledged.' });
    this.flagged = meter.createCounter(METRIC.predictionsFlagged, { description: 'Predictions published with a flag (an unknown category scored under the manifest\'s unknown: score-and-flag), by flag reason and column.' });
    this.deadLetters = meter.createCounter(METRIC.deadLetters, { description: 'Dead letters published and acknowledged, by reason code.' });
    // Per column, not a column label on every dead letter: the reason-only series stay as they were,
    // and the columns are the model's inputs (a bounded set, from the contract and the manifest).
    this.missingFields = meter.createCounter(METRIC.missingFields, { description: 'MISSING_FIELD dead letters (a model input, or a field a store key needs, null or absent), by column.' });
    this.batches = meter.createCounter(METRIC.batches, { description: 'Kafka batches written and acknowledged.' });
    this.retries = meter.createCounter(METRIC.batchRetries, { description: 'Batches not written (broker or network error, fenced producer) and fetched again to be retried, by input partition and failure class.' });
    this.modelReloads = meter.createCounter(METRIC.modelReloads, { description: 'Hot-swap attempts of the model: result="ok" (swapped in between batches) or "refused" (a check failed; the old model keeps serving).' });
    // Both series exist from the start, so a rate or an alert on refusals has a zero to start from.
    for (const result of ['ok', 'refused']) this.modelReloads.add(0, { result });
    this.membershipsLost = meter.createCounter(METRIC.membershipsLost, { description: 'Times the group coordinator said this consumer was no longer a member (or the group had moved on); it stopped writing its partitions and rejoined. By coordinator error.' });
    this.stages = meter.createHistogram(METRIC.stageDuration, {
      description: 'Time per batch in each stage; publish is from the end of the pipeline to the broker acknowledging every output.',
      unit: 's',
      advice: { explicitBucketBoundaries: STAGE_BUCKETS },
    });
    this.shadowPredictions = meter.createCounter(METRIC.shadowPredictions, { description: 'Shadow scoring: challenger predictions written to SHADOW_TOPIC and acknowledged (with the champion\'s outputs of the batch).' });
    this.shadowAgreement = meter.createCounter(METRIC.shadowAgreement, { description: 'Shadow scoring: events both models published a prediction for, by whether they agree (same label; regressors: scores within SHADOW_AGREEMENT_TOLERANCE).' });
    this.shadowRejections = meter.createCounter(METRIC.shadowRejections, { description: 'Shadow scoring: events the challenger rejected, by reason code (counted only: the champion decides what is dead-lettered).' });
    this.shadowErrors = meter.createCounter(METRIC.shadowErrors, { description: 'Shadow scoring failures: kind="score" (the challenger threw on a batch: no shadow output for it), kind="write" (shadow output switched off after a write failure the shadow topic may cause). The champion is never affected.' });
    this.shadowDuration = meter.createHistogram(METRIC.shadowScoreDuration, {
      description: 'Shadow scoring: time per batch in the score stage, by model (champion or challenger).',
      unit: 's',
      advice: { explicitBucketBoundaries: STAGE_BUCKETS },
    });
    // Exported with zeros when no model reads store features: dashboards and alerts need no special case.
    this.store = {
      lookups: meter.createCounter(METRIC.featureStoreLookups, { description: 'Batch lookups in the online feature store (one pipelined round trip each), by result: ok, error, timeout, breaker-open (failed at once by the open circuit breaker).' }),
      keys: meter.createCounter(METRIC.featureStoreKeys, { description: 'Distinct keys looked up in the feature store (HMGET per key, deduplicated per batch).' }),
      hits: meter.createCounter(METRIC.featureStoreHits, { description: 'Feature values found in the store, per distinct key and feature of a batch.' }),
      misses: meter.createCounter(METRIC.featureStoreMisses, { description: 'Feature values the store did not have (or stale, or not a number), per distinct key and feature of a batch.' }),
      errors: meter.createCounter(METRIC.featureStoreErrors, { description: 'Failed batch lookups, by kind: error (refused, reset, Redis error), timeout (FEATURE_STORE_TIMEOUT_MS), breaker-open.' }),
      duration: meter.createHistogram(METRIC.featureStoreLookupDuration, { description: 'Time of one batch lookup in the feature store (failed ones included; breaker-open ones are not timed).', unit: 's', advice: { explicitBucketBoundaries: STAGE_BUCKETS } }),
    };
    for (const result of ['ok', 'error', 'timeout', 'breaker-open']) this.store.lookups.add(0, { result });
    for (const kind of ['error', 'timeout', 'breaker-open']) this.store.errors.add(0, { kind });
    this.store.keys.add(0);
    this.store.hits.add(0);
    this.store.misses.add(0);
    meter.createObservableGauge(METRIC.featureStoreBreakerState, { description: 'Circuit breaker in front of the feature store: 0 closed (lookups go to the store), 1 half-open (one probe lookup), 2 open (lookups fail at once).', valueType: ValueType.INT }).addCallback((result) => {
      result.observe(this.breaker === 'closed' ? 0 : this.breaker === 'half-open' ? 1 : 2);
    });
    this.batchSizes = meter.createHistogram(METRIC.batchSize, { description: 'Events per Kafka batch.', valueType: ValueType.INT, advice: { explicitBucketBoundaries: BATCH_BUCKETS } });

    meter
      .createObservableCounter(METRIC.unknownCategories, { description: 'Unknown categories, dead-lettered as UNKNOWN_CATEGORY or scored and flagged (unknown: score-and-flag), by column and value (a bounded set of values by name, the rest as "__other__").' })
      .addCallback((result) => {
        for (const { column, value, count } of this.unknown.collect()) result.observe(count, { column, value });
      });
    const lag = meter.createObservableGauge(METRIC.consumerLag, {
      description: 'Records waiting in the partition: its latest known high watermark minus the next offset to process (one past the last record whose outputs were acknowledged). A batch fetched but not written does not reduce it.',
      valueType: ValueType.INT,
    });
    const stalled = meter.createObservableGauge(METRIC.partitionStalled, {
      description: '1 while the partition has records waiting and its processed offset has not moved for PARTITION_STALL_TIMEOUT_MS (/readyz then answers 503), else 0.',
      valueType: ValueType.INT,
    });
    meter.addBatchObservableCallback(
      (result) => {
        for (const state of this.progress?.partitions() ?? []) {
          const attributes = { topic: state.topic, partition: String(state.partition) };
          if (state.lag !== undefined) result.observe(lag, state.lag, attributes);
          result.observe(stalled, state.stalled ? 1 : 0, attributes);
        }
      },
      [lag, stalled],
    );
    meter.createObservableGauge(METRIC.modelInfo, { description: 'The model being served (always 1).' }).addCallback((result) => {
      if (this.model) result.observe(1, { model_name: this.model.name, model_version: this.model.version });
    });
    meter.createObservableGauge(METRIC.ready, { description: '1 when /readyz answers ready: model loaded, consumer group joined, broker reachable.' }).addCallback((result) => {
      result.observe(this.readyState ? 1 : 0);
    });
    this.driftInstruments(meter);
  }

  private driftInstruments(meter: Meter): void {
    const psiGauge = meter.createObservableGauge(METRIC.driftPsi, { description: 'Population stability index against the training profile in the latest evaluated window, by column (column="prediction": the scores).' });
    const rateGauge = meter.createObservableGauge(METRIC.unknownCategoryRate, { description: 'Share of unknown categories in the latest evaluated window, by column.' });
    const active = meter.createObservableGauge(METRIC.driftActive, { description: '1 while the column is drifting on the measure (psi or unknown_rate).' });
    const onset = meter.createObservableGauge(METRIC.driftOnset, { description: 'Start of the first window over the threshold of the current drift episode (only while drifting).', unit: 's' });
    const onsets = meter.createObservableCounter(METRIC.driftOnsets, { description: 'Drift episodes started, by column and measure.' });
    const windows = meter.createObservableCounter(METRIC.driftWindows, { description: 'Event-time windows closed, by whether they had enough events to be evaluated.' });
    const late = meter.createObservableCounter(METRIC.driftLateEvents, { description: 'Events not counted for drift: their window had already been evaluated, or their event time is more than a window ahead of the clock.' });
    const missingGauge = meter.createObservableGauge(METRIC.driftMissingRate, { description: 'Share of null or absent values of a model input (MISSING_FIELD) in the latest evaluated window, by column; compare with the training null rate.' });
    const positiveGauge = meter.createObservableGauge(METRIC.driftPositiveRate, { description: 'Share of scores >= threshold in the latest evaluated window, by decision threshold (DRIFT_POSITIVE_THRESHOLDS).' });
    const meanGauge = meter.createObservableGauge(METRIC.driftMeanScore, { description: 'Mean score in the latest evaluated window.' });
    const shiftGauge = meter.createObservableGauge(METRIC.driftShift, { description: 'Shift of a numeric model input\'s mean in the latest evaluated window, in training standard deviations (signed), by column.' });
    meter.addBatchObservableCallback(
      (result) => {
        const drift = this.drift;
        if (!drift) return;
        for (const state of drift.states()) {
          const attributes: Attributes = { column: state.column, measure: state.measure };
          if (state.current !== undefined) {
            if (state.measure === 'psi') result.observe(psiGauge, state.current, { column: state.column });
            else if (state.measure === 'unknown_rate') result.observe(rateGauge, state.current, { column: state.column });
            else if (state.measure === 'missing_rate') result.observe(missingGauge, state.current, { column: state.column });
            else if (state.measure === 'positive_rate') result.observe(positiveGauge, state.current, { threshold: String(state.cut) });
            else if (state.measure === 'mean_score') result.observe(meanGauge, state.current);
          }
          if (state.shiftSd !== undefined) result.observe(shiftGauge, state.shiftSd, { column: state.column });
          // positive_rate has a series per decision threshold: the threshold is part of the measure's name.
          if (state.cut !== undefined) attributes.measure = `${state.measure}@${state.cut}`;
          result.observe(active, state.drifting ? 1 : 0, attributes);
          if (state.since !== undefined) result.observe(onset, state.since / 1000, attributes);
          result.observe(onsets, state.onsets, attributes);
        }
        const report = drift.windowCounts();
        result.observe(windows, report.evaluated, { result: 'evaluated' });
        result.observe(windows, report.skipped, { result: 'skipped' });
        result.observe(late, drift.lateEvents);
      },
      [psiGauge, rateGauge, active, onset, onsets, windows, late, missingGauge, positiveGauge, meanGauge, shiftGauge],
    );
  }

  setModel(name: string, version: string): void {
    this.model = { name, version };
  }

  recordModelReload(result: 'ok' | 'refused'): void {
    this.modelReloads.add(1, { result });
  }

  /** Shadow scoring is configured: its counters start at zero so rates and alerts have a start. */
  shadowConfigured(): void {
    for (const result of ['agree', 'disagree']) this.shadowAgreement.add(0, { result });
    for (const kind of ['score', 'write']) this.shadowErrors.add(0, { kind });
    this.shadowPredictions.add(0);
  }

  recordShadowError(kind: 'score' | 'write'): void {
    this.shadowErrors.add(1, { kind: kind === 'score' ? 'score' : 'write' });
  }

  /** One shadow batch whose records were acknowledged with the champion's outputs. */
  recordShadow(batch: ShadowWritten): void {
    if (batch.predictions > 0) this.shadowPredictions.add(batch.predictions);
    if (batch.agree > 0) this.shadowAgreement.add(batch.agree, { result: 'agree' });
    if (batch.disagree > 0) this.shadowAgreement.add(batch.disagree, { result: 'disagree' });
    for (const difference of batch.differences) this.differences.record(difference);
    if (batch.rejections.length > 0) {
      const byReason = new Map<string, number>();
      for (const rejection of batch.rejections) byReason.set(rejection.code, (byReason.get(rejection.code) ?? 0) + 1);
      for (const [reason, n] of byReason) this.shadowRejections.add(n, { reason });
    }
    this.shadowDuration.record(batch.scoreSeconds.champion, { model: 'champion' });
    this.shadowDuration.record(batch.scoreSeconds.challenger, { model: 'challenger' });
  }

  setReady(ready: boolean): void {
    this.readyState = ready;
  }

  setDriftMonitor(monitor: DriftMonitor | undefined): void {
    this.drift = monitor;
  }

  /** Lag and stalls per partition come from here (it drops partitions no longer assigned). */
  setPartitionProgress(progress: PartitionProgress): void {
    this.progress = progress;
  }

  /** A batch of the partition was not written and will be retried. */
  /** The online feature store the service looks store features up in: its lookups feed the feature store instruments. */
  attachFeatureStore(store: FeatureStore): void {
    const { lookups, keys, hits, misses, errors, duration } = this.store;
    store.listen({
      lookup: (outcome) => {
        lookups.add(1, { result: outcome.error ?? 'ok' });
        if (outcome.error) errors.add(1, { kind: outcome.error });
        if (outcome.error !== 'breaker-open') {
          keys.add(outcome.keys);
          duration.record(outcome.seconds);
        }
      },
      found: (stats) => {
        hits.add(stats.hits);
        misses.add(stats.misses);
      },
      breaker: (state) => {
        this.breaker = state;
      },
    });
  }

  recordRetry(topic: string, partition: number, failure: RetryCause): void {
    // The label stays bounded even if a caller passes something outside the union.
    this.retries.add(1, { topic, partition: String(partition), failure: FAILURES.has(failure) ? failure : 'other' });
  }

  recordMembershipLost(reason: LostMembershipReason): void {
    this.membershipsLost.add(1, { reason: (LOST_MEMBERSHIP as readonly string[]).includes(reason) ? reason : 'other' });
  }

  /** One batch whose outputs the broker acknowledged at `ackedAt` (epoch ms). */
  recordBatch(messages: readonly SourceMessage[], batch: BatchWritten, ackedAt: number): void {
    const count = messages.length;
    if (count === 0) return;
    const topic = (messages[0] as SourceMessage).topic;
    this.consumed.add(count, { topic });
    this.batches.add(1, { topic });
    if (batch.predictions > 0) this.predictions.add(batch.predictions);
    this.batchSizes.record(count);

    const rejections = batch.rejections;
    if (rejections.length > 0) {
      const byReason = new Map<string, number>();
      const missing = new Map<string, number>();
      for (const rejection of rejections) {
        byReason.set(rejection.code, (byReason.get(rejection.code) ?? 0) + 1);
        if (rejection.code === 'UNKNOWN_CATEGORY' && rejection.field !== undefined) this.unknown.add(rejection.field, rejection.value ?? '');
        else if (rejection.code === 'MISSING_FIELD') missing.set(rejection.field ?? '', (missing.get(rejection.field ?? '') ?? 0) + 1);
      }
      for (const [reason, n] of byReason) this.deadLetters.add(n, { reason });
      for (const [column, n] of missing) this.missingFields.add(n, { column });
    }

    const { stageSeconds, processedAt, chunks } = batch.observation;
    for (const chunk of chunks) {
      const { flags, categorical } = chunk.features;
      for (const [r, reasons] of flags) {
        if (chunk.rowRejections[r]) continue;
        for (const reason of reasons) {
          const [code = reason, column = ''] = reason.split(':', 2);
          this.flagged.add(1, { reason: code, column });
          // Scored or not, an unknown category is the same alarm: it counts with the dead-lettered ones.
          if (code === 'UNKNOWN_CATEGORY') this.unknown.add(column, categorical.get(column)?.[r] ?? '');
        }
      }
    }
    this.stages.record(stageSeconds.decode, { stage: 'decode' });
    this.stages.record(stageSeconds.check, { stage: 'check' });
    this.stages.record(stageSeconds.score, { stage: 'score' });
    this.stages.record(stageSeconds.encode, { stage: 'encode' });
    this.stages.record(Math.max(0, ackedAt - processedAt) / 1000, { stage: 'publish' });

    for (let i = 0; i < count; i += 1) {
      const timestamp = Number((messages[i] as SourceMessage).timestamp);
      if (timestamp > 0) this.latency.record((ackedAt - timestamp) / 1000);
    }
    for (const chunk of chunks) {
      const { rows, scores, rowRejections } = chunk;
      for (let r = 0; r < rows.length; r += 1) {
        if (!rowRejections[r]) this.scores.record(scores[r] as number);
      }
    }
  }

  /** The Prometheus text exposition of every metric. */
  async text(): Promise<string> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw new AggregateError(errors, 'metrics collection failed');
    return this.serializer.serialize(resourceMetrics);
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}
