import { writeSync } from 'node:fs';
import { trace } from '@opentelemetry/api';
import type { Config } from './config/schema';
import { ServiceError } from './errors';
import { assertTopicsExist, missingTopics } from './kafka/admin';
import { createKafka } from './kafka/client';
import { type BatchConsumer, type BatchContext, type BatchOutcome, startBatchConsumer } from './kafka/consumer';
import { classifyKafkaError } from './kafka/errors';
import { createOutputWriter } from './kafka/output-writer';
import { readContract } from './model/contract';
import { verifyModelFile } from './model/integrity';
import { loadModel } from './model/session';
import { type PipelineDeps, type ProcessedBatch, processBatch } from './pipeline';
import type { SourceMessage } from './records';
import { assertSchemaFitsContract } from './stages/check/schema-fit';
import { createDecoder, loadSchema } from './stages/decode';
import type { Logger } from './telemetry/logger';
import type { ServiceObserver } from './telemetry/observer';
import { spansExported } from './telemetry/span-export';
import { ServiceStats } from './telemetry/stats';

export interface RunningService {
  readonly stats: ServiceStats;
  readonly modelName: string;
  readonly modelVersion: string;
  /** Resolves when the service stopped on request; rejects when it stopped on a fatal error. */
  readonly done: Promise<void>;
  /** Finishes the in-flight batch, commits it, leaves the group and disconnects. */
  stop(): Promise<void>;
}

export const SERVICE_VERSION = '0.1.0';

/** Everything that can be checked without a broker: config, schemas, model contract. */
export async function prepare(config: Config, logger: Logger): Promise<Omit<PipelineDeps, 'tracer'>> {
  const modelSha256 = verifyModelFile(config.modelPath, config.modelSha256);
  const contract = readContract(config.modelPath, { name: config.modelName, version: config.modelVersion });
  const reader = loadSchema(config.inputSchema, 'INPUT_SCHEMA');
  const writer = config.inputWriterSchema ? loadSchema(config.inputWriterSchema, 'INPUT_WRITER_SCHEMA') : undefined;
  const predictionType = loadSchema(config.predictionSchema, 'PREDICTION_SCHEMA');
  assertSchemaFitsContract(reader, contract, `INPUT_SCHEMA=${config.inputSchema}`);
  const model = await loadModel(config.modelPath, contract, {
    intraOpThreads: config.intraOpThreads,
    scoreOutput: config.scoreOutput,
    labelOutput: config.labelOutput,
    positiveClassIndex: config.positiveClassIndex,
  });
  const unchecked = contract.inputs.filter((i) => i.kind === 'categorical' && !i.categories).map((i) => i.name);
  if (unchecked.length > 0) logger.warn({ columns: unchecked }, 'the model graph lists no categories for these columns; unknown values cannot be detected');
  logger.info(
    {
      model: contract.name,
      model_version: contract.version,
      model_sha256: modelSha256,
      model_sha256_pinned: config.modelSha256 !== undefined,
      inputs: contract.inputs.map((i) => ({ name: i.name, kind: i.kind, categories: i.categories?.size })),
    },
    'model contract read from the ONNX graph',
  );
  return {
    decoder: createDecoder(reader, writer, { maxItems: config.decodeMaxItems, maxBytes: config.decodeMaxBytes }),
    model,
    prediction: {
      type: predictionType,
      modelName: contract.name,
      modelVersion: contract.version,
      eventIdField: config.eventIdField,
      eventTimeField: config.eventTimeField,
      positiveClassIndex: config.positiveClassIndex,
    },
    deadLetter: { consumerGroup: config.groupId, modelName: contract.name, modelVersion: contract.version },
    outputTopic: config.outputTopic,
    deadLetterTopic: config.deadLetterTopic,
    maxScoreBatch: config.maxScoreBatch,
  };
}

