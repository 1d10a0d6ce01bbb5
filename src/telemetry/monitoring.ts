import type { Config } from '../config/schema';
import { type HealthServer, startHealthServer } from '../health/server';
import { Readiness } from '../health/readiness';
import { createKafka } from '../kafka/client';
import { createBrokerProbe } from '../kafka/probe';
import { DriftMonitor, type DriftEvent, type DriftOptions } from '../monitor/drift';
import { defaultProfilePath, loadProfile } from '../monitor/profile';
import { isoTime } from '../monitor/report';
import { type AttributionResult, type EventScorer, attributeScoreShift } from '../monitor/attribution';
import type { FeaturePlan } from '../features/plan';
import { type DriftStateStore, kafkaStateStore } from '../monitor/state-store';
import type { ReloadOutcome } from '../model/reload';
import type { TrainingProfile } from '../monitor/profile';
import type { Logger } from './logger';
import { ServiceMetrics } from './metrics';
import type { ServiceObserver } from './observer';
import { PartitionProgress, type StallEvent, partitionName } from './partition-progress';

export interface Monitoring {
  readonly observer: ServiceObserver;
  readonly metrics: ServiceMetrics;
  readonly readiness: Readiness;
  /** The drift monitor of the serving model's profile (a new one after a hot swap). */
  readonly drift: DriftMonitor | undefined;
  readonly server: HealthServer;
  /** What POST /admin/reload calls (the service sets it once the model is loaded). */
  setReloader(reload: (() => Promise<ReloadOutcome>) | undefined): void;
  /** Scores events with the serving model: /drift?attribution=1 re-scores a drifting window with it. */
  setScorer(scorer: LiveScorer | undefined): void;
  /** The consumer is leaving its group: no longer ready. */
  stopping(): void;
  close(): Promise<void>;
}

/** The serving model as attribution needs it: its columns, and scores for events. */
export interface LiveScorer {
  plan(): Pick<FeaturePlan, 'columns'>;
  readonly score: EventScorer;
}

export function driftOptions(config: Config): Omit<DriftOptions, 'mode'> {
  return {
    windowMs: config.driftWindowSeconds * 1000,
    minWindowEvents: config.driftMinWindowEvents,
    psiThreshold: config.driftPsiThreshold,
    predictionPsiThreshold: config.driftPredictionPsiThreshold,
    unknownRateThreshold: config.driftUnknownRateThreshold,
    missingRateThreshold: config.driftMissingRateThreshold,
    positiveThresholds: config.driftPositiveThresholds,
    positiveRateChange: config.driftPositiveRateChange,
    meanScoreChange: config.driftMeanScoreChange,
    earlyLookEvents: config.driftEarlyLookEvents,
    eventTimeField: config.eventTimeField,
  };
}

/** One structured log line per drift onset (and one when it ends). */
export function logDriftEvent(logger: Logger, event: DriftEvent): void {
  const fields = {
    event: event.type === 'onset' ? 'drift_onset' : event.type === 'early' ? 'drift_early' : 'drift_cleared',
    column: event.column,
    measure: event.measure,
    ...(event.cut !== undefined ? { threshold_score: event.cut } : {}),
    value: event.value,
    threshold: event.threshold,
    window_start: isoTime(event.windowStart),
    window_end: isoTime(event.windowEnd),
    onset: isoTime(event.onset),
    ...(event.firstSeen !== undefined ? { first_seen: isoTime(event.firstSeen) } : {}),
    ...(event.topValues ? { top_values: event.topValues.map((v) => ({ value: v.value, count: v.count, first_seen: isoTime(v.firstSeen) })) } : {}),
    ...(event.direction ? { direction: event.direction } : {}),
    ...(event.partialEvents !== undefined ? { partial: true, partial_events: event.partialEvents } : {}),
  };
  if (event.type === 'early') logger.warn(fields, `drift (early look, PARTIAL window ${fields.window_start}, ${event.partialEvents} events so far): ${event.column} ${event.measure} ${event.value.toFixed(4)} over ${event.threshold}`);
  else if (event.type === 'onset') logger.warn(fields, `drift: ${event.column} ${event.measure} ${event.value.toFixed(4)} over ${event.threshold} since ${fields.onset}`);
  else logger.info(fields, `drift over: ${event.column} ${event.measure} back to ${event.value.toFixed(4)}`);
}

/** One line when a partition stalls, one when it stalls no more. */
export function logStallEvent(logger: Logger, event: StallEvent): void {
  const name = partitionName(event.topic, event.partition);
  const fields = {
    topic: event.topic,
    partition: event.partition,
    offset: event.offset,
    lag: event.lag,
    since: new Date(event.since).toISOString(),
    stalled_for_ms: event.stalledForMs,
    retries: event.retries,
  };
  const seconds = Math.round(event.stalledForMs / 1000);
  if (event.type === 'stalled') {
    logger.warn({ event: 'partition_stalled', ...fields }, `partition ${name} stalled: no progress past offset ${event.offset} for ${seconds} s with ${event.lag} record(s) waiting (${event.retries} retries)`);
  } else if (event.type === 'recovered') {
    logger.info({ event: 'partition_stall_cleared', reason: 'progress', ...fields }, `partition ${name} progressing again at offset ${event.offset} after ${seconds} s stalled`);
  } else {
    logger.info({ event: 'partition_stall_cleared', reason: 'unassigned', ...fields }, `stalled partition ${name} is no longer assigned to this member`);
  }
}

