/**
 * One passthrough row of bench/clients.ts, as its own process: consume the pre-produced input
 * topic with a fresh consumer group and copy key, value and headers to the output topic with an
 * idempotent producer (acks=all, no compression), committing each batch's offsets only after its
 * deliveries are acknowledged (requested, not waited for), as the kafkajs ceiling
 * (bench/row.ts `ceiling`) does. Measured exactly as bench/row.ts: from the first fetched batch
 * until `expected` outputs are acknowledged; CPU (process.cpuUsage, all threads) and peak RSS
 * (resourceUsage().maxRSS) of this process.
 *
 *   platformatic   @platformatic/kafka (pure JS): MessagesStream (flowing, queued) → bounded producer.send requests
 *   rdkafka        @confluentinc/kafka-javascript native API: KafkaConsumer.consume(1000) → Producer.produce
 *                  per message, the batch's delivery reports (polled in the background) → commit;
 *                  `rdkafka/fN` keeps N batches waiting for acks (BENCH_CLIENTS), commits in order
 *   ckjs-kafkajs   @confluentinc/kafka-javascript KafkaJS-compatible API: eachBatch → producer.send
 *                  (`js.consumer.max.batch.size` from BENCH_CKJS_BATCH, the library default is 32)
 *
 * Protocol with the parent: BENCH_CLIENT_ROW (JSON), IPC messages { ready } and { result }.
 */
import { createRequire } from 'node:module';
import { eventLoopDelay } from './event-loop';
import type { Message as PlatformaticMessage, MessageToProduce as PlatformaticMessageToProduce } from '@platformatic/kafka';
import { brokers } from './common';

export type ClientMode = 'platformatic' | 'rdkafka' | 'ckjs-kafkajs';

export interface ClientRowSpec {
  readonly mode: ClientMode;
  readonly input: string;
  readonly output: string;
  readonly group: string;
  readonly expected: number;
  /** rdkafka only: batches produced before the oldest one's acks are awaited (1: lockstep, as the ceiling). */
  readonly inFlight?: number;
  /** ckjs-kafkajs only: js.consumer.max.batch.size (library default 32). */
  readonly batchSize?: number;
}

export interface ClientRowResult {
  readonly mode: string;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly cpuSeconds: number;
  readonly cpuSecondsPer1k: number;
  readonly peakRssMb: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
}

const spec = JSON.parse(process.env.BENCH_CLIENT_ROW ?? '{}') as ClientRowSpec;
const expected = spec.expected;
let done = 0;
let firstAt = 0;
let cpuAtFirst: NodeJS.CpuUsage | undefined;
const eld = eventLoopDelay();
let finish: () => void = () => undefined;
const finished = new Promise<void>((resolve) => (finish = resolve));
let result: ClientRowResult | undefined;
const send = (message: unknown): void => void process.send?.(message);
const warn = (what: string) => (error: unknown) => void process.stderr.write(`client row ${spec.mode}: ${what}: ${(error as Error).message ?? String(error)}\n`);

function fetched(): void {
  if (firstAt !== 0) return;
  firstAt = performance.now();
  cpuAtFirst = process.cpuUsage();
  eld.enable();
}

function complete(): void {
  if (result) return;
  const seconds = (performance.now() - firstAt) / 1000;
  eld.disable();
  const cpu = process.cpuUsage(cpuAtFirst);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  result = {
    mode: spec.batchSize ? `${spec.mode}/b${spec.batchSize}` : spec.inFlight ? `${spec.mode}/f${spec.inFlight}` : spec.mode,
    events: done,
    seconds,
    eventsPerSecond: done / seconds,
    cpuSeconds,
    cpuSecondsPer1k: (cpuSeconds / done) * 1000,
    peakRssMb: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    eventLoopDelayP99Ms: eld.percentileMs(99),
    eventLoopDelayMaxMs: eld.maxMs(),
  };
  finish();
}

function acked(count: number): void {
  done += count;
  if (done >= expected) complete();
}

