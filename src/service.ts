import { writeSync } from 'node:fs';
import type avro from 'avsc';
import { trace } from '@opentelemetry/api';
import type { Config } from './config/schema';
import { DefectAttempts, describeError, isolateDefects } from './defects';
import { ServiceError } from './errors';
import { failpointsFrom } from './failpoints';
import { assertTopicsExist, missingTopics, topicMaxMessageBytes } from './kafka/admin';
import { createKafka } from './kafka/client';
import { type BatchConsumer, type BatchContext, type BatchOutcome, startBatchConsumer } from './kafka/consumer';
import { classifyKafkaError } from './kafka/errors';
import { createOutputWriter } from './kafka/output-writer';
import { readContract } from './model/contract';
import { verifyModelFile } from './model/integrity';
import { type ModelLease, ModelHolder, ModelReloader, type ReloadOutcome, type ReloadTrigger, type ServingModel, loadCandidate, profilePathFor } from './model/reload';
import { loadModel } from './model/session';
import { type ShadowBatch, ShadowScorer, loadShadowModel, shadowDeps } from './model/shadow';
import { type ModelWatcher, modelFiles, watchModel } from './model/watch';
import { type FeatureStore, isFeatureStoreUnavailable } from './features/store/lookup';
import { createFeatureStore } from './features/store/redis';
import { type PipelineDeps, type ProcessedBatch, processBatch } from './pipeline';
import type { SourceMessage } from './records';
import { type EventFieldSamples, assertPredictionSchemaFits, checkEventFields, readSchemaJson } from './stages/check/prediction-fit';
import { assertSchemaFitsContract } from './stages/check/schema-fit';
import { type InputEvent, loadSchema, prepareDecoder } from './stages/decode';
import { modelScorer } from './monitor/attribution';
import type { FeaturePlan } from './features/plan';
import { inputDecoder } from './formats/input';
import { type Registry, createRegistry, isRegistryUnavailable, registrySettings } from './formats/registry';
import { checkInputSubjects, describeInputSubject, predictionSchemaId, untilRegistryAnswers } from './formats/subjects';
import type { Logger } from './telemetry/logger';
import type { ServiceObserver } from './telemetry/observer';
import { spansExported } from './telemetry/span-export';
import { ServiceStats } from './telemetry/stats';
import { PartitionWaits, waitBackoffMs } from './waits';

export interface RunningService {
  readonly stats: ServiceStats;
  /** The model serving now (it changes on a hot swap). */
  readonly modelName: string;
  readonly modelVersion: string;
  /**
   * Loads MODEL_PATH as it is on disk now beside the serving model, checks it, and swaps it in
   * between batches; a refused one leaves the serving model in place. See docs/model-lifecycle.md.
   */
  reload(trigger: ReloadTrigger): Promise<ReloadOutcome>;
  /** Resolves when the service stopped on request; rejects when it stopped on a fatal error. */
  readonly done: Promise<void>;
  /** Finishes the in-flight batch, commits it, leaves the group and disconnects. */
  stop(): Promise<void>;
  /** Scores events with the serving model, outside any batch (drift attribution); NaN where one is rejected. */
  scoreEvents(events: readonly InputEvent[]): Promise<Float64Array>;
  /** The serving model's feature plan (which event field feeds which column). */
  readonly featurePlan: FeaturePlan;
}

export const SERVICE_VERSION = '0.1.0';

/** Everything that can be checked without a broker: config, schemas, model contract. */
export interface Prepared extends Omit<PipelineDeps, 'tracer'> {
  readonly registry: Registry | undefined;
  /** What a hot-swap candidate is checked against, read once at start-up. */
  readonly reader: avro.Type;
  readonly eventFields: EventFieldSamples;
  readonly modelSha256: string;
  /** The online feature store (connected on first use); `store` of PipelineDeps. */
  readonly store: FeatureStore;
}

