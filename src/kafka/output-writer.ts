import { type Admin, CompressionTypes, type Kafka, type Message, Partitioners, type Producer, type Transaction } from 'kafkajs';
import type { OutputRecord } from '../records';
import { toKafkaMessage } from './convert';
import { protocolErrorTypes } from './errors';

export interface OutputBatch {
  readonly topic: string;
  readonly records: readonly OutputRecord[];
}

/** The input position a batch of outputs stands for: everything below `nextOffset` is done. */
export interface InputPosition {
  readonly topic: string;
  readonly partition: number;
  readonly nextOffset: string;
}

export type ProcessingGuarantee = 'at-least-once' | 'exactly-once';

/**
 * Writes the outputs of one input batch. In at-least-once mode the consumer commits after
 * write() resolves; in exactly-once mode write() commits the input offset itself, in the same
 * transaction as the outputs.
 */
export interface OutputWriter {
  readonly guarantee: ProcessingGuarantee;
  /**
   * Called once before a batch is processed. Exactly-once: fences older producers of this
   * partition and returns the committed offset, so records a zombie already committed are skipped.
   */
  claim(topic: string, partition: number): Promise<string | undefined>;
  write(position: InputPosition, batches: readonly OutputBatch[], beforeCommit?: () => void): Promise<void>;
  /** Drops the producer(s) after an error, so the next attempt starts from a fresh one. */
  reset(topic: string, partition: number): Promise<void>;
  /** Releases producers of partitions this instance no longer owns. */
  retain(owned: ReadonlyMap<string, readonly number[]>): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * Most record bytes in one produce request. kafkajs puts all records of a partition into one
 * record batch, and the broker refuses a batch above message.max.bytes (1 MiB by default) with a
 * permanent MESSAGE_TOO_LARGE. Outputs are bigger than their inputs (trace and model headers), and
 * with co-partitioned topics (same key, same partition count) one full input fetch of
 * CONSUMER_MAX_BYTES_PER_PARTITION lands on one output partition: so a batch is written in
 * requests of at most this many bytes, in order.
 */
export const MAX_REQUEST_BYTES = 512 * 1024;

/**
 * Most records in one produce request. kafkajs groups a request's records by partition by copying
 * the partition's array for every record (producer/groupMessagesPerPartition.js), which is
 * quadratic in records per partition: a few hundred per request keep that cheap.
 */
export const MAX_REQUEST_RECORDS = 500;

/**
 * Bytes a record takes in a record batch, near enough: varint lengths and attributes ≤ 24 bytes,
 * string lengths in UTF-16 units (non-ASCII header text is rare and short; MAX_REQUEST_BYTES
 * leaves half the broker's limit as margin).
 */
function recordBytes(record: OutputRecord): number {
  let bytes = 24 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  const headers = record.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    // A null value (Kafka allows one) is written as length -1: no bytes.
    if (!Array.isArray(value)) bytes += 4 + name.length + (value === null ? 0 : value.length);
    else for (const v of value) bytes += 4 + name.length + (v === null ? 0 : v.length);
  }
  return bytes;
}

type TopicMessages = { topic: string; messages: Message[] }[];

