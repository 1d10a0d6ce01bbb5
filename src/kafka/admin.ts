import { ConfigResourceTypes, type Kafka } from 'kafkajs';
import { ServiceError } from '../errors';
import { BROKER_DEFAULT_MAX_MESSAGE_BYTES } from '../output/record-size';

/** The topics (as SETTING=topic) that do not exist on the cluster. */
export async function missingTopics(kafka: Kafka, topics: readonly { topic: string; setting: string }[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    return topics.filter((t) => !existing.has(t.topic)).map((t) => `${t.setting}=${t.topic}`);
  } finally {
    await admin.disconnect();
  }
}

/** Refuses to start when a topic the service writes to or reads from does not exist. */
export async function assertTopicsExist(kafka: Kafka, topics: readonly { topic: string; setting: string }[]): Promise<void> {
  const missing = await missingTopics(kafka, topics);
  if (missing.length > 0) {
    throw new ServiceError('OUTPUT_UNWRITABLE', `topic(s) missing: ${missing.join(', ')}. Create them (the broker does not auto-create) or fix the setting.`);
  }
}

export async function createTopics(kafka: Kafka, topics: readonly { topic: string; partitions: number }[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = topics.filter((t) => !existing.has(t.topic)).map((t) => ({ topic: t.topic, numPartitions: t.partitions, replicationFactor: 1 }));
    if (wanted.length > 0) await admin.createTopics({ topics: wanted, waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

export interface TopicMessageLimit {
  readonly topic: string;
  /** The topic's max.message.bytes, or the broker default when it could not be read. */
  readonly maxMessageBytes: number;
  /** Why it could not be read (not authorized to describe configs, broker away…). */
  readonly error?: string;
}

/**
 * The largest record batch each topic accepts (max.message.bytes, the broker's own
 * message.max.bytes unless the topic overrides it). Never fails: what cannot be read is the
 * broker default, with the reason, for the caller to log.
 */
export async function topicMaxMessageBytes(kafka: Kafka, topics: readonly string[]): Promise<TopicMessageLimit[]> {
  const fallback = (error: string): TopicMessageLimit[] => topics.map((topic) => ({ topic, maxMessageBytes: BROKER_DEFAULT_MAX_MESSAGE_BYTES, error }));
  const admin = kafka.admin();
  try {
    await admin.connect();
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
    });
    return topics.map((topic) => {
      const resource = described.resources.find((r) => r.resourceName === topic);
      if (!resource || resource.errorCode !== 0) return { topic, maxMessageBytes: BROKER_DEFAULT_MAX_MESSAGE_BYTES, error: resource?.errorMessage || `error code ${resource?.errorCode ?? 'missing'}` };
      const value = Number(resource.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue);
      return Number.isInteger(value) && value > 0 ? { topic, maxMessageBytes: value } : { topic, maxMessageBytes: BROKER_DEFAULT_MAX_MESSAGE_BYTES, error: 'max.message.bytes not in the answer' };
    });
  } catch (error) {
    return fallback((error as Error).message);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
