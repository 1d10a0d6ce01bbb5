import { trace } from '@opentelemetry/api';
import type { Config } from './config/schema';
import { ServiceError } from './errors';
import { assertTopicsExist } from './kafka/admin';
import { createKafka } from './kafka/client';
import { type BatchConsumer, startBatchConsumer } from './kafka/consumer';
import { type RecordProducer, createRecordProducer } from './kafka/producer';
import { readContract } from './model/contract';
import { loadModel } from './model/session';
import { type PipelineDeps, processBatch } from './pipeline';
import { assertSchemaFitsContract } from './stages/check/schema-fit';
import { createDecoder, loadSchema } from './stages/decode';
import type { Logger } from './telemetry/logger';
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
      inputs: contract.inputs.map((i) => ({ name: i.name, kind: i.kind, categories: i.categories?.size })),
    },
    'model contract read from the ONNX graph',
  );
  return {
    decoder: createDecoder(reader, writer),
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

export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const prepared = await prepare(config, logger);
  const deps: PipelineDeps = { ...prepared, tracer: trace.getTracer('stream-scorer', SERVICE_VERSION) };
  const stats = new ServiceStats();
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: config.kafkaClientId }, logger);

  await assertTopicsExist(kafka, [
    ...config.inputTopics.map((topic) => ({ topic, setting: 'INPUT_TOPICS' })),
    { topic: config.outputTopic, setting: 'OUTPUT_TOPIC' },
    { topic: config.deadLetterTopic, setting: 'DEAD_LETTER_TOPIC' },
  ]);
  const producer: RecordProducer = await createRecordProducer(kafka, { retries: config.producerRetries });

  const handle = async (messages: Parameters<typeof processBatch>[1], heartbeat: () => Promise<void>): Promise<void> => {
    const processed = await processBatch(deps, messages);
    await heartbeat();
    try {
      await producer.send([
        { topic: config.outputTopic, records: processed.predictions },
        { topic: config.deadLetterTopic, records: processed.deadLetters },
      ]);
    } catch (error) {
      processed.finish(error as Error);
      const first = messages[0];
      throw new ServiceError(
        'OUTPUT_UNWRITABLE',
        `could not write ${processed.predictions.length} prediction(s) to ${config.outputTopic} and ${processed.deadLetters.length} dead-letter record(s) to ${config.deadLetterTopic} for ${first?.topic}[${first?.partition}] offsets ${first?.offset}..${messages[messages.length - 1]?.offset}; nothing from this batch was committed (${(error as Error).message})`,
        { cause: error },
      );
    }
    processed.finish();
    stats.record(messages.length, processed.predictions.length, processed.rejections);
    logger.debug({ topic: messages[0]?.topic, partition: messages[0]?.partition, events: messages.length, predictions: processed.predictions.length, dead_letters: processed.deadLetters.length }, 'batch committed');
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
      },
      handle,
      () => logger.info({ group: config.groupId }, 'joined consumer group'),
    );
  } catch (error) {
    await producer.disconnect();
    throw error;
  }
  logger.info({ input: config.inputTopics, output: config.outputTopic, dead_letter: config.deadLetterTopic, group: config.groupId }, 'scoring');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await consumer.stop();
      await producer.disconnect();
    })();
    return stopping;
  };
  const done = consumer.done.catch(async (error: unknown) => {
    await producer.disconnect().catch(() => undefined);
    throw error;
  });
  return { stats, modelName: deps.prediction.modelName, modelVersion: deps.prediction.modelVersion, done, stop };
}
