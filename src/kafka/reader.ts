import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { SourceMessage } from '../records';
import { toSourceMessage } from './convert';

export interface ReadOptions {
  readonly readCommitted: boolean;
  /** Stop after this long without new records even if the end was not seen (control records, open transactions). */
  readonly idleMs?: number;
  readonly timeoutMs?: number;
}

/**
 * Reads a topic from its start to the end offsets it had when reading began. A throwaway
 * consumer group, nothing committed. For tools and tests, not the hot path.
 */
export async function readTopic(kafka: Kafka, topic: string, options: ReadOptions): Promise<{ messages: SourceMessage[]; complete: boolean }> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const pending = new Map(offsets.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high) - 1n]));
  const messages: SourceMessage[] = [];
  if (pending.size === 0) return { messages, complete: true };

  const consumer = kafka.consumer({ groupId: `stream-scorer-reader-${randomUUID()}`, readUncommitted: !options.readCommitted, maxWaitTimeInMs: 200 });
  let lastProgress = Date.now();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) messages.push(toSourceMessage(batch.topic, batch.partition, message));
      lastProgress = Date.now();
      const end = pending.get(batch.partition);
      // lastOffset() counts transaction markers too, which are never handed out as messages.
      if (end !== undefined && BigInt(batch.lastOffset()) >= end) pending.delete(batch.partition);
    },
  });
  const started = Date.now();
  const idleMs = options.idleMs ?? 3_000;
  const timeoutMs = options.timeoutMs ?? 120_000;
  while (pending.size > 0 && Date.now() - lastProgress < idleMs && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 50));
  await consumer.disconnect();
  return { messages, complete: pending.size === 0 };
}
