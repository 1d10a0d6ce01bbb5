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

/**
 * An OutputRecord already has the shape of a kafkajs Message (key, value, headers, optional
 * timestamp), and kafkajs only reads it: handed over as it is, with no copy per record. Its null
 * header values, which IHeaders does not admit, kafkajs writes as null once patched
 * (patches/kafkajs+2.2.4.patch, kafkajs#1789).
 */
export function toKafkaMessage(record: OutputRecord): Message {
  return record as Message & { headers: IHeaders };
}
