import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { Headers, OutputRecord, SourceMessage } from '../records';

export function toSourceMessage(topic: string, partition: number, message: KafkaMessage): SourceMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key,
    value: message.value,
    headers: (message.headers ?? {}) as Headers,
    timestamp: message.timestamp,
  };
}

export function toKafkaMessage(record: OutputRecord): Message {
  const message: Message = { key: record.key, value: record.value, headers: record.headers as IHeaders };
  if (record.timestamp !== undefined) message.timestamp = record.timestamp;
  return message;
}