/** The kafkajs ceiling's fetch settings: the service's defaults (src/config/schema.ts) and kafkajs' maxBytes. */
const FETCH = { perPartition: 1024 * 1024, total: 10 * 1024 * 1024, waitMs: 100 } as const;

/** @platformatic/kafka: one MessagesStream; each drain of its buffer is one batch. */
async function runPlatformatic(): Promise<() => Promise<void>> {
  const { Consumer, Producer, ProduceAcks } = await import('@platformatic/kafka');
  type Msg = PlatformaticMessage;
  type MessageToProduce = PlatformaticMessageToProduce;
  const { MAX_REQUEST_BYTES, MAX_REQUEST_RECORDS } = await import('../src/kafka/output-writer');
  const bootstrapBrokers = brokers();
  const producer = new Producer({ clientId: 'bench-platformatic-out', bootstrapBrokers, idempotent: true, acks: ProduceAcks.ALL, compression: 'none', autocreateTopics: false });
  // Fetch sizes as the kafkajs ceiling (the service's 1 MiB per partition, 100 ms wait; kafkajs'
  // 10 MiB per fetch): the library's 50 MiB default would fetch most of the input in the first
  // response, decoded before the measurement starts.
  const consumer = new Consumer({ clientId: 'bench-platformatic-in', groupId: spec.group, bootstrapBrokers, sessionTimeout: 30_000, heartbeatInterval: 3_000, maxBytesPerPartition: FETCH.perPartition, maxBytes: FETCH.total, maxWaitTime: FETCH.waitMs });
  consumer.on('consumer:group:join', () => send({ ready: true }));
  const stream = await consumer.consume({ topics: [spec.input], mode: 'earliest', autocommit: false });
  // Flowing mode into a queue, paused above the stream's highWaterMark; each turn takes what is queued.
  let queue: Msg[] = [];
  let wake: (() => void) | undefined;
  stream.on('data', (m: Msg) => {
    queue.push(m);
    if (queue.length >= 1024) stream.pause();
    wake?.();
  });
  stream.on('close', () => wake?.());
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const batch = queue;
      queue = [];
      stream.resume();
      fetched();
      // Bounded produce requests, in order, with the service's bounds (src/kafka/output-writer.ts):
      // the client sends one record batch per partition, and a whole fetch can exceed the broker's
      // 1 MiB message.max.bytes (MESSAGE_TOO_LARGE).
      let chunk: MessageToProduce[] = [];
      let bytes = 0;
      for (const m of batch) {
        let size = 64 + m.key.length + m.value.length;
        for (const [k, v] of m.headers) size += 8 + k.length + v.length;
        if (chunk.length > 0 && (bytes + size > MAX_REQUEST_BYTES || chunk.length >= MAX_REQUEST_RECORDS)) {
          await producer.send({ messages: chunk });
          chunk = [];
          bytes = 0;
        }
        chunk.push({ topic: spec.output, key: m.key, value: m.value, headers: m.headers });
        bytes += size;
      }
      if (chunk.length > 0) await producer.send({ messages: chunk });
      acked(batch.length);
      // Commit the last message of each partition (commit() commits offset + 1), not waited for.
      const last = new Map<number, Msg>();
      for (const m of batch) last.set(m.partition, m);
      for (const m of last.values()) void (m.commit() as Promise<void>).catch(warn('commit failed'));
    }
  })();
  return async () => {
    stopping = true;
    await stream.close();
    await loop.catch(warn('loop'));
    await consumer.close();
    await producer.close();
  };
}

/*
 * @confluentinc/kafka-javascript is an optionalDependency (a native build): when its build failed it
 * is absent, so this file types only the part it uses instead of importing the package's types.
 */
