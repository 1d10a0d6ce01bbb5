import type { Kafka } from 'kafkajs';
import { createEventSender } from '../kafka/producer';
import type { ProcessedBatch } from '../pipeline';
import type { SourceMessage } from '../records';
import type { BatchSink } from './types';

/**
 * Predictions to one topic, dead letters (the pipeline's records: original bytes, reason headers)
 * to another, each batch acknowledged (acks = all) before the next is read. Nothing is committed
 * anywhere: a failed backfill is run again (at-least-once into the target topics).
 */
export async function kafkaSink(kafka: Kafka, predictionTopic: string, deadLetterTopic: string): Promise<BatchSink> {
  const sender = await createEventSender(kafka);
  return {
    destinations: [predictionTopic, deadLetterTopic],
    async write(_messages: readonly SourceMessage[], processed: ProcessedBatch) {
      try {
        await Promise.all([
          processed.predictions.length > 0 ? sender.send(predictionTopic, processed.predictions) : undefined,
          processed.deadLetters.length > 0 ? sender.send(deadLetterTopic, processed.deadLetters) : undefined,
        ]);
      } catch (error) {
        processed.finish(error as Error);
        throw error;
      }
      processed.finish();
    },
    close: () => sender.disconnect(),
    abort: () => sender.disconnect(),
  };
}