export async function prepare(config: Config, logger: Logger): Promise<Prepared> {
  const modelSha256 = verifyModelFile(config.modelPath, config.modelSha256);
  const contract = readContract(config.modelPath, { name: config.modelName, version: config.modelVersion, manifestPath: config.modelManifest });
  const reader = loadSchema(config.inputSchema, 'INPUT_SCHEMA');
  const predictionType = loadSchema(config.predictionSchema, 'PREDICTION_SCHEMA');
  assertSchemaFitsContract(reader, contract.features, `INPUT_SCHEMA=${config.inputSchema}`);
  const eventFields = checkEventFields(readSchemaJson(config.inputSchema, 'INPUT_SCHEMA'), config, `INPUT_SCHEMA=${config.inputSchema}`);
  const model = await loadModel(contract, {
    intraOpThreads: config.intraOpThreads,
    scoreOutput: config.scoreOutput,
    labelOutput: config.labelOutput,
    positiveClassIndex: config.positiveClassIndex,
    warn: (message) => logger.warn({ model: contract.name }, message),
  });
  const settings = registrySettings(config);
  const registry = settings ? createRegistry(settings) : undefined;
  const required = contract.features.eventPaths;
  if (registry && config.inputFormat === 'confluent') {
    for (const report of await untilRegistryAnswers(() => checkInputSubjects(registry, config, reader, required), config.startupTimeoutMs, logger)) {
      const { ok, text } = describeInputSubject(report);
      if (ok) logger.info({ subject: report.subject, schema_id: report.latestId }, text);
      else logger.error({ subject: report.subject, schema_id: report.latestId }, text);
    }
  }
  let schemaId: number | undefined;
  if (registry && config.outputFormat === 'confluent') {
    const registered = await untilRegistryAnswers(() => predictionSchemaId(registry, config, predictionType, readSchemaJson(config.predictionSchema, 'PREDICTION_SCHEMA')), config.startupTimeoutMs, logger);
    schemaId = registered.id;
    logger.info({ subject: registered.subject, schema_id: registered.id }, 'predictions are written in the Confluent wire format');
  }
  const prediction = {
    type: predictionType,
    modelName: contract.name,
    modelVersion: contract.version,
    eventIdField: config.eventIdField,
    eventTimeField: config.eventTimeField,
    classes: model.output.kind === 'regressor' ? [] : model.output.classes,
    ...(schemaId !== undefined ? { schemaId } : {}),
  };
  assertPredictionSchemaFits(prediction, eventFields, { topics: config.inputTopics }, `PREDICTION_SCHEMA=${config.predictionSchema}`);
  const unchecked = contract.inputs.filter((i) => i.kind === 'categorical' && !i.categories).map((i) => i.name);
  if (unchecked.length > 0) logger.warn({ columns: unchecked }, 'neither the model graph nor the manifest lists the categories of these columns; unknown values cannot be detected');
  if (contract.versionFrom === 'file hash') {
    logger.warn({ model: contract.name, model_version: contract.version }, 'the model has no version (manifest version, MODEL_VERSION or ONNX metadata model_version): predictions carry the hash of the file instead');
  }
  logger.info(
    {
      model: contract.name,
      model_version: contract.version,
      model_sha256: modelSha256,
      model_sha256_pinned: config.modelSha256 !== undefined,
      manifest: contract.manifestPath,
      inputs: contract.inputs.map((i) => ({ name: i.name, kind: i.kind, categories: i.categories?.size })),
      output: { kind: model.output.kind, scores: model.output.scores, classes: model.output.classes, positive_class: model.output.classes[model.output.positive] },
    },
    'model contract read from the ONNX graph',
  );
  let storeErrors = 0;
  const store = createFeatureStore(config, (error) => {
    // ioredis reports every failed reconnect: the first, then one in a hundred.
    storeErrors += 1;
    if (storeErrors === 1 || storeErrors % 100 === 0) logger.warn({ feature_store: config.featureStoreAddress, error: error.message, errors: storeErrors }, 'feature store connection error');
  });
  if (contract.features.store.features.length > 0) {
    logger.info({ feature_store: config.featureStoreAddress, features: contract.features.store.features.map((f) => ({ name: f.name, key: f.key.text, field: f.hashField, unavailable: f.unavailable, missing: f.missing })) }, 'the model reads features from the online feature store');
  }
  return {
    store,
    decoder: inputDecoder(config, { ...(registry ? { registry } : {}), required }),
    registry,
    reader,
    eventFields,
    modelSha256,
    model,
    prediction,
    deadLetter: { consumerGroup: config.groupId, modelName: contract.name, modelVersion: contract.version },
    outputTopic: config.outputTopic,
    deadLetterTopic: config.deadLetterTopic,
    maxScoreBatch: config.maxScoreBatch,
  };
}