type RdHeaders = Array<Record<string, Buffer>>;
interface RdMessage {
  value: Buffer | null;
  key?: Buffer | string | null;
  topic: string;
  partition: number;
  offset: number;
  headers?: RdHeaders;
}
type Done = (error?: unknown) => void;
interface RdClient {
  connect(options: object, done: Done): void;
  disconnect(done: Done): void;
}
interface RdProducer extends RdClient {
  on(event: 'delivery-report', listener: (error: unknown, report: { opaque: unknown }) => void): void;
  setPollInBackground(on: boolean): void;
  produce(topic: string, partition: number | null, value: Buffer | null, key?: Buffer | string | null, timestamp?: number, opaque?: unknown, headers?: RdHeaders): boolean;
}
interface RdConsumer extends RdClient {
  assign(assignment: unknown): void;
  unassign(): void;
  subscribe(topics: string[]): void;
  setDefaultConsumeTimeout(ms: number): void;
  consume(n: number, done: (error: unknown, messages: RdMessage[]) => void): void;
  commit(offsets: Array<{ topic: string; partition: number; offset: number }>): void;
}
interface KjsMessage {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  headers?: Record<string, unknown>;
}
interface KjsConsumer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(options: { topics: string[] }): Promise<void>;
  commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void>;
  run(options: {
    eachBatchAutoResolve: boolean;
    partitionsConsumedConcurrently: number;
    eachBatch: (payload: { batch: { topic: string; partition: number; messages: KjsMessage[] }; resolveOffset: (offset: string) => void; isRunning: () => boolean; isStale: () => boolean }) => Promise<void>;
  }): Promise<void>;
}
interface KjsProducer {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; messages: Array<{ key: Buffer | null; value: Buffer | null; headers?: Record<string, unknown> }> }): Promise<unknown>;
}
interface Ckjs {
  Producer: new (config: Record<string, unknown>) => RdProducer;
  KafkaConsumer: new (config: Record<string, unknown>, topicConfig: Record<string, unknown>) => RdConsumer;
  CODES: { ERRORS: Record<string, number> };
  KafkaJS: {
    Kafka: new (config: object) => { producer(config: object): KjsProducer; consumer(config: object): KjsConsumer };
    logLevel: Record<string, number>;
    CompressionTypes: Record<string, unknown>;
    ErrorCodes: Record<string, number>;
  };
}
const loadCkjs = (): Ckjs => createRequire(__filename)('@confluentinc/kafka-javascript') as Ckjs;

/** The native librdkafka API: consume(n) batches, produce each, wait for the batch's delivery reports. */
async function runRdkafka(): Promise<() => Promise<void>> {
  const { Producer, KafkaConsumer, CODES } = loadCkjs();
  const bootstrap = brokers().join(',');
  const producer = new Producer({
    'bootstrap.servers': bootstrap,
    'client.id': 'bench-rdkafka-out',
    'enable.idempotence': true,
    acks: -1,
    'compression.type': 'none',
    dr_cb: true,
  });
  // Each batch is the opaque of its records' delivery reports.
  interface Pending {
    left: number;
    done: () => void;
  }
  let failed: unknown;
  producer.on('delivery-report', (error, report) => {
    if (error) failed ??= error;
    const batch = report.opaque as Pending;
    batch.left -= 1;
    if (batch.left === 0) batch.done();
  });
  await new Promise<void>((resolve, reject) => producer.connect({}, (error) => (error ? reject(error) : resolve())));
  producer.setPollInBackground(true);

  const consumer = new KafkaConsumer(
    {
      'bootstrap.servers': bootstrap,
      'client.id': 'bench-rdkafka-in',
      'group.id': spec.group,
      'enable.auto.commit': false,
      'session.timeout.ms': 30_000,
      'max.partition.fetch.bytes': FETCH.perPartition,
      'fetch.max.bytes': FETCH.total,
      'fetch.wait.max.ms': FETCH.waitMs,
      rebalance_cb: (error: { code: number }, assignment: unknown) => {
        // The default rebalance behaviour (assign/unassign), plus a ready signal.
        if (error.code === CODES.ERRORS.ERR__ASSIGN_PARTITIONS) {
          consumer.assign(assignment as never);
          send({ ready: true });
        } else consumer.unassign();
      },
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) => consumer.connect({}, (error) => (error ? reject(error) : resolve())));
  consumer.setDefaultConsumeTimeout(100);
  consumer.subscribe([spec.input]);
  const consume = (n: number) =>
    new Promise<RdMessage[]>((resolve, reject) => consumer.consume(n, (error, messages) => (error ? reject(error) : resolve(messages))));

  // inFlight 1: produce a batch, wait for its acks, commit, consume the next (the ceiling's lockstep).
  // inFlight > 1: keep consuming while up to that many batches wait for acks; commits stay in batch order.
  const inFlight = spec.inFlight ?? 1;
  const waiting: Promise<void>[] = [];
  let previous: Promise<void> = Promise.resolve();
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      const batch = await consume(1000);
      if (batch.length === 0) continue;
      fetched();
      const pending: Pending = { left: batch.length, done: () => undefined };
      const acks = new Promise<void>((resolve) => (pending.done = resolve));
      const last = new Map<number, number>();
      for (const m of batch) {
        producer.produce(spec.output, null, m.value, m.key, undefined, pending, m.headers);
        last.set(m.partition, m.offset);
      }
      const before = previous;
      previous = Promise.all([before, acks]).then(() => {
        if (failed) throw failed;
        acked(batch.length);
        consumer.commit([...last].map(([partition, offset]) => ({ topic: spec.input, partition, offset: offset + 1 })));
      });
      waiting.push(previous);
      if (waiting.length >= inFlight) await waiting.shift();
    }
  })();
  return async () => {
    stopping = true;
    await loop.catch(warn('loop'));
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
    await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
  };
}

