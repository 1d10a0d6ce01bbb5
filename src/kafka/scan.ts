import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { SourceMessage } from '../records';
import { toSourceMessage } from './convert';

export interface ScanOptions {
  readonly readCommitted: boolean;
  /** Start at the first record with a Kafka timestamp >= this (epoch ms); default: the beginning. */
  readonly fromTimestamp?: number;
  /** Start of each partition named here (overrides fromTimestamp for it). */
  readonly startOffsets?: ReadonlyMap<number, bigint>;
  /** Exclusive end of each partition named here, if before the end offset seen when the scan begins. */
  readonly endOffsets?: ReadonlyMap<number, bigint>;
  /** Stop after this long without new records even if the end was not seen (control records, open transactions). */
  readonly idleMs?: number;
  readonly timeoutMs?: number;
}

/**
 * Streams a topic, batch by batch, from its start (or a timestamp) to the end offsets it had
 * when the scan began, without keeping the records. A throwaway consumer group, nothing
 * committed, deleted afterwards. For tools (`stream-scorer drift`), not the hot path.
 */
export async function scanTopic(kafka: Kafka, topic: string, options: ScanOptions, onBatch: (messages: SourceMessage[], heartbeat: () => Promise<void>) => void | Promise<void>): Promise<{ records: number; complete: boolean }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const starts = options.fromTimestamp === undefined ? undefined : await admin.fetchTopicOffsetsByTimestamp(topic, options.fromTimestamp);
    const startOf = new Map((starts ?? []).map((s) => [s.partition, BigInt(s.offset)]));
    for (const [partition, offset] of options.startOffsets ?? []) startOf.set(partition, offset);
    // Partitions with something to read: [start, end).
    const pending = new Map<number, bigint>();
    for (const p of ends) {
      const start = startOf.get(p.partition) ?? BigInt(p.low);
      const limit = options.endOffsets?.get(p.partition);
      const high = limit !== undefined && limit < BigInt(p.high) ? limit : BigInt(p.high);
      if (high > start && high > BigInt(p.low)) pending.set(p.partition, high - 1n);
    }
    if (pending.size === 0) return { records: 0, complete: true };

    const groupId = `stream-scorer-scan-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, readUncommitted: !options.readCommitted, maxWaitTimeInMs: 200 });
    const nextOffset = new Map<number, bigint>();
    let records = 0;
    let lastProgress = Date.now();
    // A batch being handled (it may wait for a dependency) is progress: the scan is not idle.
    let busy = false;
    let failure: Error | undefined;
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, heartbeat }) => {
          const end = pending.get(batch.partition);
          if (end === undefined) return;
          // Each offset once, from the start on, even if a fetch from before the seek comes in first.
          let next = nextOffset.get(batch.partition) ?? startOf.get(batch.partition) ?? -1n;
          const messages: SourceMessage[] = [];
          for (const message of batch.messages) {
            const offset = BigInt(message.offset);
            if (offset >= next && offset <= end) {
              messages.push(toSourceMessage(batch.topic, batch.partition, message));
              next = offset + 1n;
            }
          }
          nextOffset.set(batch.partition, next);
          lastProgress = Date.now();
          busy = true;
          try {
            if (messages.length > 0) await onBatch(messages, heartbeat);
          } catch (error) {
            failure = error as Error;
          } finally {
            busy = false;
            lastProgress = Date.now();
          }
          records += messages.length;
          // lastOffset() counts transaction markers too, which are never handed out as messages.
          if (BigInt(batch.lastOffset()) >= end) pending.delete(batch.partition);
        },
      });
      for (const [partition, offset] of startOf) {
        if (pending.has(partition)) consumer.seek({ topic, partition, offset: offset.toString() });
      }
      const started = Date.now();
      const idleMs = options.idleMs ?? 5_000;
      const timeoutMs = options.timeoutMs ?? 600_000;
      while (!failure && pending.size > 0 && (busy || Date.now() - lastProgress < idleMs) && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await consumer.disconnect();
      await admin.deleteGroups([groupId]).catch(() => undefined);
    }
    if (failure) throw failure;
    return { records, complete: pending.size === 0 };
  } finally {
    await admin.disconnect();
  }
}
