import type { Kafka } from 'kafkajs';
import { scanTopic } from '../kafka/scan';
import type { SourceMessage } from '../records';
import { type PartitionRange, type RangeSpec, resolveRange } from './range';
import type { BatchSource, SourceProgress } from './types';

export interface TopicRange {
  readonly topic: string;
  readonly partitions: readonly PartitionRange[];
}

/** Resolves the range against each topic's offsets as they are now: the end never moves past these. */
export async function resolveTopicRanges(kafka: Kafka, topics: readonly string[], spec: RangeSpec): Promise<TopicRange[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ranges: TopicRange[] = [];
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      const marks = offsets.map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }));
      const byTime = async (ms: number): Promise<ReadonlyMap<number, bigint>> => {
        const found = await admin.fetchTopicOffsetsByTimestamp(topic, ms);
        const high = new Map(marks.map((m) => [m.partition, m.high]));
        // No record at or after the time: -1 (kafkajs passes the broker's answer on), read as the end.
        return new Map(found.map((f) => [f.partition, BigInt(f.offset) < 0n ? (high.get(f.partition) ?? 0n) : BigInt(f.offset)]));
      };
      ranges.push({ topic, partitions: (await resolveRange(spec, marks, byTime)).sort((a, b) => a.partition - b.partition) });
    }
    return ranges;
  } finally {
    await admin.disconnect();
  }
}

export function rangeEvents(ranges: readonly TopicRange[]): number {
  let n = 0n;
  for (const r of ranges) for (const p of r.partitions) n += p.end - p.start;
  return Number(n);
}

export function describeRanges(ranges: readonly TopicRange[]): string {
  return ranges.map((r) => `${r.topic}[${r.partitions.map((p) => `${p.partition}:${p.start}..${p.end}`).join(' ')}]`).join(', ');
}

/**
 * The records of each input topic in its range, read with a throwaway consumer (scanTopic:
 * nothing committed), batch by batch as kafkajs fetches them, each processed before the next fetch.
 * read_committed: aborted transactions are not re-scored.
 */
export function kafkaSource(kafka: Kafka, ranges: readonly TopicRange[], options: { readonly idleMs?: number } = {}): BatchSource {
  const total = rangeEvents(ranges);
  let done = 0;
  return {
    description: describeRanges(ranges),
    progress: (): SourceProgress => ({ done, total, unit: 'events' }),
    async forEachBatch(onBatch) {
      for (const range of ranges) {
        if (range.partitions.every((p) => p.end <= p.start)) continue;
        let failed = false;
        const result = await scanTopic(
          kafka,
          range.topic,
          {
            readCommitted: true,
            startOffsets: new Map(range.partitions.map((p) => [p.partition, p.start])),
            endOffsets: new Map(range.partitions.map((p) => [p.partition, p.end])),
            idleMs: options.idleMs ?? 60_000,
            timeoutMs: 24 * 3600_000,
          },
          async (messages: SourceMessage[], heartbeat) => {
            // scanTopic may hand out a batch of another partition after one failed: nothing more is written.
            if (failed) throw new Error('backfill stopped after an earlier failure');
            try {
              await onBatch(messages, heartbeat);
              done += messages.length;
            } catch (error) {
              failed = true;
              throw error;
            }
          },
        );
        if (!result.complete) throw new Error(`${range.topic}: the range could not be read to its end (no records for ${(options.idleMs ?? 60_000) / 1000} s); ${result.records} records were processed`);
      }
    },
  };
}
