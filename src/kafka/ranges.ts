import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { SourceMessage } from '../records';
import { toSourceMessage } from './convert';

/** Offsets [start, end) of one partition. */
export interface OffsetRange {
  readonly start: bigint;
  readonly end: bigint;
}

/**
 * Where a group stands on a topic: per partition, from its committed offset (else the log start)
 * to the end offset now. Partitions with nothing to read are left out.
 */
export async function pendingRanges(kafka: Kafka, topic: string, groupId: string): Promise<Map<number, OffsetRange>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committedOf = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    const ranges = new Map<number, OffsetRange>();
    for (const p of ends) {
      const low = BigInt(p.low);
      const c = committedOf.get(p.partition) ?? -1n;
      // A committed offset below the log start (retention deleted records): from the start.
      const start = c >= low ? c : low;
      const end = BigInt(p.high);
      if (end > start) ranges.set(p.partition, { start, end });
    }
    return ranges;
  } finally {
    await admin.disconnect();
  }
}

export interface RangeReadOptions {
  /** The group to commit to; undefined: a throwaway group, deleted afterwards, and commit() is refused. */
  readonly groupId?: string;
  readonly readCommitted: boolean;
  /** Stop after this long without a new record while no batch is being handled (counted from the group join). Default 10 s. */
  readonly idleMs?: number;
}

/**
 * Reads exactly the given ranges of a topic, batch by batch, in offset order per partition.
 * onBatch gets a commit() that commits the offset after the batch to the group: call it once the
 * batch's work is done. The first error of onBatch stops the read (nothing after it is handled or
 * committed) and is thrown. `complete`: every range was read to its end.
 */
export async function readRanges(
  kafka: Kafka,
  topic: string,
  ranges: ReadonlyMap<number, OffsetRange>,
  options: RangeReadOptions,
  onBatch: (messages: SourceMessage[], commit: () => Promise<void>, heartbeat: () => Promise<void>) => Promise<void>,
): Promise<{ complete: boolean }> {
  const pending = new Map([...ranges].map(([p, r]) => [p, r.end - 1n]));
  if (pending.size === 0) return { complete: true };
  const groupId = options.groupId ?? `stream-scorer-redrive-scan-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: !options.readCommitted, maxWaitTimeInMs: 200 });
  const nextOffset = new Map([...ranges].map(([p, r]) => [p, r.start]));
  let lastProgress = Date.now();
  let busy = false;
  let failure: Error | undefined;
  // The idle time counts from the group join: joining a new group can take seconds.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    lastProgress = Date.now();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const end = pending.get(batch.partition);
        if (end === undefined || failure) return;
        let next = nextOffset.get(batch.partition) as bigint;
        const messages: SourceMessage[] = [];
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset >= next && offset <= end) {
            messages.push(toSourceMessage(batch.topic, batch.partition, message));
            next = offset + 1n;
          }
        }
        // Transaction markers count in lastOffset() but are never handed out.
        const last = BigInt(batch.lastOffset());
        if (last + 1n > next && last <= end) next = last + 1n;
        if (messages.length === 0 && next === nextOffset.get(batch.partition)) return;
        const done = next > end;
        const committed = next;
        busy = true;
        try {
          await onBatch(
            messages,
            async () => {
              if (options.groupId === undefined) throw new Error('readRanges: commit() without a group');
              await consumer.commitOffsets([{ topic, partition: batch.partition, offset: committed.toString() }]);
            },
            heartbeat,
          );
          nextOffset.set(batch.partition, next);
          if (done) pending.delete(batch.partition);
        } catch (error) {
          failure = error as Error;
        } finally {
          busy = false;
          lastProgress = Date.now();
        }
      },
    });
    for (const [partition, range] of ranges) consumer.seek({ topic, partition, offset: range.start.toString() });
    const idleMs = options.idleMs ?? 10_000;
    while (!failure && pending.size > 0 && (busy || Date.now() - lastProgress < idleMs)) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await consumer.disconnect();
    if (options.groupId === undefined) {
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    }
  }
  if (failure) throw failure;
  return { complete: pending.size === 0 };
}
