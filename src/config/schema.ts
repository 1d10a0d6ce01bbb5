import { hostPort, int, list, oneOf, type Parser, str, topicName } from './types';

export interface Setting<T> {
  /** Environment variable, also the key in a config file. */
  readonly env: string;
  readonly parser: Parser<T>;
  /** undefined: optional, no value unless set. */
  readonly default?: T;
  readonly doc: string;
}

function setting<T>(env: string, parser: Parser<T>, defaultValue: T, doc: string): Setting<T> & { readonly default: T } {
  return { env, parser, default: defaultValue, doc };
}

function optional<T>(env: string, parser: Parser<T>, doc: string): Setting<T> {
  return { env, parser, doc };
}

/**
 * Every setting the service reads, in one place: its env name, type, default and meaning.
 * Defaults are the demo's: a local broker and the example model in this repository.
 */
export const SETTINGS = {
  kafkaBrokers: setting('KAFKA_BROKERS', list(hostPort), ['127.0.0.1:9092'], 'Bootstrap brokers, host:port, comma-separated.'),
  kafkaClientId: setting('KAFKA_CLIENT_ID', str(), 'stream-scorer', 'Kafka client id (shows in broker logs and quotas).'),
  groupId: setting('KAFKA_GROUP_ID', str(), 'stream-scorer', 'Consumer group; scale out by running more instances with the same group.'),
  inputTopics: setting('INPUT_TOPICS', list(topicName), ['payments'], 'Topics with Avro input events.'),
  outputTopic: setting('OUTPUT_TOPIC', topicName, 'payments.scored', 'Topic predictions are published to.'),
  deadLetterTopic: setting('DEAD_LETTER_TOPIC', topicName, 'payments.dead-letter', 'Topic for events that cannot be scored honestly.'),
  startFrom: setting('START_FROM', oneOf('earliest', 'latest'), 'earliest', 'Where a new consumer group starts reading.'),
  inputSchema: setting('INPUT_SCHEMA', str(), 'schemas/payment-event.avsc', 'Reader schema of input events (.avsc path).'),
  inputWriterSchema: optional('INPUT_WRITER_SCHEMA', str(), 'Writer schema of input events when it differs from the reader schema (.avsc path).'),
  predictionSchema: setting('PREDICTION_SCHEMA', str(), 'schemas/prediction.avsc', 'Schema of published predictions (.avsc path).'),
  modelPath: setting('MODEL_PATH', str(), 'models/card-fraud/model.onnx', 'ONNX model file.'),
  modelName: optional('MODEL_NAME', str(), 'Overrides the model_name in the ONNX metadata.'),
  modelVersion: optional('MODEL_VERSION', str(), 'Overrides the model_version in the ONNX metadata.'),
  scoreOutput: setting('MODEL_SCORE_OUTPUT', str(), 'probabilities', 'Model output holding class probabilities [N, classes].'),
  labelOutput: setting('MODEL_LABEL_OUTPUT', str(), 'label', 'Model output holding the predicted label [N].'),
  positiveClassIndex: setting('MODEL_POSITIVE_CLASS_INDEX', int(0, 1000), 1, 'Column of the score output that is published as "score".'),
  intraOpThreads: setting('ORT_INTRA_OP_THREADS', int(1, 64), 1, 'onnxruntime intra-op threads (1 is best on small machines).'),
  eventIdField: setting('EVENT_ID_FIELD', str(), 'event_id', 'Input field copied to the prediction as its id.'),
  eventTimeField: setting('EVENT_TIME_FIELD', str(), 'event_time', 'Input field with the event time (epoch ms), copied to the prediction.'),
  maxScoreBatch: setting('SCORE_BATCH_MAX_EVENTS', int(1, 100_000), 1024, 'Most events in one onnxruntime call; bigger Kafka batches are split.'),
  maxBytesPerPartition: setting('CONSUMER_MAX_BYTES_PER_PARTITION', int(1024, 100 * 1024 * 1024), 1024 * 1024, 'Fetch size per partition.'),
  maxWaitMs: setting('CONSUMER_MAX_WAIT_MS', int(0, 60_000), 100, 'Longest a fetch waits for data.'),
  sessionTimeoutMs: setting('CONSUMER_SESSION_TIMEOUT_MS', int(6_000, 300_000), 30_000, 'Group session timeout.'),
  producerRetries: setting('PRODUCER_RETRIES', int(0, 100), 8, 'Retries (with backoff, ~20 s in all at 8) before a failed write stops the service; nothing of that batch is committed.'),
  shutdownTimeoutMs: setting('SHUTDOWN_TIMEOUT_MS', int(1_000, 600_000), 30_000, 'Longest a graceful stop may take before the process exits anyway.'),
  otlpEndpoint: optional('OTEL_EXPORTER_OTLP_ENDPOINT', str(), 'OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318); traces are exported only when set.'),
  serviceName: setting('OTEL_SERVICE_NAME', str(), 'stream-scorer', 'service.name of traces and metrics.'),
  logLevel: setting('LOG_LEVEL', oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'info', 'pino log level.'),
  demoRate: setting('DEMO_RATE', int(1, 1_000_000), 200, 'demo: events per second the synthetic producer sends.'),
  demoBadShare: setting('DEMO_BAD_SHARE', int(0, 100), 10, 'demo: percent of events that are bad (unknown category, missing field, NaN, corrupt bytes).'),
  demoDurationSeconds: setting('DEMO_DURATION_SECONDS', int(0, 31_536_000), 0, 'demo: stop after this many seconds (0: run until Ctrl-C).'),
} as const;

export type SettingKey = keyof typeof SETTINGS;
type ValueOf<S> = S extends Setting<infer T> ? T : never;
type HasDefault<S> = S extends { default: unknown } ? true : false;

export type Config = {
  readonly [K in SettingKey as HasDefault<(typeof SETTINGS)[K]> extends true ? K : never]: ValueOf<(typeof SETTINGS)[K]>;
} & {
  readonly [K in SettingKey as HasDefault<(typeof SETTINGS)[K]> extends true ? never : K]?: ValueOf<(typeof SETTINGS)[K]>;
};