export async function startService(config: Config, logger: Logger, observer?: ServiceObserver): Promise<RunningService> {
  const prepared = await prepare(config, logger);
  observer?.modelReady({ name: prepared.prediction.modelName, version: prepared.prediction.modelVersion });

  const stats = new ServiceStats();
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: config.kafkaClientId, security: config }, logger);

  const outputTopics = [
    { topic: config.outputTopic, setting: 'OUTPUT_TOPIC' },
    { topic: config.deadLetterTopic, setting: 'DEAD_LETTER_TOPIC' },
  ];
  await untilBrokerAnswers(() => assertTopicsExist(kafka, [...config.inputTopics.map((topic) => ({ topic, setting: 'INPUT_TOPICS' })), ...outputTopics]), config.startupTimeoutMs, logger);
  // A dead letter bigger than its topic accepts is refused for good: they are cut to this size.
  // The input topics' limit bounds what one event may declare (decode bounds).
  const limits = await topicMaxMessageBytes(kafka, [config.outputTopic, config.deadLetterTopic, ...config.inputTopics]);
  for (const { topic, maxMessageBytes, error } of limits) {
    if (error) logger.warn({ topic, max_message_bytes: maxMessageBytes, error }, 'could not read the max.message.bytes of a topic; assuming the broker default');
    else logger.info({ topic, max_message_bytes: maxMessageBytes }, 'topic record size limit');
  }
  const outputLimits = limits.filter((l) => l.topic === config.outputTopic || l.topic === config.deadLetterTopic);
  const inputLimit = Math.max(...limits.filter((l) => config.inputTopics.includes(l.topic)).map((l) => l.maxMessageBytes));
  const decoderFor = (required: readonly (readonly string[])[]) => inputDecoder(config, { maxMessageBytes: inputLimit, ...(prepared.registry ? { registry: prepared.registry } : {}), required });
  const deps: PipelineDeps = {
    ...prepared,
    decoder: config.decodeMaxItems !== undefined && config.decodeMaxBytes !== undefined ? prepared.decoder : decoderFor(prepared.model.contract.features.eventPaths),
    deadLetter: { ...prepared.deadLetter, maxRecordBytes: limits.find((l) => l.topic === config.deadLetterTopic)?.maxMessageBytes },
    tracer: trace.getTracer('stream-scorer', SERVICE_VERSION),
    recordSpans: spansExported(),
    failpoints: failpointsFrom(config),
  };
  // The serving model, its prediction and dead-letter contexts and decoder: read once per batch
  // (handle leases it), replaced between batches by a hot swap.
  const profilePath = profilePathFor(config);
  const holder = new ModelHolder(
    { model: deps.model, prediction: deps.prediction, deadLetter: deps.deadLetter, decoder: deps.decoder, sha256: prepared.modelSha256, profile: undefined },
    (error, serving) => logger.warn({ model: serving.prediction.modelName, model_version: serving.prediction.modelVersion, error: error.message }, 'releasing the swapped-out onnxruntime session failed'),
  );
  /**
   * Shadow scoring (SHADOW_MODEL_PATH): the challenger is loaded and checked like the champion; a
   * refused one stops start-up. A missing SHADOW_TOPIC only switches shadow output off.
   */
  async function startShadow(): Promise<ShadowScorer | undefined> {
    if (config.shadowModelPath === undefined || config.shadowTopic === undefined) return undefined;
    const serving = await loadShadowModel(config, {
      reader: prepared.reader,
      eventFields: prepared.eventFields,
      current: holder.current,
      decoderFor,
      warn: (message) => logger.warn({ shadow_model_path: config.shadowModelPath }, `challenger: ${message}`),
    });
    const scorer = new ShadowScorer(shadowDeps(deps, serving, config.shadowTopic), {
      tolerance: config.shadowAgreementTolerance,
      throwEvery: config.failpointShadowThrowEvery,
      logger,
      onError: (kind) => observer?.shadowFailed?.(kind),
    });
    observer?.shadowReady?.({ ...scorer.model, topic: scorer.topic });
    const missing = await missingTopics(kafka, [{ topic: config.shadowTopic, setting: 'SHADOW_TOPIC' }]).catch((error: unknown) => {
      logger.warn({ shadow_topic: config.shadowTopic, error: (error as Error).message }, 'could not check that SHADOW_TOPIC exists; a write failure will tell');
      return [];
    });
    if (missing.length > 0) scorer.disable(`${missing.join(', ')} does not exist`);
    shadowSession = serving;
    return scorer;
  }
  let shadowSession: ServingModel | undefined;
  const shadow = await startShadow();
  observer?.featureStoreReady?.(prepared.store, () => holder.current.model.contract.features.store.features.length > 0 || (shadowSession?.model.contract.features.store.features.length ?? 0) > 0);
  const batchDeps = (serving: ServingModel): PipelineDeps => ({ ...deps, model: serving.model, prediction: serving.prediction, deadLetter: serving.deadLetter, decoder: serving.decoder });
  let watcher: ModelWatcher | undefined;
  const reloader = new ModelReloader(
    holder,
    (current) =>
      loadCandidate({
        config,
        reader: prepared.reader,
        eventFields: prepared.eventFields,
        current,
        decoderFor,
        warn: (message) => logger.warn({ model_path: config.modelPath }, `reload candidate: ${message}`),
      }),
    (outcome, serving) => {
      watcher?.accept();
      if (outcome.result === 'ok') {
        logger.info(
          { event: 'model_reload', result: 'ok', trigger: outcome.trigger, model: outcome.model.name, model_version: outcome.model.version, model_sha256: outcome.model.sha256, previous_version: outcome.previous?.version, profile: serving.profile?.path },
          `model ${outcome.model.name} ${outcome.model.version} swapped in for ${outcome.previous?.version}: batches from now on are scored by it`,
        );
        if (outcome.previous && outcome.previous.version === outcome.model.version && outcome.previous.sha256 !== outcome.model.sha256) {
          logger.warn(
            { model: outcome.model.name, model_version: outcome.model.version, model_sha256: outcome.model.sha256, previous_sha256: outcome.previous.sha256, version_from: serving.model.contract.versionFrom },
            'the new model file has the same version as the old one: predictions cannot tell them apart (give the new model a new version in its manifest, or unset MODEL_VERSION)',
          );
        }
      } else {
        logger.error(
          { event: 'model_reload', result: 'refused', trigger: outcome.trigger, check: outcome.check, file: outcome.file, reason: outcome.reason, model: outcome.model.name, model_version: outcome.model.version },
          `new model refused by the ${outcome.check} check (${outcome.file}): ${outcome.model.name} ${outcome.model.version} keeps serving`,
        );
      }
      observer?.modelReloaded?.(outcome, serving.profile);
    },
  );
  if (config.modelReloadWatch || config.modelReloadPollMs > 0) {
    watcher = watchModel({
      modelPath: config.modelPath,
      companions: modelFiles(config.modelPath, config.modelManifest, profilePath),
      watch: config.modelReloadWatch,
      pollMs: config.modelReloadPollMs,
      debounceMs: config.modelReloadDebounceMs,
      onChange: (how) => {
        void reloader.reload(how);
      },
      onError: (error) => logger.warn({ model_path: config.modelPath, error: error.message }, 'watching the model folder failed; SIGHUP or POST /admin/reload still reload it'),
    });
  }
  const writer = createOutputWriter(kafka, config.processingGuarantee, {
    retries: config.producerRetries,
    consumerGroup: config.groupId,
    transactionalIdPrefix: config.transactionalIdPrefix ?? config.groupId,
    transactionTimeoutMs: config.transactionTimeoutMs,
    maxMessageBytes: Math.min(...outputLimits.map((l) => l.maxMessageBytes)),
  });
  const committedOutcome = writer.guarantee === 'exactly-once' ? 'committed' : 'commit';
  const attempts = new Map<string, number>();
  const defects = new DefectAttempts(config.defectMaxAttempts);
  let batchesWritten = 0;
  // Events of the batches being written right now (one per partition handled at once).
  let eventsBeingWritten = 0;

  const registryWaits = new PartitionWaits();
  /**
   * Fetches the writer schemas the batch names and has not seen. An unavailable registry is not
   * the events' fault: the batch waits (backoff, nothing dead-lettered or committed) and is
   * fetched again; ids already cached keep flowing on other batches meanwhile.
   */
  const writerSchemasReady = async (current: PipelineDeps, messages: readonly SourceMessage[], context: BatchContext): Promise<boolean> => {
    const { topic, partition } = messages[0] as SourceMessage;
    try {
      await prepareDecoder(current.decoder, messages.map((m) => m.value));
    } catch (error) {
      if (!isRegistryUnavailable(error)) throw error;
      const attempt = registryWaits.failed(topic, partition);
      stats.retries += 1;
      observer?.retried(topic, partition, 'registry');
      observer?.registry({ waiting: true, error: error.message });
      const waitMs = waitBackoffMs(attempt, config.retryBackoffMaxMs);
      logger.warn({ topic, partition, attempt, wait_ms: Math.round(waitMs), registry: error.url, error: error.message }, 'schema registry unavailable: the batch waits and is retried (nothing dead-lettered, nothing committed past it)');
      await pause(waitMs, context);
      return false;
    }
    registryBack(registryWaits.succeeded(topic, partition));
    return true;
  };
  const registryBack = (recovered: { attempts: number } | undefined): void => {
    if (!recovered) return;
    logger.info({ attempts: recovered.attempts }, 'schema registry available again');
    observer?.registry({ waiting: false });
  };

  const storeWaits = new PartitionWaits();
  /**
   * A feature whose policy is `unavailable: wait` could not be looked up: as with the schema
   * registry, not the events' fault. The batch waits (backoff, nothing dead-lettered or
   * committed) and is fetched again; the circuit breaker makes the attempts meanwhile cheap.
   */
  const storeWait = async (messages: readonly SourceMessage[], error: Error, context: BatchContext): Promise<void> => {
    const { topic, partition } = messages[0] as SourceMessage;
    const attempt = storeWaits.failed(topic, partition);
    stats.retries += 1;
    observer?.retried(topic, partition, 'feature-store');
    observer?.featureStore?.({ waiting: true, error: error.message });
    const waitMs = waitBackoffMs(attempt, config.retryBackoffMaxMs);
    logger.warn({ topic, partition, attempt, wait_ms: Math.round(waitMs), feature_store: config.featureStoreAddress, error: error.message }, 'feature store unavailable: the batch waits and is retried (nothing dead-lettered, nothing committed past it)');
    await pause(waitMs, context);
  };

  const storeBack = (recovered: { attempts: number } | undefined): void => {
    if (!recovered) return;
    logger.info({ attempts: recovered.attempts }, 'feature store available again');
    observer?.featureStore?.({ waiting: false });
  };

  /**
   * A write that carried shadow records failed. Shadow output is switched off (and the batch
   * retried with the champion's outputs only) when the failure may be the shadow topic's: a
   * permanent error or a defect (the champion's own outputs are then tried alone, and fail alone
   * if they are at fault), a missing SHADOW_TOPIC, or the SHADOW_MAX_FAILED_WRITES-th transient
   * failure in a row of one partition's batch. True: switched off, retry at once.
   */
  const shadowAttempts = new Map<string, number>();
  const SHADOW_MAX_FAILED_WRITES = 3;
  async function shadowAtFault(failure: ReturnType<typeof classifyKafkaError>, key: string, error: unknown): Promise<boolean> {
    if (!shadow) return false;
    const shadowTopic = shadow.topic;
    const missing = await missingTopics(kafka, [{ topic: shadowTopic, setting: 'SHADOW_TOPIC' }]).catch(() => []);
    let reason: string | undefined;
    if (missing.length > 0) reason = `${missing.join(', ')} does not exist`;
    else if (failure === 'permanent' || failure === 'defect') reason = `a write carrying shadow records failed (${failure})`;
    else {
      const attempt = (shadowAttempts.get(key) ?? 0) + 1;
      shadowAttempts.set(key, attempt);
      if (attempt >= SHADOW_MAX_FAILED_WRITES) reason = `${attempt} writes in a row carrying shadow records failed (${failure})`;
    }
    if (reason === undefined) return false;
    shadowAttempts.clear();
    shadow.disable(reason, error);
    return true;
  }

  const handle = async (batch: SourceMessage[], context: BatchContext): Promise<BatchOutcome> => {
    const { topic, partition } = batch[0] as SourceMessage;
    const key = `${topic}:${partition}`;
    let messages = batch;
    let processed: ProcessedBatch | undefined;
    let lease: ModelLease | undefined;
    let shadowBatch: ShadowBatch | undefined;
    let shadowCarried = false;
    try {
      const committed = await writer.claim(topic, partition);
      if (committed !== undefined) {
        // A previous owner committed past what this consumer fetched: those records are done.
        messages = messages.filter((m) => BigInt(m.offset) >= BigInt(committed));
        if (messages.length < batch.length) logger.info({ topic, partition, skipped: batch.length - messages.length, committed }, 'skipped records a previous owner already committed');
        if (messages.length === 0) return committedOutcome;
      }
      if (config.scoreDelayMs > 0) await pause(config.scoreDelayMs, context);
      // The model is read once per batch: a swap takes effect between batches, never within one.
      lease = holder.acquire();
      const current = batchDeps(lease.serving);
      if (current.decoder.framed && !(await writerSchemasReady(current, messages, context))) return 'retry';
      try {
        processed = await processBatch(current, messages);
      } catch (defect) {
        if (isRegistryUnavailable(defect)) throw defect;
        if (isFeatureStoreUnavailable(defect)) {
          await storeWait(messages, defect, context);
          return 'retry';
        }
        try {
          processed = await isolate(current, messages, defect, logger);
        } catch (isolating) {
          // The store went away while a defect was being isolated: the batch waits whole.
          if (!isFeatureStoreUnavailable(isolating)) throw isolating;
          await storeWait(messages, isolating, context);
          return 'retry';
        }
      }
      storeBack(storeWaits.succeeded(topic, partition));
      // Scored: the session is no longer needed by this batch (a swapped-out one may be released).
      lease.release();
      // The challenger scores the same messages; it never throws, and decides nothing.
      if (shadow?.enabled) shadowBatch = await shadow.score(messages, processed);
      await context.heartbeat();
      // Scoring takes time, and the process may have been frozen: if the group has given the
      // partition to another member meanwhile, writing now would only make duplicates.
      if (!(await context.owned())) {
        processed.finish(new Error('partition lost before its outputs were written'));
        return 'retry';
      }
      const last = messages[messages.length - 1] as SourceMessage;
      const outputs = [
        { topic: config.outputTopic, records: processed.predictions },
        { topic: config.deadLetterTopic, records: processed.deadLetters },
      ];
      // Shadow records go with the batch (same transaction in exactly-once), so a commit never
      // leaves them behind; a write failure they may cause switches them off (below).
      if (shadowBatch && shadow?.enabled && shadowBatch.processed.predictions.length > 0) {
        outputs.push({ topic: shadow.topic, records: shadowBatch.processed.predictions });
        shadowCarried = true;
      }
      eventsBeingWritten += messages.length;
      try {
        await writer.write(
          { topic, partition, nextOffset: (BigInt(last.offset) + 1n).toString() },
          outputs,
          () => {
            batchesWritten += 1;
            if (batchesWritten === config.failpointKillBeforeCommit) {
              // Written synchronously: the process dies on the next line, before pino's pipe drains.
              // uncommitted_events: what a restart reads again (the batches being written, this one
              // included, and earlier ones whose commit is unanswered).
              const uncommitted = eventsBeingWritten + context.uncommittedEvents();
              writeSync(2, `${JSON.stringify({ level: 'warn', msg: 'failpoint: SIGKILL between produce and commit', topic, partition, batch: batchesWritten, events: messages.length, uncommitted_events: uncommitted })}\n`);
              process.kill(process.pid, 'SIGKILL');
            }
          },
        );
      } finally {
        eventsBeingWritten -= messages.length;
      }
    } catch (error) {
      processed?.finish(error as Error);
      shadowBatch?.processed.finish(error as Error);
      const failure = classifyKafkaError(error);
      if (shadow && shadowCarried && (await shadowAtFault(failure, key, error))) {
        // The champion's outputs are tried again without the challenger's.
        stats.retries += 1;
        observer?.retried(topic, partition, failure);
        await writer.reset(topic, partition);
        return 'retry';
      }
      const missing = failure === 'permanent' ? [] : await missingTopics(kafka, outputTopics).catch(() => []);
      if (failure === 'permanent' || missing.length > 0) {
        const first = messages[0];
        throw new ServiceError(
          'OUTPUT_UNWRITABLE',
          `could not write ${processed?.predictions.length ?? 0} prediction(s) to ${config.outputTopic} and ${processed?.deadLetters.length ?? 0} dead-letter record(s) to ${config.deadLetterTopic} for ${topic}[${partition}] offsets ${first?.offset}..${messages[messages.length - 1]?.offset}; nothing from this batch was committed. ${missing.length > 0 ? `Missing topic(s): ${missing.join(', ')}.` : ''} (${(error as Error).message})`,
          { cause: error },
        );
      }
      if (failure === 'defect') {
        // Not the broker: a few more attempts (a fresh producer clears a client left in a bad
        // state), then a stop that names the batch, rather than a partition blocked in silence.
        const { attempt, stop } = defects.failed(messages, error);
        if (stop) throw stop;
        const waitMs = Math.min(config.retryBackoffMaxMs, 200 * 2 ** attempt);
        logger.error(
          { topic, partition, offsets: `${messages[0]?.offset}..${messages[messages.length - 1]?.offset}`, attempt, max_attempts: config.defectMaxAttempts, error: describeError(error), stack: stackFrames(error) },
          'batch failed with an error that is not a broker or network error (a defect); retrying it, and stopping after DEFECT_MAX_ATTEMPTS',
        );
        await writer.reset(topic, partition);
        await pause(waitMs, context);
        return 'retry';
      }
      // Transient (broker away, leader moving) or fenced: never a dead letter. Start over with a
      // fresh producer; the batch is fetched again from its first offset.
      const attempt = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, attempt);
      stats.retries += 1;
      observer?.retried(topic, partition, failure);
      const waitMs = Math.min(config.retryBackoffMaxMs, 200 * 2 ** Math.min(attempt, 16)) * (0.5 + Math.random() / 2);
      logger.warn({ topic, partition, attempt, failure, wait_ms: Math.round(waitMs), error: (error as Error).message }, 'batch not written; retrying it');
      await writer.reset(topic, partition);
      await pause(waitMs, context);
      return 'retry';
    } finally {
      lease?.release();
    }
    attempts.delete(key);
    shadowAttempts.delete(key);
    processed.finish();
    if (shadowBatch) {
      shadowBatch.processed.finish();
      if (shadowCarried) {
        const { comparison, processed: shadowed, scoreSeconds } = shadowBatch;
        observer?.shadowWritten?.({ predictions: shadowed.predictions.length, agree: comparison.agree, disagree: comparison.disagree, differences: comparison.differences, rejections: shadowed.rejections, scoreSeconds });
      }
    }
    observer?.written(messages, processed);
    stats.record(messages.length, processed.predictions.length, processed.rejections);
    logger.debug({ topic, partition, events: messages.length, predictions: processed.predictions.length, dead_letters: processed.deadLetters.length }, 'batch written');
    return committedOutcome;
  };

  let consumer: BatchConsumer;
  try {
    consumer = await startBatchConsumer(
      kafka,
      {
        groupId: config.groupId,
        topics: config.inputTopics,
        fromBeginning: config.startFrom === 'earliest',
        maxBytesPerPartition: config.maxBytesPerPartition,
        ...(config.maxBytesPerFetch === undefined ? {} : { maxBytesPerFetch: config.maxBytesPerFetch }),
        maxWaitMs: config.maxWaitMs,
        partitionsConcurrently: config.partitionsConcurrently,
        sessionTimeoutMs: config.sessionTimeoutMs,
        readCommitted: true,
        confirmMembershipByCommit: writer.guarantee === 'at-least-once',
      },
      handle,
      {
        onJoin: (assignment) => {
          logger.info({ group: config.groupId, assignment: Object.fromEntries(assignment) }, 'joined consumer group');
          void writer.retain(assignment);
          // A batch that waited for the registry or the store on a partition now gone waits no more.
          registryBack(registryWaits.retain(assignment));
          storeBack(storeWaits.retain(assignment));
          observer?.joined(assignment);
        },
        onCommitFailed: (error, offsets) => {
          logger.warn({ offsets, error: error.message }, 'offset commit failed; records after the last committed offset will be read and written again');
        },
        onMembershipLost: ({ reason, error, partitions, uncommittedEvents }) => {
          logger.warn(
            { group: config.groupId, reason, error: error.message, partitions: Object.fromEntries(partitions), uncommitted_events: uncommittedEvents },
            'the consumer lost its group membership: it stops writing these partitions, drops the batches fetched for them and joins the group again; their next owner reads the uncommitted events again',
          );
          observer?.membershipLost(reason);
        },
        ...(config.failpointStopOnHeartbeat !== undefined ? { onHeartbeat: stopOnHeartbeat(config.failpointStopOnHeartbeat) } : {}),
        ...(observer ? { onBatch: (info: Parameters<ServiceObserver['fetched']>[0]) => observer.fetched(info), onProgress: (info: Parameters<ServiceObserver['progressed']>[0]) => observer.progressed(info) } : {}),
      },
    );
  } catch (error) {
    await writer.disconnect();
    throw error;
  }
  logger.info({ input: config.inputTopics, output: config.outputTopic, dead_letter: config.deadLetterTopic, group: config.groupId, guarantee: writer.guarantee }, 'scoring');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      watcher?.close();
      await consumer.stop();
      await writer.disconnect();
      await holder.close();
      await shadowSession?.model.session.release().catch(() => undefined);
      await prepared.store.close().catch(() => undefined);
    })();
    return stopping;
  };
  const done = consumer.done.catch(async (error: unknown) => {
    logger.error({ error: (error as Error).message, code: error instanceof ServiceError ? error.code : undefined }, 'scoring stopped');
    await writer.disconnect().catch(() => undefined);
    throw error;
  });
  return {
    stats,
    get modelName() {
      return holder.current.prediction.modelName;
    },
    get modelVersion() {
      return holder.current.prediction.modelVersion;
    },
    reload: (trigger) => reloader.reload(trigger),
    done,
    stop,
    get featurePlan() {
      return holder.current.model.contract.features;
    },
    async scoreEvents(events) {
      // A lease, as a batch takes one: a hot swap does not release the session under it.
      const lease = holder.acquire();
      try {
        return await modelScorer(lease.serving.model)(events);
      } finally {
        lease.release();
      }
    },
  };
}

