import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { SourceMessage } from '../records';
import { toSourceMessage } from './convert';

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly fromBeginning: boolean;
  readonly maxBytesPerPartition: number;
  readonly maxWaitMs: number;
  readonly sessionTimeoutMs: number;
}

/**
 * Handles one fetched batch (one topic-partition). It must resolve only after every output
 * record for these messages is acknowledged; the runner then commits past them.
 */
export type BatchHandler = (messages: SourceMessage[], heartbeat: () => Promise<void>) => Promise<void>;

export interface BatchConsumer {
  /** Resolves when the consumer stops; rejects with the error that crashed it. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startBatchConsumer(kafka: Kafka, options: ConsumerOptions, handle: BatchHandler, onJoin?: () => void): Promise<BatchConsumer> {
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: Math.max(1_000, Math.floor(options.sessionTimeoutMs / 10)),
    maxBytesPerPartition: options.maxBytesPerPartition,
    maxWaitTimeInMs: options.maxWaitMs,
    allowAutoTopicCreation: false,
    // A failed batch must not be skipped: after the handler's own retries, crash, and let the service stop.
    retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000, restartOnFailure: async () => false },
  });

  let settle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  let failure: Error | undefined;
  consumer.on(consumer.events.CRASH, (event) => {
    if (!event.payload.restart) settle?.reject(event.payload.error);
  });
  if (onJoin) consumer.on(consumer.events.GROUP_JOIN, () => onJoin());

  await consumer.connect();
  await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }: EachBatchPayload) => {
      if (failure || batch.messages.length === 0 || !isRunning() || isStale()) return;
      const messages = batch.messages.map((m) => toSourceMessage(batch.topic, batch.partition, m));
      try {
        await handle(messages, heartbeat);
      } catch (error) {
        // The handler already retried what was worth retrying. Stop here: resolve and commit
        // nothing from this batch, take no further batch, and leave the group.
        failure = error as Error;
        pause();
        setImmediate(() => {
          void consumer.disconnect().finally(() => settle?.reject(failure as Error));
        });
        return;
      }
      const last = batch.messages[batch.messages.length - 1]?.offset as string;
      resolveOffset(last);
      // Commit right after the acks: the next offset to read is the one after the last handled.
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
      await heartbeat();
    },
  });

  return {
    done,
    async stop() {
      await consumer.disconnect();
      settle?.resolve();
    },
  };
}