/** The KafkaJS-compatible API of @confluentinc/kafka-javascript, written as the kafkajs ceiling. */
async function runCkjsKafkaJS(): Promise<() => Promise<void>> {
  const { KafkaJS } = loadCkjs();
  const kafka = new KafkaJS.Kafka({ kafkaJS: { clientId: 'bench-ckjs', brokers: brokers(), logLevel: KafkaJS.logLevel.WARN } });
  const producer = kafka.producer({ kafkaJS: { idempotent: true, acks: -1, compression: KafkaJS.CompressionTypes.None } });
  await producer.connect();
  const consumer = kafka.consumer({
    kafkaJS: { groupId: spec.group, fromBeginning: true, autoCommit: false, sessionTimeout: 30_000, maxBytesPerPartition: FETCH.perPartition, maxWaitTimeInMs: FETCH.waitMs },
    // ckjs maps kafkaJS.maxBytes (default 10 MiB) to fetch.message.max.bytes, librdkafka's alias of
    // the per-partition size, which then wins over maxBytesPerPartition: set both here (top-level
    // librdkafka keys override the kafkaJS block).
    'fetch.message.max.bytes': FETCH.perPartition,
    'fetch.max.bytes': FETCH.total,
    ...(spec.batchSize ? { 'js.consumer.max.batch.size': spec.batchSize } : {}),
    rebalance_cb: (error: { code: number }) => {
      if (error.code === KafkaJS.ErrorCodes.ERR__ASSIGN_PARTITIONS) send({ ready: true });
    },
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [spec.input] });
  await consumer.run({
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
      if (batch.messages.length === 0 || !isRunning() || isStale()) return;
      fetched();
      const last = batch.messages[batch.messages.length - 1]?.offset as string;
      await producer.send({ topic: spec.output, messages: batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) });
      acked(batch.messages.length);
      resolveOffset(last);
      void consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]).catch(warn('commit failed'));
    },
  });
  return async () => {
    await consumer.disconnect();
    await producer.disconnect();
  };
}

async function main(): Promise<void> {
  const run = { platformatic: runPlatformatic, rdkafka: runRdkafka, 'ckjs-kafkajs': runCkjsKafkaJS }[spec.mode];
  const stop = await run();
  await finished;
  await stop();
  send({ result });
  process.disconnect?.();
}

main().catch((error: unknown) => {
  process.stderr.write(`client row ${spec.mode}: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