/**
 * Start-up meets the broker before anything else. A broker that is not there yet (rolling
 * restart, pod scheduled first) is waited for with backoff; a permanent answer (missing topic,
 * not authorized) fails at once.
 */
async function untilBrokerAnswers(check: () => Promise<void>, timeoutMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await check();
      return;
    } catch (error) {
      if (error instanceof ServiceError || classifyKafkaError(error) === 'permanent' || Date.now() > deadline) throw error;
      const waitMs = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
      logger.warn({ attempt, wait_ms: waitMs, error: (error as Error).message }, 'brokers not reachable yet; waiting');
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

/**
 * processBatch threw: a defect, not the broker. Only the record(s) it throws for are
 * dead-lettered (INTERNAL_ERROR), the rest of the batch is scored; said loudly, since the
 * scorer has a bug. Throws when a culprit cannot even be dead-lettered (handled by the caller
 * as a defect it could not isolate).
 */
async function isolate(deps: PipelineDeps, messages: readonly SourceMessage[], defect: unknown, logger: Logger): Promise<ProcessedBatch> {
  const { topic, partition } = messages[0] as SourceMessage;
  const isolated = await isolateDefects(deps, messages, defect);
  const culprits = isolated.culprits.map((c) => c.offset);
  logger.error(
    { topic, partition, events: messages.length, culprits, runs: isolated.runs, error: describeError(defect), stack: stackFrames(defect) },
    culprits.length > 0
      ? 'processing threw (a defect in the scorer): the record(s) it throws for are dead-lettered as INTERNAL_ERROR, the rest of the batch is scored'
      : 'processing threw for the batch but for none of its records alone; the batch is scored in parts',
  );
  return isolated.processed;
}

/**
 * testing (FAILPOINT_STOP_ON_HEARTBEAT): the process freezes itself as the Nth accepted heartbeat
 * arrives, before kafkajs notes the time of that answer. Resumed after the session timeout, it
 * believes for another heartbeat interval that it is still a member: the window issue 17 is about.
 */
function stopOnHeartbeat(n: number): () => void {
  let heartbeats = 0;
  return () => {
    heartbeats += 1;
    if (heartbeats !== n) return;
    writeSync(2, `${JSON.stringify({ level: 'warn', msg: 'failpoint: SIGSTOP on a heartbeat answer', heartbeat: n })}\n`);
    process.kill(process.pid, 'SIGSTOP');
  };
}

/** Where an exception was thrown, without its message (which the log has, capped, already). */
function stackFrames(error: unknown): string | undefined {
  const stack = error instanceof Error ? error.stack : undefined;
  return stack
    ?.split('\n')
    .filter((line) => line.trimStart().startsWith('at '))
    .slice(0, 12)
    .join('\n');
}

/** Waits up to `ms`, heartbeating so a long wait does not cost the group membership. */
async function pause(ms: number, context: BatchContext): Promise<void> {
  const until = Date.now() + ms;
  for (let left = ms; left > 0 && context.isRunning(); left = until - Date.now()) {
    // One reading of the clock per turn: two could put the delay below 0 (Node 24 warns).
    await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, left)));
    await context.heartbeat().catch(() => undefined);
  }
}
