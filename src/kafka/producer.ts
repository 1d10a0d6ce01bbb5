import { type Kafka, Partitioners } from 'kafkajs';
import type { OutputRecord } from '../records';
import { toKafkaMessage } from './convert';

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
