import { CompressionTypes, type Kafka, type Producer } from 'kafkajs';
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
