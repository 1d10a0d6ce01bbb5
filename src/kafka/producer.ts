import { CompressionTypes, type Kafka, Partitioners, type Producer } from 'kafkajs';
import type { OutputRecord } from '../records';
import { toKafkaMessage } from './convert';

export interface OutputBatch {
  readonly topic: string;
  readonly records: readonly OutputRecord[];
}

export interface RecordProducer {
  /** Resolves once the broker acknowledged every record (acks=all); rejects otherwise. */
  send(batches: readonly OutputBatch[]): Promise<void>;
  disconnect(): Promise<void>;
}

export async function createRecordProducer(kafka: Kafka, options: { retries: number }): Promise<RecordProducer> {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // Java-compatible murmur2: a prediction lands where a Java producer would put its key.
    createPartitioner: Partitioners.DefaultPartitioner,
    // Finite, so an output that stays unwritable stops the service instead of hanging it.
    retry: { retries: options.retries, initialRetryTime: 200, maxRetryTime: 5_000 },
  });
  await producer.connect();
  return {
    async send(batches) {
      const topicMessages = batches.filter((b) => b.records.length > 0).map((b) => ({ topic: b.topic, messages: b.records.map(toKafkaMessage) }));
      if (topicMessages.length === 0) return;
      await producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
    },
    disconnect: () => producer.disconnect(),
  };
}

/** A plain producer for tools (the demo's synthetic stream, the benchmark's loader). */
export async function createEventSender(kafka: Kafka): Promise<{ send(topic: string, records: readonly OutputRecord[]): Promise<void>; disconnect(): Promise<void> }> {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return {
    async send(topic, records) {
      await producer.send({ topic, messages: records.map(toKafkaMessage) });
    },
    disconnect: () => producer.disconnect(),
  };
}
