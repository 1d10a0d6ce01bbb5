import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { SourceMessage } from '../records';
import { toSourceMessage } from './convert';
import { classifyKafkaError } from './errors';
import { OffsetCommits, type PartitionOffset } from './offset-commits';

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly fromBeginning: boolean;
  readonly maxBytesPerPartition: number;
  readonly maxWaitMs: number;
  readonly sessionTimeoutMs: number;
  readonly readCommitted: boolean;
}

export interface BatchContext {
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping: long waits should end early. */
  isRunning(): boolean;
  /** Events of earlier batches whose outputs are acknowledged but whose offset commit is not answered yet. */
  uncommittedEvents(): number;
}

/**
 * What became of a batch:
 * - 'commit': every output is acknowledged; the consumer requests the commit past the batch now
 *   and goes on to the next batch without waiting for the answer (see OffsetCommits);
 * - 'committed': outputs and offset were committed together (exactly-once transaction);
 * - 'retry': nothing was committed; the same messages are fetched and handled again.
 * A handler throws only for errors that must stop the service.
 */
export type BatchOutcome = 'commit' | 'committed' | 'retry';

export type BatchHandler = (messages: SourceMessage[], context: BatchContext) => Promise<BatchOutcome>;

export interface ConsumerHooks {
  onJoin?(assignment: ReadonlyMap<string, readonly number[]>): void;
  /** A batch was fetched (again, when the previous attempt was a retry). */
  onBatch?(info: { topic: string; partition: number; highWatermark: string; firstOffset: string; lastOffset: string }): void;
  /**
   * Every record of the partition before `nextOffset` is done: its outputs are acknowledged, or
   * it needed none (a transaction marker, an aborted record). Not called for a retry.
   */
  onProgress?(info: { topic: string; partition: number; highWatermark: string; nextOffset: string }): void;
  /** A commit failed after kafkajs' retries: its records will be read and written again. */
  onCommitFailed?(error: Error, offsets: readonly PartitionOffset[]): void;
  /** The coordinator accepted a heartbeat. */
  onHeartbeat?(): void;
}

export interface BatchConsumer {
  /** Resolves when the consumer stops; rejects with the error that stopped it. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startBatchConsumer(kafka: Kafka, options: ConsumerOptions, handle: BatchHandler, hooks: ConsumerHooks = {}): Promise<BatchConsumer> {
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: Math.max(1_000, Math.floor(options.sessionTimeoutMs / 10)),
    maxBytesPerPartition: options.maxBytesPerPartition,
    maxWaitTimeInMs: options.maxWaitMs,
    allowAutoTopicCreation: false,
    readUncommitted: !options.readCommitted,
    // A broker that goes away comes back: restart the consumer after broker and network errors.
    // Not after a permanent one, nor after a defect (kafkajs would restart forever, in silence).
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000, restartOnFailure: async (error) => ['transient', 'fenced'].includes(classifyKafkaError(error)) },
  });

  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  let failure: Error | undefined;
  consumer.on(consumer.events.CRASH, (event) => {
    if (!event.payload.restart) settle?.reject(event.payload.error);
  });
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    const assignment = new Map(Object.entries(event.payload.memberAssignment));
    hooks.onJoin?.(assignment);
  });
  consumer.on(consumer.events.HEARTBEAT, () => hooks.onHeartbeat?.());
  // A batch of nothing but transaction markers or aborted records never reaches eachBatch:
  // kafkajs moves past it itself. Without this, a partition whose log ends in a marker would
  // look one record behind forever.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.batchSize === 0) hooks.onProgress?.({ topic: payload.topic, partition: payload.partition, highWatermark: payload.highWatermark, nextOffset: (BigInt(payload.lastOffset) + 1n).toString() });
  });

  const commits = new OffsetCommits(
    (offsets) => consumer.commitOffsets([...offsets]),
    (error, offsets) => hooks.onCommitFailed?.(error, offsets),
  );
  // Offsets still waiting behind a commit in flight go out now, ahead of this member's JoinGroup
  // on the same coordinator connection, with the generation they were acknowledged in.
  consumer.on(consumer.events.REBALANCING, () => commits.flush());
  let stopping = false;
  let inBatch: Promise<void> = Promise.resolve();

  await consumer.connect();
  await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: (payload: EachBatchPayload) => {
      inBatch = eachBatch(payload);
      return inBatch;
    },
  });

  async function eachBatch({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }: EachBatchPayload): Promise<void> {
    // Stopping: leave the batch unresolved for the partition's next owner.
    if (stopping || failure || batch.messages.length === 0 || !isRunning() || isStale()) return;
    const messages = batch.messages.map((m) => toSourceMessage(batch.topic, batch.partition, m));
    const last = batch.messages[batch.messages.length - 1]?.offset as string;
    hooks.onBatch?.({ topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, firstOffset: batch.firstOffset() ?? (messages[0] as SourceMessage).offset, lastOffset: last });
    let outcome: BatchOutcome;
    try {
      outcome = await handle(messages, { heartbeat, isRunning: () => isRunning() && !stopping, uncommittedEvents: () => commits.uncommittedEvents() });
    } catch (error) {
      // Stop here: resolve and commit nothing from this batch, take no further batch, leave the group.
      failure = error as Error;
      pause();
      setImmediate(() => {
        void consumer.disconnect().finally(() => settle?.reject(failure as Error));
      });
      return;
    }
    // Unresolved, the batch is fetched again from its first offset.
    if (outcome === 'retry') return;
    resolveOffset(last);
    // kafkajs resolves a marker that ends the batch along with `last`: it is done too.
    hooks.onProgress?.({ topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, nextOffset: (BigInt(batch.lastOffset()) + 1n).toString() });
    // Right after the acks: the next offset to read is the one after the last handled.
    if (outcome === 'commit') commits.send({ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }, messages.length);
    await heartbeat();
  }

  return {
    done,
    async stop() {
      // The batch in hand finishes and its commit is answered before this member leaves the group.
      stopping = true;
      await inBatch.catch(() => undefined);
      await commits.settled();
      await consumer.disconnect();
      settle?.resolve();
    },
  };
}