/**
 * Metrics, readiness, the health server and live drift monitoring, started before the service
 * so /healthz answers while the model loads.
 */
export async function startMonitoring(config: Config, logger: Logger, serviceVersion: string): Promise<Monitoring> {
  const metrics = new ServiceMetrics({
    serviceName: config.serviceName,
    serviceVersion,
    unknownValuesNamed: config.metricsUnknownValues,
  });

  let drift: DriftMonitor | undefined;
  let stateStore: DriftStateStore | undefined;
  const driftLogger = logger.child({ component: 'drift' });
  const monitorDrift = (profile: TrainingProfile | undefined): void => {
    // A fresh monitor: windows and onset history start over with the profile (a hot swap too).
    drift = profile ? new DriftMonitor(profile, { ...driftOptions(config), mode: 'live', sampleEvents: config.driftAttributionSample }) : undefined;
    drift?.onEvent((event) => logDriftEvent(driftLogger, event));
    const monitor = drift;
    monitor?.onWindowClosed(() => stateStore?.save(monitor.snapshot()));
    metrics.setDriftMonitor(drift);
  };
  const profilePath = config.driftProfile ?? defaultProfilePath(config.modelPath);
  if (profilePath) {
    monitorDrift(loadProfile(profilePath));
    logger.info({ profile: profilePath, window_seconds: config.driftWindowSeconds }, 'drift monitoring against the training profile');
    if (config.driftStateTopic && drift) {
      stateStore = kafkaStateStore(createKafka({ brokers: config.kafkaBrokers, clientId: `${config.kafkaClientId}-drift-state`, security: config }, logger), config.driftStateTopic, `${config.groupId}`, driftLogger);
      try {
        const loaded = await stateStore.load();
        const outcome = loaded.state ? drift.restore(loaded.state) : { restored: false, reason: 'no saved state' };
        logger.info({ topic: config.driftStateTopic, records: loaded.records, ms: loaded.ms, restored: outcome.restored, ...(outcome.reason ? { reason: outcome.reason } : {}), ...(loaded.state ? { saved_at: isoTime(loaded.state.savedAt) } : {}) }, outcome.restored ? 'drift episodes and onsets restored from the state topic' : 'drift state not restored: episodes start over');
      } catch (error) {
        logger.warn({ topic: config.driftStateTopic, err: (error as Error).message }, 'drift state could not be read: episodes start over');
      }
    }
  } else {
    logger.warn({ setting: 'DRIFT_PROFILE', model: config.modelPath }, 'no training profile (DRIFT_PROFILE, or profile.json next to the model): drift is not monitored');
  }

  const consumerLogger = logger.child({ component: 'consumer' });
  const progress = new PartitionProgress({ stallTimeoutMs: config.partitionStallTimeoutMs, onEvent: (event) => logStallEvent(consumerLogger, event) });
  metrics.setPartitionProgress(progress);
  // A partition whose handler hangs reports nothing: look for stalls on a clock too, so the
  // warning is logged even when nobody probes /readyz or scrapes /metrics.
  const stallTimer = config.partitionStallTimeoutMs > 0 ? setInterval(() => progress.stalled(), Math.min(5_000, Math.max(250, config.partitionStallTimeoutMs / 4))) : undefined;
  stallTimer?.unref();

  const probe = createBrokerProbe(createKafka({ brokers: config.kafkaBrokers, clientId: `${config.kafkaClientId}-probe`, security: config }, logger));
  const readiness = new Readiness(() => probe.reachable());
  readiness.stalledPartitions = () => progress.stalled();
  let reloader: (() => Promise<ReloadOutcome>) | undefined;
  let scorer: LiveScorer | undefined;
  let attributed: { monitor: DriftMonitor; windowStart: number; result: Promise<AttributionResult | undefined> } | undefined;
  const server = await startHealthServer(
    config.healthHost,
    config.healthPort,
    {
      metrics: () => metrics.text(),
      readiness: async () => {
        const report = await readiness.check();
        metrics.setReady(report.ready);
        return report;
      },
      drift: async ({ attribution }) => {
        const monitor = drift;
        if (!monitor) return undefined;
        const report = monitor.report();
        if (!attribution) return report;
        const kase = monitor.attributionSamples().at(-1);
        if (!kase || !scorer) return report;
        // One re-scoring per drifting window: asked again, the same answer from the cache.
        if (attributed?.monitor !== monitor || attributed.windowStart !== kase.windowStart) {
          const run = scorer;
          attributed = { monitor, windowStart: kase.windowStart, result: attributeScoreShift(kase, run.plan(), run.score) };
        }
        const result = await attributed.result;
        return result ? { ...report, attribution: result } : report;
      },
      ...(config.adminReload
        ? {
            reload: async () => {
              if (!reloader) return { status: 503 as const, body: { error: 'the model is not loaded yet' } };
              const outcome = await reloader();
              return { status: outcome.result === 'ok' ? (200 as const) : (409 as const), body: outcome };
            },
          }
        : {}),
    },
    (error) => logger.warn({ err: error.message }, 'health server request failed'),
  );
  logger.info({ url: server.url, paths: ['/healthz', '/readyz', '/metrics', '/drift', ...(config.adminReload ? ['POST /admin/reload'] : [])] }, 'health and metrics server listening');

  let failures = 0;
  // Never let observation break scoring; say so, but not once per batch.
  const safely = (what: string, record: () => void): void => {
    try {
      record();
    } catch (error) {
      failures += 1;
      if (failures === 1 || failures % 1000 === 0) logger.error({ err: (error as Error).message, failures }, `recording ${what} failed`);
    }
  };
  const observer: ServiceObserver = {
    modelReady(model) {
      readiness.modelLoaded = true;
      metrics.setModel(model.name, model.version);
      const profile = drift?.profile;
      if (profile && (profile.model !== model.name || profile.modelVersion !== model.version)) {
        logger.warn({ profile: profile.source, profile_model: profile.model, profile_version: profile.modelVersion, model: model.name, model_version: model.version }, 'the training profile is for a different model or version: drift is measured against it anyway');
      }
    },
    modelReloaded(outcome, profile) {
      safely('a model reload', () => {
        metrics.recordModelReload(outcome.result);
        readiness.modelReload = {
          last: outcome.result,
          at: outcome.at,
          trigger: outcome.trigger,
          model: outcome.model.name,
          model_version: outcome.model.version,
          ...(outcome.check !== undefined ? { check: outcome.check, file: outcome.file, reason: outcome.reason } : {}),
        };
        if (outcome.result !== 'ok') return;
        metrics.setModel(outcome.model.name, outcome.model.version);
        monitorDrift(profile?.profile);
        if (profile) logger.info({ profile: profile.path, model: outcome.model.name, model_version: outcome.model.version }, 'drift monitoring restarted against the new model\'s training profile (windows and onsets start over)');
        else logger.warn({ model: outcome.model.name, model_version: outcome.model.version }, 'the new model has no training profile: drift is no longer monitored');
      });
    },
    joined(assignment) {
      readiness.consumerJoined = true;
      safely('the assignment', () => progress.assigned(assignment));
    },
    fetched(info) {
      safely('a fetch', () => progress.fetched(info.topic, info.partition, info.highWatermark, info.firstOffset));
    },
    progressed(info) {
      safely('progress', () => progress.progressed(info.topic, info.partition, info.nextOffset, info.highWatermark));
    },
    written(messages, processed) {
      safely('metrics or drift for a batch', () => {
        metrics.recordBatch(messages, { predictions: processed.predictions.length, rejections: processed.rejections, observation: processed.observation }, Date.now());
        const monitor = drift;
        if (monitor) for (const chunk of processed.observation.chunks) monitor.observeChunk(chunk, messages);
      });
    },
    shadowReady(model) {
      safely('shadow scoring', () => {
        metrics.shadowConfigured();
        logger.info({ shadow_model: model.name, shadow_model_version: model.version, shadow_topic: model.topic }, 'shadow scoring: the challenger scores every batch beside the champion');
      });
    },
    shadowWritten(batch) {
      safely('shadow metrics for a batch', () => metrics.recordShadow(batch));
    },
    shadowFailed(kind) {
      safely('a shadow failure', () => metrics.recordShadowError(kind));
    },
    registry(state) {
      readiness.registry = { waiting: state.waiting, ...(state.error !== undefined ? { error: state.error } : {}) };
    },
    featureStoreReady(store, used) {
      safely('the feature store', () => {
        metrics.attachFeatureStore(store);
        readiness.featureStore = { status: () => store.status(), used, waiting: false };
      });
    },
    featureStore(state) {
      if (readiness.featureStore) {
        readiness.featureStore.waiting = state.waiting;
        if (state.error !== undefined) readiness.featureStore.error = state.error;
        else delete readiness.featureStore.error;
      }
    },
    membershipLost(reason) {
      safely('a lost membership', () => metrics.recordMembershipLost(reason));
    },
    retried(topic, partition, failure) {
      safely('a retry', () => {
        metrics.recordRetry(topic, partition, failure);
        progress.retried(topic, partition);
      });
    },
  };

  return {
    observer,
    metrics,
    readiness,
    get drift() {
      return drift;
    },
    server,
    setReloader(reload) {
      reloader = reload;
    },
    setScorer(value) {
      scorer = value;
    },
    stopping() {
      readiness.consumerJoined = false;
    },
    async close() {
      if (stallTimer) clearInterval(stallTimer);
      await stateStore?.close();
      await server.close();
      await probe.close();
      await metrics.shutdown();
    },
  };
}
