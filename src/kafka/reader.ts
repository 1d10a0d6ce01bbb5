import type { Kafka } from 'kafkajs';
import type { SourceMessage } from '../records';
import { scanTopic } from './scan';

export interface ReadOptions {
  readonly readCommitted: boolean;
  /** Stop after this long without new records even if the end was not seen (control records, open transactions). */
  readonly idleMs?: number;
  readonly timeoutMs?: number;
}

/**
 * Reads a topic from its start to the end offsets it had when reading began, and keeps the
 * records (scanTopic without keeping them). For tools and tests, not the hot path.
 */
export async function readTopic(kafka: Kafka, topic: string, options: ReadOptions): Promise<{ messages: SourceMessage[]; complete: boolean }> {
  const messages: SourceMessage[] = [];
  const { complete } = await scanTopic(kafka, topic, { readCommitted: options.readCommitted, idleMs: options.idleMs ?? 3_000, timeoutMs: options.timeoutMs ?? 120_000 }, (batch) => {
    for (const message of batch) messages.push(message);
  });
  return { messages, complete };
}
