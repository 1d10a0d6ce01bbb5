import type { Kafka } from 'kafkajs';
import { ServiceError } from '../errors';

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
