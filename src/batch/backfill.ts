import { trace } from '@opentelemetry/api';
import type { Config } from '../config/schema';
import { ServiceError } from '../errors';
import { inputDecoder } from '../formats/input';
import { assertTopicsExist, topicMaxMessageBytes } from '../kafka/admin';
import { createKafka } from '../kafka/client';
import type { PipelineDeps } from '../pipeline';
import { SERVICE_VERSION, prepare } from '../service';
import type { Logger } from '../telemetry/logger';
import { describeRanges, kafkaSource, rangeEvents, resolveTopicRanges } from './kafka-source';
import { kafkaSink } from './kafka-sink';
import type { RangeSpec } from './range';
import { dependencyWaitFrom } from './dependency-wait';
import { type RunOptions, runBatchJob } from './run';
import type { BatchSummary } from './types';

export interface BackfillArgs {
  readonly range: RangeSpec;
  readonly toTopic: string;
  readonly deadLetterTopic: string;
  /** Stop waiting for records after this long without any (default 60 s). */
  readonly idleMs?: number;
}

/**
 * `stream-scorer backfill`: re-scores a range of INPUT_TOPICS with the configured model into
 * separate topics, through the same processBatch as the live service, stopping at the end offsets
 * seen when it starts (records produced meanwhile are left to the live scorer).
 */
export async function backfill(config: Config, logger: Logger, args: BackfillArgs, options: RunOptions = {}): Promise<BatchSummary> {
  for (const target of [args.toTopic, args.deadLetterTopic]) {
    if (config.inputTopics.includes(target)) throw new ServiceError('CONFIG_INVALID', `backfill would write into its own input topic ${target} (INPUT_TOPICS=${config.inputTopics.join(',')}); name a separate --to-topic / --dead-letter-topic`);
  }
  const prepared = await prepare(config, logger);
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: `${config.kafkaClientId}-backfill`, security: config }, logger);
  await assertTopicsExist(kafka, [
    ...config.inputTopics.map((topic) => ({ topic, setting: 'INPUT_TOPICS' })),
    { topic: args.toTopic, setting: '--to-topic' },
    { topic: args.deadLetterTopic, setting: '--dead-letter-topic' },
  ]);
  const limits = await topicMaxMessageBytes(kafka, [args.deadLetterTopic, ...config.inputTopics]);
  const inputLimit = Math.max(...limits.filter((l) => config.inputTopics.includes(l.topic)).map((l) => l.maxMessageBytes));
  const required = prepared.model.contract.features.eventPaths;
  const deps: PipelineDeps = {
    ...prepared,
    decoder: inputDecoder(config, { maxMessageBytes: inputLimit, ...(prepared.registry ? { registry: prepared.registry } : {}), required }),
    deadLetter: { ...prepared.deadLetter, consumerGroup: `${config.groupId}-backfill`, maxRecordBytes: limits.find((l) => l.topic === args.deadLetterTopic)?.maxMessageBytes },
    outputTopic: args.toTopic,
    deadLetterTopic: args.deadLetterTopic,
    tracer: trace.getTracer('stream-scorer', SERVICE_VERSION),
    recordSpans: false,
  };
  const ranges = await resolveTopicRanges(kafka, config.inputTopics, args.range);
  logger.info({ range: describeRanges(ranges), events: rangeEvents(ranges), to: args.toTopic, dead_letter: args.deadLetterTopic }, 'backfill: re-scoring a range of the input topics');
  const sink = await kafkaSink(kafka, args.toTopic, args.deadLetterTopic);
  try {
    return await runBatchJob(deps, kafkaSource(kafka, ranges, args.idleMs !== undefined ? { idleMs: args.idleMs } : {}), sink, { dependencyWait: dependencyWaitFrom(config, logger), ...options });
  } finally {
    // An open Redis connection would keep the process alive after the job.
    await prepared.store.close();
  }
}
