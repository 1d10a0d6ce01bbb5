import { performance } from 'node:perf_hooks';
import { type Consumer, type EachBatchPayload, type Kafka, KafkaJSProtocolError } from 'kafkajs';
import type { SourceMessage } from '../records';
import { toSourceMessage } from './convert';
import { classifyKafkaError } from './errors';
import { type LostMembershipReason, Membership, type MembershipLoss, lostMembershipReason } from './membership';
import { OffsetCommits, type PartitionOffset } from './offset-commits';

/**
 * kafkajs keeps every batch of a fetch until the last one is handled, so the fetch's size, not
 * only a partition's, bounds what is held at once (and promoted to the old generation when it
 * outlives a young-generation GC): one partition's worth unless CONSUMER_MAX_BYTES says otherwise.
 */
export function fetchLimits(options: Pick<ConsumerOptions, 'maxBytesPerPartition' | 'maxBytesPerFetch'>): { maxBytesPerPartition: number; maxBytes: number } {
  return { maxBytesPerPartition: options.maxBytesPerPartition, maxBytes: options.maxBytesPerFetch ?? options.maxBytesPerPartition };
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly fromBeginning: boolean;
  readonly maxBytesPerPartition: number;
  /** Over all partitions of one broker; default maxBytesPerPartition (CONSUMER_MAX_BYTES). */
  readonly maxBytesPerFetch?: number;
  readonly maxWaitMs: number;
  readonly sessionTimeoutMs: number;
  readonly readCommitted: boolean;
  /**
   * At-least-once: before a batch is written, a membership not confirmed by the coordinator for
   * most of a session (the process was frozen, or the partition idle) is confirmed with an offset
   * commit of the batch's first offset. Not for exactly-once, whose offsets go in transactions.
   */
  readonly confirmMembershipByCommit: boolean;
  /**
   * Batches of different partitions of one fetch handled at once (kafkajs'
   * partitionsConsumedConcurrently); one partition's batches are always handled in order. While
   * one batch waits for its acknowledgements, the next is decoded and scored.
   */
  readonly partitionsConcurrently: number;
}

export interface BatchContext {
  /**
   * Heartbeats if kafkajs' interval has passed. An answer saying the membership is lost does not
   * throw: it marks the partitions lost (see `owned`).
   */
  heartbeat(): Promise<void>;
  /**
   * Whether this consumer may still write the batch's outputs: false once a commit or heartbeat of
   * this generation was refused because the member left the group (or the group moved on). Costs
   * no request unless the coordinator confirmed nothing for most of a session (a frozen process).
   * Ask right before writing; on false, return 'retry' without writing.
   */
  owned(): Promise<boolean>;
  /** False once the consumer is stopping or lost its partitions: long waits should end early. */
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
  /**
   * The coordinator said this consumer no longer belongs to the group (once per generation):
   * nothing more of `partitions` is written until it has joined again. `uncommittedEvents` were
   * written but their commit is refused or dropped: the next owner writes them again.
   */
  onMembershipLost?(info: { reason: LostMembershipReason; error: Error; partitions: ReadonlyMap<string, readonly number[]>; uncommittedEvents: number }): void;
  /** The coordinator accepted a heartbeat. */
  onHeartbeat?(): void;
}

export interface BatchConsumer {
  /** Resolves when the consumer stops; rejects with the error that stopped it. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export async function startBatchConsumer(kafka: Kafka, options: ConsumerOptions, handle: BatchHandler, hooks: ConsumerHooks = {}): Promise<BatchConsumer> {
  // The broker expires a session `sessionTimeoutMs` after the member's last request; heartbeats go
  // out every `heartbeatInterval`. Unconfirmed for longer than `leaseMs`, the member may be gone.
  const heartbeatInterval = Math.max(1_000, Math.floor(options.sessionTimeoutMs / 10));
  const leaseMs = options.sessionTimeoutMs - 2 * heartbeatInterval;
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval,
    maxBytesPerPartition: options.maxBytesPerPartition,
    maxWaitTimeInMs: options.maxWaitMs,
    maxBytes: options.maxBytesPerFetch ?? options.maxBytesPerPartition,
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
  const membership = new Membership();
  let assignment: ReadonlyMap<string, readonly number[]> = new Map();
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    // Joining renewed the session: confirmed as of when the JoinGroup request went out.
    membership.joined(performance.now() - event.payload.duration);
    assignment = new Map(Object.entries(event.payload.memberAssignment));
    hooks.onJoin?.(assignment);
  });
  consumer.on(consumer.events.HEARTBEAT, () => hooks.onHeartbeat?.());
  // A batch of nothing but transaction markers or aborted records never reaches eachBatch:
  // kafkajs moves past it itself. Without this, a partition whose log ends in a marker would
  // look one record behind forever.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (payload.batchSize === 0) hooks.onProgress?.({ topic: payload.topic, partition: payload.partition, highWatermark: payload.highWatermark, nextOffset: (BigInt(payload.lastOffset) + 1n).toString() });
  });

  /** True when `error` says the membership of `generation` is lost; reported once per generation. */
  const lostBy = (generation: number, error: unknown): boolean => {
    if (!(error instanceof Error) || lostMembershipReason(error) === undefined) return false;
    const loss = membership.failed(generation, error);
    if (loss) {
      // Offsets not sent yet would be refused too: the next owner reads them again anyway. Not
      // while the group is only rebalancing: the coordinator still takes this generation's
      // commits until the rebalance completes, and the REBALANCING flush sends them.
      if (loss.reason !== 'REBALANCE_IN_PROGRESS') commits.discardWaiting();
      hooks.onMembershipLost?.({ reason: loss.reason, error: loss.error, partitions: assignment, uncommittedEvents: commits.uncommittedEvents() });
    }
    return true;
  };
  // An accepted commit confirms the membership as of when it was sent; a refused one may end it.
  const commitOf = async (offsets: readonly PartitionOffset[]): Promise<void> => {
    const generation = membership.generation;
    const sentAt = performance.now();
    try {
      await consumer.commitOffsets([...offsets]);
      membership.confirmed(generation, sentAt);
    } catch (error) {
      lostBy(generation, error);
      throw error;
    }
  };
  const commits = new OffsetCommits(commitOf, (error, offsets) => hooks.onCommitFailed?.(error, offsets));
  const lostNow = (generation: number): boolean => membership.generation !== generation || membership.lost() !== undefined;
  // Offsets still waiting behind a commit in flight go out now, ahead of this member's JoinGroup
  // on the same coordinator connection, with the generation they were acknowledged in.
  consumer.on(consumer.events.REBALANCING, () => commits.flush());
  let stopping = false;
  const inBatches = new Set<Promise<void>>();

