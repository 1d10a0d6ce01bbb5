import { randomUUID } from 'node:crypto';
import { type IResourceConfigEntry, Kafka, type KafkaMessage, type Message, Partitioners, logLevel } from 'kafkajs';

/** Integration tests need the real broker that scripts/with-kafka.sh provides. */
export function brokers(): string[] {
  const list = process.env.KAFKA_BROKERS;
  if (!list) throw new Error('KAFKA_BROKERS is not set: run integration tests through `npm run test:integration` (scripts/with-kafka.sh starts a local broker)');
  return list.split(',');
}

export function testKafka(): Kafka {
  return new Kafka({ clientId: 'stream-scorer-test', brokers: brokers(), logLevel: logLevel.NOTHING });
}

export interface TestTopics {
  readonly input: string;
  readonly output: string;
  readonly deadLetter: string;
  readonly group: string;
}

/** Topic settings per test topic, e.g. `{ input: [{ name: 'max.message.bytes', value: '2097152' }] }`. */
export type TestTopicConfigs = Partial<Record<'input' | 'output' | 'deadLetter', IResourceConfigEntry[]>>;

/** Unique topics and group per test, so tests never see each other's records. */
export async function createTestTopics(kafka: Kafka, name: string, partitions = 3, configs: TestTopicConfigs = {}): Promise<TestTopics> {
  const id = `${name}-${randomUUID().slice(0, 8)}`;
  const topics = { input: `${id}.in`, output: `${id}.scored`, deadLetter: `${id}.dlq`, group: `${id}.group` };
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: topics.input, numPartitions: partitions, replicationFactor: 1, configEntries: configs.input ?? [] },
      { topic: topics.output, numPartitions: partitions, replicationFactor: 1, configEntries: configs.output ?? [] },
      { topic: topics.deadLetter, numPartitions: 1, replicationFactor: 1, configEntries: configs.deadLetter ?? [] },
    ],
  });
  await admin.disconnect();
  return topics;
}

export async function produce(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();
}

export interface Collected {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

/** Reads a topic from the start until `count` records arrived (or fails after `timeoutMs`). */
export async function collect(kafka: Kafka, topic: string, count: number, timeoutMs = 30_000, settleMs = 500): Promise<Collected[]> {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  const seen: Collected[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic: t, partition, message }) => {
      seen.push({ topic: t, partition, message });
    },
  });
  const deadline = Date.now() + timeoutMs;
  while (seen.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  // A little longer, so a test also notices records beyond the expected count (duplicates).
  await new Promise((r) => setTimeout(r, settleMs));
  await consumer.disconnect();
  return seen;
}

export async function committedOffsets(kafka: Kafka, group: string, topic: string): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  const [result] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  await admin.disconnect();
  return new Map((result?.partitions ?? []).map((p) => [p.partition, p.offset]));
}

export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, string>> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return new Map(offsets.map((p) => [p.partition, p.high]));
}

export function headerText(message: KafkaMessage, name: string): string | undefined {
  const value = message.headers?.[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? String(value[value.length - 1]) : String(value);
}

/** Polls the group's committed offsets until they reach `ends` (or the timeout), and returns the last seen. */
export async function committedAtLeast(kafka: Kafka, group: string, topic: string, ends: Map<number, string>, timeoutMs: number): Promise<Map<number, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const committed = await committedOffsets(kafka, group, topic);
    const done = [...ends].every(([partition, end]) => BigInt(committed.get(partition) ?? '-1') >= BigInt(end));
    if (done || Date.now() > deadline) return committed;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The settings that point a scorer at a test's topics and group. */
export function topicEnv(topics: TestTopics, brokerList: readonly string[] = brokers()): Record<string, string> {
  return {
    KAFKA_BROKERS: brokerList.join(','),
    INPUT_TOPICS: topics.input,
    OUTPUT_TOPIC: topics.output,
    DEAD_LETTER_TOPIC: topics.deadLetter,
    KAFKA_GROUP_ID: topics.group,
  };
}