/** The outputs of a batch as produce requests of at most `maxBytes` and `maxRecords` each (a bigger record goes alone). */
export function produceRequests(batches: readonly OutputBatch[], maxBytes = MAX_REQUEST_BYTES, maxRecords = MAX_REQUEST_RECORDS): TopicMessages[] {
  const requests: TopicMessages[] = [];
  let current: TopicMessages = [];
  let bytes = 0;
  let records = 0;
  for (const batch of batches) {
    let messages: Message[] | undefined;
    for (const record of batch.records) {
      const size = recordBytes(record);
      if (records > 0 && (bytes + size > maxBytes || records === maxRecords)) {
        requests.push(current);
        current = [];
        messages = undefined;
        bytes = 0;
        records = 0;
      }
      if (!messages) {
        messages = [];
        current.push({ topic: batch.topic, messages });
      }
      messages.push(toKafkaMessage(record));
      bytes += size;
      records += 1;
    }
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

export interface WriterOptions {
  readonly retries: number;
  readonly consumerGroup: string;
  readonly transactionalIdPrefix: string;
  readonly transactionTimeoutMs: number;
  /**
   * Smallest max.message.bytes of the output topics: requests are cut at half of it when that is
   * below MAX_REQUEST_BYTES, so that small records never add up beyond a small limit (a record
   * bigger than that still goes alone). Unset: MAX_REQUEST_BYTES.
   */
  readonly maxMessageBytes?: number;
}

/** Most record bytes in one produce request for topics that accept at most `maxMessageBytes`. */
export function maxRequestBytes(maxMessageBytes: number | undefined): number {
  return maxMessageBytes === undefined ? MAX_REQUEST_BYTES : Math.min(MAX_REQUEST_BYTES, Math.floor(maxMessageBytes / 2));
}

const BASE_PRODUCER = {
  allowAutoTopicCreation: false,
  // Java-compatible murmur2: a prediction lands where a Java producer would put its key.
  createPartitioner: Partitioners.DefaultPartitioner,
  idempotent: true,
  maxInFlightRequests: 1,
} as const;

/**
 * Idempotent producers, one per batch being written: batches of different partitions handled at
 * once (CONSUMER_CONCURRENT_PARTITIONS) write in parallel, so a slow acknowledgement holds up
 * only its own batch, not the ones queued behind it on a shared producer (kafkajs' idempotent
 * producer allows one request in flight). One partition's batches are written one after the
 * other, each acknowledged before the next begins, so any producer keeps their order. The pool
 * holds at most as many producers as batches were ever written at once.
 */
class AtLeastOnceWriter implements OutputWriter {
  readonly guarantee = 'at-least-once';
  private readonly idle: Producer[] = [];
  private readonly busy = new Set<Producer>();

  constructor(
    private readonly kafka: Kafka,
    private readonly options: WriterOptions,
  ) {}

  private async checkOut(): Promise<Producer> {
    const reused = this.idle.pop();
    if (reused) {
      this.busy.add(reused);
      return reused;
    }
    const producer = this.kafka.producer({
      ...BASE_PRODUCER,
      // Finite, so a send that keeps failing fails the batch (nothing committed) and the
      // consumer retries it with a fresh producer instead of hanging in one forever.
      retry: { retries: this.options.retries, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    this.busy.add(producer);
    try {
      await producer.connect();
    } catch (error) {
      await this.drop(producer);
      throw error;
    }
    return producer;
  }

  /** After an error a producer's state is not trusted: the retry starts from a fresh one. */
  private async drop(producer: Producer): Promise<void> {
    this.busy.delete(producer);
    await producer.disconnect().catch(() => undefined);
  }

  async claim(): Promise<undefined> {
    return undefined;
  }

  async write(_position: InputPosition, batches: readonly OutputBatch[], beforeCommit?: () => void): Promise<void> {
    const requests = produceRequests(batches, maxRequestBytes(this.options.maxMessageBytes));
    if (requests.length > 0) {
      const producer = await this.checkOut();
      try {
        // One request at a time: the idempotent producer keeps them in order (maxInFlightRequests 1).
        for (const topicMessages of requests) await producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      } catch (error) {
        await this.drop(producer);
        throw error;
      }
      this.busy.delete(producer);
      this.idle.push(producer);
    }
    beforeCommit?.();
  }

  /** A failed write has already dropped its producer; the others are fine. */
  async reset(): Promise<void> {}

  async retain(): Promise<void> {}

  async disconnect(): Promise<void> {
    const producers = [...this.idle, ...this.busy];
    this.idle.length = 0;
    this.busy.clear();
    await Promise.all(producers.map((p) => p.disconnect().catch(() => undefined)));
  }
}

/** First wait before asking again whether the previous transaction has completed (the Java client waits 20 ms). */
export const CONCURRENT_BACKOFF_MS = 10;
const CONCURRENT_BACKOFF_MAX_MS = 100;

/**
 * Adds the input offsets to a transaction that has just begun, waiting out the previous
 * transaction of this producer.
 *
 * kafkajs resolves commit() when EndTxn is answered, which the coordinator does once it has
 * logged PrepareCommit, before the commit markers are written and CompleteCommit is logged. A
 * transaction begun meanwhile gets CONCURRENT_TRANSACTIONS on its first AddPartitionsToTxn or
 * AddOffsetsToTxn. Inside sendBatch kafkajs retries that with the producer's retry policy (first
 * wait about 200 ms) and logs it at error level each time; AddOffsetsToTxn it does not retry at
 * all. So every transaction begins here, retried after 10 ms, 20 ms… (the markers take a few
 * ms): once this succeeds the transaction is ongoing, and the sends after it cannot collide.
 * Gives up (the batch is retried as a broker error) after `maxWaitMs`.
 */
export async function addOffsets(transaction: Pick<Transaction, 'sendOffsets'>, offsets: Parameters<Transaction['sendOffsets']>[0], maxWaitMs = 30_000): Promise<void> {
  const started = Date.now();
  for (let backoff = CONCURRENT_BACKOFF_MS; ; backoff = Math.min(backoff * 2, CONCURRENT_BACKOFF_MAX_MS)) {
    try {
      await transaction.sendOffsets(offsets);
      return;
    } catch (error) {
      if (!protocolErrorTypes(error).includes('CONCURRENT_TRANSACTIONS') || Date.now() - started + backoff > maxWaitMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}

/**
 * One transactional producer per input partition (kafkajs has no KIP-447): its transactional id
 * names the partition, so whoever processes the partition next fences whoever did before, and a
 * zombie's open transaction is aborted by the broker.
 */
class ExactlyOnceWriter implements OutputWriter {
  readonly guarantee = 'exactly-once';
  private readonly producers = new Map<string, Producer>();
  // Shared by the claims of partitions handled at once: connected once.
  private admin: Promise<Admin> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly options: WriterOptions,
  ) {}

  transactionalId(topic: string, partition: number): string {
    return `${this.options.transactionalIdPrefix}-${topic}-${partition}`;
  }

  async claim(topic: string, partition: number): Promise<string | undefined> {
    const key = `${topic}:${partition}`;
    if (this.producers.has(key)) return undefined;
    const producer = this.kafka.producer({
      ...BASE_PRODUCER,
      transactionalId: this.transactionalId(topic, partition),
      transactionTimeout: this.options.transactionTimeoutMs,
      retry: { retries: this.options.retries, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    await producer.connect();
    // kafkajs initialises the producer id with the first transaction: that bump of the epoch is
    // what fences a previous owner and aborts its open transaction.
    const probe = await producer.transaction();
    await probe.abort();
    this.producers.set(key, producer);
    // Only now is the committed offset final: a zombie can no longer commit past it.
    const admin = await this.connectedAdmin();
    const [offsets] = await admin.fetchOffsets({ groupId: this.options.consumerGroup, topics: [topic] });
    const committed = offsets?.partitions.find((p) => p.partition === partition)?.offset;
    return committed !== undefined && committed !== '-1' ? committed : undefined;
  }

  private connectedAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      const connecting = admin.connect().then(() => admin);
      this.admin = connecting;
      connecting.catch(() => {
        if (this.admin === connecting) this.admin = undefined;
      });
    }
    return this.admin;
  }

  async write(position: InputPosition, batches: readonly OutputBatch[], beforeCommit?: () => void): Promise<void> {
    const producer = this.producers.get(`${position.topic}:${position.partition}`);
    if (!producer) throw new Error(`no producer claimed ${position.topic}[${position.partition}]`);
    const transaction: Transaction = await producer.transaction();
    try {
      // Offsets first: see addOffsets. Order within a transaction does not matter to readers,
      // everything becomes visible (or is discarded) at once.
      await addOffsets(transaction, {
        consumerGroupId: this.options.consumerGroup,
        topics: [{ topic: position.topic, partitions: [{ partition: position.partition, offset: position.nextOffset }] }],
      });
      for (const topicMessages of produceRequests(batches, maxRequestBytes(this.options.maxMessageBytes))) await transaction.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      beforeCommit?.();
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  }

  async reset(topic: string, partition: number): Promise<void> {
    const key = `${topic}:${partition}`;
    const producer = this.producers.get(key);
    this.producers.delete(key);
    await producer?.disconnect().catch(() => undefined);
  }

  async retain(owned: ReadonlyMap<string, readonly number[]>): Promise<void> {
    for (const key of [...this.producers.keys()]) {
      const [topic, partition] = [key.slice(0, key.lastIndexOf(':')), Number(key.slice(key.lastIndexOf(':') + 1))];
      if (!(owned.get(topic) ?? []).includes(partition)) await this.reset(topic, partition);
    }
  }

  async disconnect(): Promise<void> {
    for (const key of [...this.producers.keys()]) {
      const [topic, partition] = [key.slice(0, key.lastIndexOf(':')), Number(key.slice(key.lastIndexOf(':') + 1))];
      await this.reset(topic, partition);
    }
    const admin = this.admin;
    this.admin = undefined;
    await admin?.then((a) => a.disconnect()).catch(() => undefined);
  }
}

export function createOutputWriter(kafka: Kafka, guarantee: ProcessingGuarantee, options: WriterOptions): OutputWriter {
  return guarantee === 'exactly-once' ? new ExactlyOnceWriter(kafka, options) : new AtLeastOnceWriter(kafka, options);
}