  await consumer.connect();
  await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConcurrently,
    eachBatch: (payload: EachBatchPayload) => {
      const handling = eachBatch(payload);
      const tracked: Promise<void> = handling.catch(() => undefined).finally(() => inBatches.delete(tracked));
      inBatches.add(tracked);
      return handling;
    },
  });

  async function eachBatch({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }: EachBatchPayload): Promise<void> {
    // Stopping: leave the batch unresolved for the partition's next owner.
    if (stopping || failure || batch.messages.length === 0 || !isRunning() || isStale()) return;
    // A lost membership: neither this batch nor any other buffered from that generation is
    // handled. Throwing hands kafkajs the coordinator's answer; its runner drops the fetched
    // batches and joins the group again (runner.js, scheduleFetchManager).
    const loss = membership.lost();
    if (loss) throw rejoinError(loss);
    const generation = membership.generation;
    const messages = batch.messages.map((m) => toSourceMessage(batch.topic, batch.partition, m));
    const last = batch.messages[batch.messages.length - 1]?.offset as string;
    hooks.onBatch?.({ topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, firstOffset: batch.firstOffset() ?? (messages[0] as SourceMessage).offset, lastOffset: last });
    let outcome: BatchOutcome;
    try {
      outcome = await handle(messages, {
        heartbeat: async () => {
          try {
            await heartbeat();
          } catch (error) {
            if (!lostBy(generation, error)) throw error;
          }
        },
        owned: async () => {
          if (lostNow(generation)) return false;
          if (options.confirmMembershipByCommit && !membership.confirmedWithin(performance.now(), leaseMs)) await confirmByCommit(generation, batch.topic, batch.partition, (messages[0] as SourceMessage).offset);
          return !lostNow(generation);
        },
        isRunning: () => isRunning() && !stopping && !lostNow(generation),
        uncommittedEvents: () => commits.uncommittedEvents(),
      });
    } catch (error) {
      // Stop here: resolve and commit nothing from this batch, take no further batch, leave the group.
      failure = error as Error;
      pause();
      setImmediate(() => {
        void consumer.disconnect().finally(() => settle?.reject(failure as Error));
      });
      return;
    }
    // Lost while the batch was handled: nothing of it is resolved or committed.
    const lostMeanwhile = membership.lost();
    if (lostMeanwhile?.generation === generation) throw rejoinError(lostMeanwhile);
    // Unresolved, the batch is fetched again from its first offset.
    if (outcome === 'retry' || membership.generation !== generation) return;
    resolveOffset(last);
    // kafkajs resolves a marker that ends the batch along with `last`: it is done too.
    hooks.onProgress?.({ topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, nextOffset: (BigInt(batch.lastOffset()) + 1n).toString() });
    // Right after the acks: the next offset to read is the one after the last handled.
    if (outcome === 'commit') commits.send({ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }, messages.length);
    await heartbeat();
  }

  /**
   * Asks the coordinator whether this member is still in the group: commits what was already
   * acknowledged up to the batch's first offset (every record before it is written), which the
   * coordinator checks against the member id and generation. Answers to commits in flight come
   * first: they may already say.
   */
  async function confirmByCommit(generation: number, topic: string, partition: number, offset: string): Promise<void> {
    await commits.settled();
    if (lostNow(generation) || membership.confirmedWithin(performance.now(), leaseMs)) return;
    await commitOf([{ topic, partition, offset }]).catch((error: unknown) => {
      if (!lostBy(generation, error)) throw error;
    });
  }

  return {
    done,
    async stop() {
      // The batches in hand finish and their commits are answered before this member leaves the group.
      stopping = true;
      while (inBatches.size > 0) await Promise.all([...inBatches]);
      await commits.settled();
      await consumer.disconnect();
      settle?.resolve();
    },
  };
}

/**
 * The error that makes kafkajs' runner join the group again when thrown out of eachBatch: it
 * rejoins on REBALANCE_IN_PROGRESS and ILLEGAL_GENERATION, and as a new member on
 * UNKNOWN_MEMBER_ID (runner.js, scheduleFetchManager). FENCED_INSTANCE_ID (static membership,
 * which kafkajs does not use) rejoins as a new member too. A fresh error: the one the commit got
 * is wrapped by kafkajs' retrier, which the runner does not look into.
 */
function rejoinError(loss: MembershipLoss): KafkaJSProtocolError {
  const type = loss.reason === 'FENCED_INSTANCE_ID' ? 'UNKNOWN_MEMBER_ID' : loss.reason;
  const error = new KafkaJSProtocolError(`partitions lost (${loss.reason}): ${loss.error.message}`);
  return Object.assign(error, { type });
}