export async function startService(config: Config, logger: Logger, observer?: ServiceObserver): Promise<RunningService> {
  const prepared = await prepare(config, logger);
  const deps: PipelineDeps = { ...prepared, tracer: trace.getTracer('stream-scorer', SERVICE_VERSION), recordSpans: spansExported() };
  observer?.modelReady({ name: deps.prediction.modelName, version: deps.prediction.modelVersion });
  const stats = new ServiceStats();
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: config.kafkaClientId, security: config }, logger);

  const outputTopics = [
    { topic: config.outputTopic, setting: 'OUTPUT_TOPIC' },
    { topic: config.deadLetterTopic, setting: 'DEAD_LETTER_TOPIC' },
  ];
  await untilBrokerAnswers(() => assertTopicsExist(kafka, [...config.inputTopics.map((topic) => ({ topic, setting: 'INPUT_TOPICS' })), ...outputTopics]), config.startupTimeoutMs, logger);
  const writer = createOutputWriter(kafka, config.processingGuarantee, {
    retries: config.producerRetries,
    consumerGroup: config.groupId,
    transactionalIdPrefix: config.transactionalIdPrefix ?? config.groupId,
    transactionTimeoutMs: config.transactionTimeoutMs,
  });
  const committedOutcome = writer.guarantee === 'exactly-once' ? 'committed' : 'commit';
  const attempts = new Map<string, number>();
  let batchesWritten = 0;

  const handle = async (batch: SourceMessage[], context: BatchContext): Promise<BatchOutcome> => {
    const { topic, partition } = batch[0] as SourceMessage;
    const key = `${topic}:${partition}`;
    let messages = batch;
    let processed: ProcessedBatch | undefined;
    try {
      const committed = await writer.claim(topic, partition);
      if (committed !== undefined) {
        // A previous owner committed past what this consumer fetched: those records are done.
        messages = messages.filter((m) => BigInt(m.offset) >= BigInt(committed));
        if (messages.length < batch.length) logger.info({ topic, partition, skipped: batch.length - messages.length, committed }, 'skipped records a previous owner already committed');
        if (messages.length === 0) return committedOutcome;
      }
      if (config.scoreDelayMs > 0) await pause(config.scoreDelayMs, context);
      processed = await processBatch(deps, messages);
      await context.heartbeat();
      const last = messages[messages.length - 1] as SourceMessage;
      await writer.write(
        { topic, partition, nextOffset: (BigInt(last.offset) + 1n).toString() },
        [
          { topic: config.outputTopic, records: processed.predictions },
          { topic: config.deadLetterTopic, records: processed.deadLetters },
        ],
        () => {
          batchesWritten += 1;
          if (batchesWritten === config.failpointKillBeforeCommit) {
            // Written synchronously: the process dies on the next line, before pino's pipe drains.
            // uncommitted_events: what a restart reads again (this batch and earlier ones whose commit is unanswered).
            const uncommitted = messages.length + context.uncommittedEvents();
            writeSync(2, `${JSON.stringify({ level: 'warn', msg: 'failpoint: SIGKILL between produce and commit', topic, partition, batch: batchesWritten, events: messages.length, uncommitted_events: uncommitted })}\n`);
            process.kill(process.pid, 'SIGKILL');
          }
        },
      );
    } catch (error) {
      processed?.finish(error as Error);
      const failure = classifyKafkaError(error);
      const missing = failure === 'permanent' ? [] : await missingTopics(kafka, outputTopics).catch(() => []);
      if (failure === 'permanent' || missing.length > 0) {
        const first = messages[0];
        throw new ServiceError(
          'OUTPUT_UNWRITABLE',
          `could not write ${processed?.predictions.length ?? 0} prediction(s) to ${config.outputTopic} and ${processed?.deadLetters.length ?? 0} dead-letter record(s) to ${config.deadLetterTopic} for ${topic}[${partition}] offsets ${first?.offset}..${messages[messages.length - 1]?.offset}; nothing from this batch was committed. ${missing.length > 0 ? `Missing topic(s): ${missing.join(', ')}.` : ''} (${(error as Error).message})`,
          { cause: error },
        );
      }
      // Transient (broker away, leader moving) or fenced: never a dead letter. Start over with a
      // fresh producer; the batch is fetched again from its first offset.
      const attempt = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, attempt);
      stats.retries += 1;
      const waitMs = Math.min(config.retryBackoffMaxMs, 200 * 2 ** Math.min(attempt, 16)) * (0.5 + Math.random() / 2);
      logger.warn({ topic, partition, attempt, failure, wait_ms: Math.round(waitMs), error: (error as Error).message }, 'batch not written; retrying it');
      await writer.reset(topic, partition);
      await pause(waitMs, context);
      return 'retry';
    }
    attempts.delete(key);
    processed.finish();
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
        maxWaitMs: config.maxWaitMs,
        sessionTimeoutMs: config.sessionTimeoutMs,
        readCommitted: true,
      },
      handle,
      {
        onJoin: (assignment) => {
          logger.info({ group: config.groupId, assignment: Object.fromEntries(assignment) }, 'joined consumer group');
          void writer.retain(assignment);
          observer?.joined(assignment);
        },
        onCommitFailed: (error, offsets) => {
          logger.warn({ offsets, error: error.message }, 'offset commit failed; records after the last committed offset will be read and written again');
        },
        ...(observer ? { onBatch: (info: Parameters<ServiceObserver['fetched']>[0]) => observer.fetched(info) } : {}),
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
      await consumer.stop();
      await writer.disconnect();
    })();
    return stopping;
  };
  const done = consumer.done.catch(async (error: unknown) => {
    logger.error({ error: (error as Error).message, code: error instanceof ServiceError ? error.code : undefined }, 'scoring stopped');
    await writer.disconnect().catch(() => undefined);
    throw error;
  });
  return { stats, modelName: deps.prediction.modelName, modelVersion: deps.prediction.modelVersion, done, stop };
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

/** Waits up to `ms`, heartbeating so a long wait does not cost the group membership. */
async function pause(ms: number, context: BatchContext): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && context.isRunning()) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, until - Date.now())));
    await context.heartbeat().catch(() => undefined);
  }
}
