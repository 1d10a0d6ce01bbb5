import { bool, fieldNameOrNone, hostPort, int, list, num, numList, oneOf, type Parser, str, topicName } from './types';

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
  kafkaSecurityProtocol: setting('KAFKA_SECURITY_PROTOCOL', oneOf('PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'), 'PLAINTEXT', 'How the client talks to the brokers: SSL and SASL_SSL use TLS, SASL_PLAINTEXT and SASL_SSL authenticate with SASL. See docs/kafka-security.md.'),
  kafkaSaslMechanism: optional('KAFKA_SASL_MECHANISM', oneOf('plain', 'scram-sha-256', 'scram-sha-512'), 'SASL mechanism, required with SASL_PLAINTEXT and SASL_SSL; plain is refused without TLS.'),
  kafkaSaslUsernameFile: optional('KAFKA_SASL_USERNAME_FILE', str(), 'File holding the SASL username (e.g. a mounted Secret key); required with SASL.'),
  kafkaSaslPasswordFile: optional('KAFKA_SASL_PASSWORD_FILE', str(), 'File holding the SASL password; required with SASL. Credentials are read from files only, never from the environment.'),
  kafkaTlsCaFile: optional('KAFKA_TLS_CA_FILE', str(), 'PEM file with the CA certificate(s) that signed the brokers\' certificates (default: the system CAs); SSL and SASL_SSL only.'),
  kafkaTlsCertFile: optional('KAFKA_TLS_CERT_FILE', str(), 'PEM client certificate for mutual TLS, together with KAFKA_TLS_KEY_FILE; SSL and SASL_SSL only.'),
  kafkaTlsKeyFile: optional('KAFKA_TLS_KEY_FILE', str(), 'PEM private key of KAFKA_TLS_CERT_FILE (unencrypted; mount it from a Secret); SSL and SASL_SSL only.'),
  groupId: setting('KAFKA_GROUP_ID', str(), 'stream-scorer', 'Consumer group; scale out by running more instances with the same group.'),
  redriveGroup: optional('REDRIVE_GROUP', str(), '`stream-scorer redrive`: consumer group whose committed offsets on DEAD_LETTER_TOPIC say which dead letters were already re-driven (docs/model-lifecycle.md#re-drive). Default: <KAFKA_GROUP_ID>.redrive.'),
  inputTopics: setting('INPUT_TOPICS', list(topicName), ['payments'], 'Topics with Avro input events.'),
  outputTopic: setting('OUTPUT_TOPIC', topicName, 'payments.scored', 'Topic predictions are published to.'),
  deadLetterTopic: setting('DEAD_LETTER_TOPIC', topicName, 'payments.dead-letter', 'Topic for events that cannot be scored honestly.'),
  startFrom: setting('START_FROM', oneOf('earliest', 'latest'), 'earliest', 'Where a new consumer group starts reading.'),
  inputFormat: setting('INPUT_FORMAT', oneOf('avro', 'confluent'), 'avro', 'How input values are written: avro (plain Avro binary of INPUT_WRITER_SCHEMA, or INPUT_SCHEMA) or confluent (the Confluent wire format: magic byte 0, a 4-byte schema id, then Avro written with the schema registered under that id in SCHEMA_REGISTRY_URL; resolved into INPUT_SCHEMA). See docs/schema-registry.md.'),
  outputFormat: setting('OUTPUT_FORMAT', oneOf('avro', 'confluent'), 'avro', 'How predictions are written: avro (plain Avro binary of PREDICTION_SCHEMA) or confluent (wire format with the id PREDICTION_SCHEMA has under the output subject in SCHEMA_REGISTRY_URL). Dead letters always keep the bytes as received.'),
  schemaRegistryUrl: optional('SCHEMA_REGISTRY_URL', str(), 'Base URL of a Confluent-API schema registry (e.g. http://registry:8081, or Apicurio\'s http://host:8080/apis/ccompat/v7); required by INPUT_FORMAT=confluent and OUTPUT_FORMAT=confluent.'),
  schemaRegistryUsernameFile: optional('SCHEMA_REGISTRY_USERNAME_FILE', str(), 'File holding the registry\'s basic-auth username (e.g. a mounted Secret key), together with SCHEMA_REGISTRY_PASSWORD_FILE.'),
  schemaRegistryPasswordFile: optional('SCHEMA_REGISTRY_PASSWORD_FILE', str(), 'File holding the registry\'s basic-auth password. Credentials are read from files only, never from the environment.'),
  schemaRegistryTlsCaFile: optional('SCHEMA_REGISTRY_TLS_CA_FILE', str(), 'PEM file with the CA certificate(s) of an https registry (default: the system CAs).'),
  schemaRegistryTimeoutMs: setting('SCHEMA_REGISTRY_TIMEOUT_MS', int(100, 120_000), 5_000, 'Time-out of one registry request. A registry that does not answer in time is unavailable: the batch waits and retries (nothing is dead-lettered for it).'),
  schemaRegistrySubjectStrategy: setting('SCHEMA_REGISTRY_SUBJECT_STRATEGY', oneOf('topic', 'record', 'topic-record'), 'topic', 'Subject naming, as Confluent\'s serializers: topic (<topic>-value), record (the record\'s full name), topic-record (<topic>-<full name>). Used for the start-up check of the input subject and for the output subject.'),
  schemaRegistryAutoRegister: setting('SCHEMA_REGISTRY_AUTO_REGISTER', bool(), true, 'OUTPUT_FORMAT=confluent: register PREDICTION_SCHEMA under the output subject at start-up (true), or only look its id up (false: it must be registered already). A compatibility refusal stops start-up with the registry\'s answer.'),
  featureStoreAddress: setting('FEATURE_STORE_ADDRESS', hostPort, '127.0.0.1:6379', 'Redis server (host:port) of the online feature store, used only when the model\'s manifest declares store features (store.features; docs/feature-store.md).'),
  featureStoreDb: setting('FEATURE_STORE_DB', int(0, 1_000), 0, 'Redis logical database of the feature store.'),
  featureStoreUsernameFile: optional('FEATURE_STORE_USERNAME_FILE', str(), 'File holding the Redis ACL username (e.g. a mounted Secret key); without it, AUTH uses the password only (the default user).'),
  featureStorePasswordFile: optional('FEATURE_STORE_PASSWORD_FILE', str(), 'File holding the Redis password. Credentials are read from files only, never from the environment.'),
  featureStoreTls: setting('FEATURE_STORE_TLS', bool(), false, 'Talk TLS to Redis (certificate checked against FEATURE_STORE_TLS_CA_FILE, or the system CAs).'),
  featureStoreTlsCaFile: optional('FEATURE_STORE_TLS_CA_FILE', str(), 'PEM file with the CA certificate(s) of Redis\'s certificate; FEATURE_STORE_TLS only.'),
  featureStoreTlsCertFile: optional('FEATURE_STORE_TLS_CERT_FILE', str(), 'PEM client certificate for mutual TLS, with FEATURE_STORE_TLS_KEY_FILE; FEATURE_STORE_TLS only.'),
  featureStoreTlsKeyFile: optional('FEATURE_STORE_TLS_KEY_FILE', str(), 'PEM private key of FEATURE_STORE_TLS_CERT_FILE; FEATURE_STORE_TLS only.'),
  featureStoreTimeoutMs: setting('FEATURE_STORE_TIMEOUT_MS', int(10, 60_000), 500, 'Time-out of one batch\'s lookup (one pipelined round trip, HMGET per distinct key). A store that does not answer in time is unavailable for the batch: each feature\'s `unavailable` policy applies (wait: the batch is retried).'),
  featureStoreBreakerFailures: setting('FEATURE_STORE_BREAKER_FAILURES', int(1, 1_000), 3, 'Failed batch lookups in a row after which the circuit breaker opens: lookups then fail at once, without waiting for FEATURE_STORE_TIMEOUT_MS.'),
  featureStoreBreakerOpenMs: setting('FEATURE_STORE_BREAKER_OPEN_MS', int(100, 600_000), 5_000, 'How long an open circuit breaker fails lookups at once before letting one probe lookup through (half-open); the probe\'s success closes it.'),
  inputSchema: setting('INPUT_SCHEMA', str(), 'schemas/payment-event.avsc', 'Reader schema of input events (.avsc path).'),
  inputWriterSchema: optional('INPUT_WRITER_SCHEMA', str(), 'Writer schema of input events when it differs from the reader schema (.avsc path).'),
  decodeMaxItems: optional('DECODE_MAX_ITEMS', int(1, 2_147_483_647), 'Most array items plus map entries one input event may declare; an event declaring more is dead-lettered as UNDECODABLE_AVRO before it is decoded (docs/dead-letter.md). Default: the largest max.message.bytes of the input topics, read at start-up (the Kafka default, 1048588, when it cannot be read). Whatever the setting, an event may not declare more items than it has bytes (only items of zero-byte types such as null or empty records could), so the default refuses nothing that fits the topic; set it lower to bound what one decoded event takes in memory.'),
  decodeMaxBytes: optional('DECODE_MAX_BYTES', int(1, 2_147_483_647), 'Most bytes of strings, bytes values and map keys one input event may declare; an event declaring more is dead-lettered as UNDECODABLE_AVRO (docs/dead-letter.md). Default: the largest max.message.bytes of the input topics, read at start-up (the Kafka default, 1048588, when it cannot be read), which no event that fits the topic can exceed; set it lower to refuse bigger events.'),
  predictionSchema: setting('PREDICTION_SCHEMA', str(), 'schemas/prediction.avsc', 'Schema of published predictions (.avsc path).'),
  modelPath: setting('MODEL_PATH', str(), 'models/card-fraud/model.onnx', 'ONNX model file.'),
  modelSha256: optional('MODEL_SHA256', str({ pattern: /^[0-9a-fA-F]{64}$/, kind: 'sha256 hex digest (64 hex digits)' }), 'Expected sha256 of the MODEL_PATH file, checked at start-up and on every hot swap: a different file refuses to start, and a reloaded file that does not match is refused (the old model keeps serving), so a pinned deployment rolls out the new pin together with the new file.'),
  modelName: optional('MODEL_NAME', str(), 'Model name published with every prediction; overrides the manifest\'s name and the ONNX metadata model_name. Default: those, else the model file\'s folder name (for model.onnx) or file name.'),
  modelVersion: optional('MODEL_VERSION', str(), 'Model version published with every prediction; overrides the manifest\'s version and the ONNX metadata model_version. Default: those, else the ModelProto model_version, else sha256-<first 12 hex digits of the file> (with a warning at start-up).'),
  modelManifest: optional('MODEL_MANIFEST', str(), 'Model manifest (YAML or JSON): which event fields feed which model inputs and columns, the categories\' codes, missing and unknown policies, what the outputs mean (docs/model-handover.md). Default: manifest.yaml, manifest.yml or manifest.json next to MODEL_PATH, if there is one; without one, every graph input is fed from the top-level field of its name.'),
  scoreOutput: optional('MODEL_SCORE_OUTPUT', str(), 'Model output holding the class probabilities [N, classes], the regression value or the probability; overrides the manifest\'s output.scores. Default: the graph\'s ZipMap or probabilities output, or its only float output.'),
  labelOutput: optional('MODEL_LABEL_OUTPUT', str(), 'Model output holding the predicted label [N]; overrides the manifest\'s output.label. Default: the graph\'s one int64 or string output besides the scores; without one, the most probable class.'),
  positiveClassIndex: optional('MODEL_POSITIVE_CLASS_INDEX', int(0, 1000), 'Column of the class probabilities published as "score"; overrides the manifest\'s output.positive_class. Default 1 (the second class of a binary classifier); checked against the number of classes at start-up.'),
  modelReloadWatch: setting('MODEL_RELOAD_WATCH', bool(), true, 'Watch the folder of MODEL_PATH (fs.watch; a Kubernetes ConfigMap or volume update swaps its ..data symlink) and hot-swap the model when the content of the model, its manifest, profile.json or reference.json changes: the new model is loaded and checked beside the serving one and swapped in between batches, or refused while the old one keeps serving. SIGHUP and POST /admin/reload reload it too. See docs/model-lifecycle.md.'),
  modelReloadPollMs: setting('MODEL_RELOAD_POLL_MS', int(0, 86_400_000), 10_000, 'Period of the stat poll of the model\'s files, the fallback where the folder watch sees nothing (some network and container file systems); the files are hashed only when a stat changed. 0: no poll.'),
  modelReloadDebounceMs: setting('MODEL_RELOAD_DEBOUNCE_MS', int(0, 600_000), 1_000, 'Quiet time after the last change seen in the model\'s folder before its files are hashed and a reload is tried (a copy in progress is not loaded half-written).'),
  shadowModelPath: optional('SHADOW_MODEL_PATH', str(), 'Shadow (challenger) scoring: a second ONNX model that scores the same valid events of every batch beside the serving (champion) model, checked at start-up like MODEL_PATH against the same INPUT_SCHEMA and PREDICTION_SCHEMA. Its predictions go to SHADOW_TOPIC only, never to OUTPUT_TOPIC; its rejections are counted, never dead-lettered; its failures never hold up the champion (docs/model-lifecycle.md#shadow-scoring). Requires SHADOW_TOPIC. Not hot-swapped.'),
  shadowModelManifest: optional('SHADOW_MODEL_MANIFEST', str(), 'Manifest of SHADOW_MODEL_PATH (as MODEL_MANIFEST for the champion). Default: manifest.yaml, manifest.yml or manifest.json next to SHADOW_MODEL_PATH, if there is one. Its name and version go into the shadow predictions (MODEL_NAME and MODEL_VERSION apply to the champion only).'),
  shadowTopic: optional('SHADOW_TOPIC', topicName, 'Topic the challenger\'s predictions are written to (same key, event id and record format as OUTPUT_TOPIC, the challenger\'s model name and version); required with SHADOW_MODEL_PATH, and must differ from OUTPUT_TOPIC and DEAD_LETTER_TOPIC.'),
  shadowAgreementTolerance: setting('SHADOW_AGREEMENT_TOLERANCE', num(0, 1_000_000), 0.01, 'Shadow scoring of a regressor: champion and challenger agree on an event when their scores differ by at most this much (classifiers agree when they predict the same label).'),
  adminReload: setting('ADMIN_RELOAD', bool(), true, 'Serve POST /admin/reload on HEALTH_HOST:HEALTH_PORT (an admin endpoint: it makes the service reload MODEL_PATH; keep the port private, e.g. with the NetworkPolicy, when HEALTH_HOST is not 127.0.0.1). false: 404.'),
  heapGrowingPercent: setting('HEAP_GROWING_PERCENT', int(0, 1_000), 50, 'How far V8 lets the old generation grow past what the last full GC kept before the next one (v8 --heap-growing-percent, set at start-up). A batch in flight outlives a young-generation GC and is promoted; V8\'s own heuristics (0) let that garbage pile up to about 3 times the live heap. 50 keeps peak RSS near 200 MB for about 15 % more CPU per event (bench/README.md, "Memory"); 0 for the fastest, 20 for the smallest.'),
  intraOpThreads: setting('ORT_INTRA_OP_THREADS', int(1, 64), 1, 'onnxruntime intra-op threads (1 is best on small machines).'),
  eventIdField: setting('EVENT_ID_FIELD', fieldNameOrNone(), 'event_id', 'Top-level field of INPUT_SCHEMA copied to the prediction as its event_id: a string or enum, or an int or long (published as decimal text), optionally in a union with null. Empty (EVENT_ID_FIELD=): no id field. Events without an id (empty setting, or a null value) get topic/partition/offset, e.g. payments/3/1042. Checked against INPUT_SCHEMA at start-up.'),
  eventTimeField: setting('EVENT_TIME_FIELD', fieldNameOrNone(), 'event_time', 'Top-level field of INPUT_SCHEMA with the event time, copied to the prediction\'s event_time: a long of epoch milliseconds (plain or logicalType timestamp-millis), optionally in a union with null. Empty (EVENT_TIME_FIELD=): no time field; event_time is null and drift windows use the Kafka timestamp. Checked against INPUT_SCHEMA at start-up.'),
  maxScoreBatch: setting('SCORE_BATCH_MAX_EVENTS', int(1, 100_000), 1024, 'Most events in one onnxruntime call; bigger Kafka batches are split.'),
  maxBytesPerPartition: setting('CONSUMER_MAX_BYTES_PER_PARTITION', int(1024, 100 * 1024 * 1024), 256 * 1024, 'Fetch size per partition: at most about this much of a partition is decoded, scored and held in memory at once (a bigger record still comes whole). 256 KiB (about 1,200 events of the example) keeps peak RSS and event-loop stalls small at no measured CPU cost; 1 MiB fetches used about 80 MB more (bench/README.md).'),
  partitionsConcurrently: setting('CONSUMER_CONCURRENT_PARTITIONS', int(1, 64), 3, 'Batches of different input partitions handled at once (kafkajs partitionsConsumedConcurrently), each written by its own producer: while one waits for its acknowledgements, the next is decoded and scored, and a slow acknowledgement holds up only its own batch. One partition is always handled in order. A frozen instance that loses its partitions may still have one write per partition handled at once under way (docs/delivery.md). At half load, 3 instead of 1 took the median end-to-end latency from 5 to 4 ms and the p99 from 27–33 to 25–28 ms (bench/README.md, "Latency").'),
  maxWaitMs: setting('CONSUMER_MAX_WAIT_MS', int(0, 60_000), 100, 'Longest a fetch waits for data.'),
  sessionTimeoutMs: setting('CONSUMER_SESSION_TIMEOUT_MS', int(6_000, 300_000), 10_000, 'Group session timeout: a scorer that sends no heartbeat for this long (killed, paused, cut off) loses its partitions, which stand still until then (measured: after a SIGKILL its partitions move again after about this plus one heartbeat interval; a restarted pod does not shorten it, the group waits for the dead member). Heartbeats go every tenth of it (at least 1 s), between batches and during long waits. Raise it if the process can stall longer (CPU throttling, very large batches); see docs/delivery.md, "Rebalances and recovery times".'),
  processingGuarantee: setting('PROCESSING_GUARANTEE', oneOf('at-least-once', 'exactly-once'), 'at-least-once', 'at-least-once: outputs acknowledged, then the offset committed (a crash can repeat the in-flight batch). exactly-once: outputs and offset in one Kafka transaction per input partition; read outputs with isolation.level=read_committed. See docs/delivery.md.'),
  transactionalIdPrefix: optional('TRANSACTIONAL_ID_PREFIX', str(), 'exactly-once: prefix of the transactional ids, one per input partition (default: the consumer group). Must be the same on every instance of the group.'),
  transactionTimeoutMs: setting('TRANSACTION_TIMEOUT_MS', int(1_000, 900_000), 60_000, 'exactly-once: the broker aborts a transaction left open this long (e.g. by a crashed instance).'),
  retryBackoffMaxMs: setting('RETRY_BACKOFF_MAX_MS', int(100, 600_000), 30_000, 'Longest wait between attempts to write a batch while the broker is unreachable; attempts go on until it is back.'),
  partitionStallTimeoutMs: setting('PARTITION_STALL_TIMEOUT_MS', int(0, 86_400_000), 120_000, 'A partition with records waiting whose processed offset has not moved for this long is stalled (e.g. a batch retried over and over): /readyz answers 503 naming it, stream_scorer_partition_stalled is 1, and a warning is logged. 0: never reported.'),
  scoreDelayMs: setting('SCORE_DELAY_MS', int(0, 600_000), 0, 'testing: artificial delay per batch before scoring, to show slow scoring keeps group membership.'),
  failpointKillBeforeCommit: optional('FAILPOINT_KILL_BEFORE_COMMIT', int(1, 1_000_000), 'testing: SIGKILL this process between the outputs of batch N being acknowledged and its offset being committed.'),
  failpointStopOnHeartbeat: optional('FAILPOINT_STOP_ON_HEARTBEAT', int(1, 1_000_000), 'testing: this process stops itself (SIGSTOP) as the answer to its Nth accepted heartbeat arrives, before the Kafka client records it; resume it with SIGCONT. Frozen longer than CONSUMER_SESSION_TIMEOUT_MS, it wakes up believing in a membership the group has dropped.'),
  producerRetries: setting('PRODUCER_RETRIES', int(0, 100), 5, 'Client-level retries of one write attempt; after them the batch is retried as a whole with a fresh producer (transient errors) or the service stops (permanent ones).'),
  defectMaxAttempts: setting('DEFECT_MAX_ATTEMPTS', int(1, 100), 3, 'Attempts at a batch that fails with an error that is neither a broker nor a network error and cannot be dead-lettered as one record\'s INTERNAL_ERROR (e.g. the Kafka client cannot encode an output record); after the last one the service stops with INTERNAL_DEFECT and commits nothing from that batch. See docs/delivery.md.'),
  failpointThrowOnKey: optional('FAILPOINT_THROW_ON_KEY', str(), 'testing: processing throws a TypeError for a batch holding a record with this key (UTF-8), as a bug in a stage would; the record is dead-lettered as INTERNAL_ERROR, the rest of its batch scored.'),
  failpointUnencodableKey: optional('FAILPOINT_UNENCODABLE_KEY', str(), 'testing: the output record of a record with this key (UTF-8) gets a header value the Kafka client cannot encode (a TypeError inside kafkajs): the service retries the batch DEFECT_MAX_ATTEMPTS times, then stops with INTERNAL_DEFECT.'),
  failpointShadowThrowEvery: optional('FAILPOINT_SHADOW_THROW_EVERY', int(1, 1_000_000), 'testing: shadow scoring throws (a TypeError, as a bug would) on every Nth batch: the challenger\'s output of that batch is skipped and counted in stream_scorer_shadow_errors_total; the champion is not affected.'),
  startupTimeoutMs: setting('STARTUP_TIMEOUT_MS', int(0, 3_600_000), 300_000, 'How long start-up waits for unreachable brokers (with backoff) before giving up.'),
  shutdownTimeoutMs: setting('SHUTDOWN_TIMEOUT_MS', int(1_000, 600_000), 30_000, 'Longest a graceful stop may take before the process exits anyway.'),
  otlpEndpoint: optional('OTEL_EXPORTER_OTLP_ENDPOINT', str(), 'OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318); traces are exported only when set.'),
  serviceName: setting('OTEL_SERVICE_NAME', str(), 'stream-scorer', 'service.name of traces and metrics.'),
  healthPort: setting('HEALTH_PORT', int(0, 65535), 9464, 'Port of /healthz, /readyz and /metrics (0: any free port, for tests).'),
  healthHost: setting('HEALTH_HOST', str(), '127.0.0.1', 'Address the /healthz, /readyz, /metrics and /drift server listens on; 0.0.0.0 in a pod, so probes and Prometheus reach it.'),
  metricsUnknownValues: setting('METRICS_UNKNOWN_VALUES', int(0, 1_000), 10, 'Unknown category values per column exported by name in stream_scorer_unknown_categories_total; the rest are counted as value="__other__".'),
  driftProfile: optional('DRIFT_PROFILE', str(), 'Training profile of the model inputs and scores (JSON, see models/card-fraud/README.md); default: profile.json next to MODEL_PATH. Without one, drift is not monitored.'),
  driftWindowSeconds: setting('DRIFT_WINDOW_SECONDS', int(1, 7 * 86_400), 300, 'Length of the tumbling event-time windows in which live traffic is compared with the training profile.'),
  driftMinWindowEvents: setting('DRIFT_MIN_WINDOW_EVENTS', int(1, 100_000_000), 200, 'A window with fewer events is not evaluated (too few for a stable PSI).'),
  driftPsiThreshold: setting('DRIFT_PSI_THRESHOLD', num(0, 100), 0.2, 'Population stability index of a model input above which the column is drifting.'),
  driftPredictionPsiThreshold: setting('DRIFT_PREDICTION_PSI_THRESHOLD', num(0, 100), 0.2, 'PSI of the score distribution above which the predictions are drifting.'),
  driftUnknownRateThreshold: setting('DRIFT_UNKNOWN_RATE_THRESHOLD', num(0, 1), 0.01, 'Share of unknown categories in a categorical column above which it is drifting.'),
  driftMissingRateThreshold: setting('DRIFT_MISSING_RATE_THRESHOLD', num(0, 1), 0.01, 'A model input is drifting when its share of null or absent values in a window is above its training null rate (profile null_count / count) by more than this.'),
  driftPositiveThresholds: setting('DRIFT_POSITIVE_THRESHOLDS', numList(0, 1), [0.5], 'Decision thresholds on the score whose positive rate (share of scores >= t, per window) is compared with the training rate at t (the profile\'s positive_rates); several allowed, comma-separated.'),
  driftPositiveRateChange: setting('DRIFT_POSITIVE_RATE_CHANGE', num(0, 100), 0.3, 'Relative change of the positive rate against training above which the scores are drifting (0.3: up or down by 30 %), when it is also 4 standard errors away: a true move of 50 % is flagged in windows with ~150 expected positives (12,000 events at 1.3 %).'),
  driftMeanScoreChange: setting('DRIFT_MEAN_SCORE_CHANGE', num(0, 100), 0.25, 'Relative change of the mean score against training above which the scores are drifting, when it is also 4 standard errors away.'),
  driftAttributionSample: setting('DRIFT_ATTRIBUTION_SAMPLE', int(0, 100_000), 1_000, 'Events kept per drift window (a reservoir sample) so that /drift?attribution=1 can re-score the latest window whose scores drift with one input column at a time put back to the last stable window, and say which input moved the scores. 0: off (no events kept).'),
  driftEarlyLookEvents: setting('DRIFT_EARLY_LOOK_EVENTS', int(0, 100_000_000), 0, 'Early look: once a window in progress has this many more events (and at least DRIFT_MIN_WINDOW_EVENTS), its measures are computed on what it has and a measure over its threshold is logged as drift_early (partial). Episodes still start only when a window closes. 0: off.'),
  driftStateTopic: optional('DRIFT_STATE_TOPIC', topicName, 'Compacted topic where the service keeps its drift episodes and onsets (one record per consumer group, written when a window closes) and reads them back at start-up, so a restart keeps them. Unset: a restart starts the episodes over.'),
  logLevel: setting('LOG_LEVEL', oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'), 'info', 'pino log level.'),
  demoRate: setting('DEMO_RATE', int(1, 1_000_000), 200, 'demo: events per second the synthetic producer sends.'),
  demoBadShare: setting('DEMO_BAD_SHARE', int(0, 100), 10, 'demo: percent of events that are bad (unknown category, missing field, NaN, corrupt bytes).'),
  demoFeatureStore: setting('DEMO_FEATURE_STORE', bool(), false, 'demo: score models/card-fraud-store, whose card transaction count and merchant risk score come from Redis: a local redis-server is started by scripts/redis.sh on REDIS_PORT (default 6380) and filled; DEMO_BAD_SHARE percent of events are cards the store does not know (FEATURE_MISSING) or new merchants (scored with the default, flagged). See docs/feature-store.md.'),
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
