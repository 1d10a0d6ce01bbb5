/**
 * One row of the benchmark, as its own process (so CPU time, peak RSS and event-loop delay are
 * this row's alone). Started by bench/bench.ts with BENCH_ROW (JSON) and an IPC channel.
 *
 *   ceiling  bare kafkajs: consume → produce the same bytes, no decode/score; same consumer and
 *            producer settings and commit discipline as the service (eachBatch, idempotent
 *            producer, acks=all, the same bounded produce requests, commit requested after the
 *            acks and not waited for)
 *   scorer   the real service: startTelemetry → startMonitoring → startService, as src/main.ts does
 *   naive    a first draft: per message decode, check, one session.run, encode, one awaited send;
 *            commit after each fetched batch, waited for
 *
 * Measured from the first fetched batch until `expected` inputs have their outputs acknowledged.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { eventLoopDelay } from './event-loop';
import type { IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { INPUT_SCHEMA, MODEL_PATH, PREDICTION_SCHEMA, brokers } from './common';

/** The python-* rows are Python processes (bench/python/*.py), started by bench/bench.ts with the same RowSpec. */
export type RowMode = 'ceiling' | 'scorer' | 'scorer-eos' | 'naive' | 'python-peer' | 'python-passthrough';

export interface RowSpec {
  readonly mode: RowMode;
  readonly input: string;
  readonly output: string;
  readonly deadLetter: string;
  readonly group: string;
  /** Known up front (pre-produced input) or sent later over IPC (live input). */
  readonly expected?: number;
  /** Extra service settings (e.g. SCORE_BATCH_MAX_EVENTS) for experiments. */
  readonly env?: Record<string, string>;
}

export interface RowResult {
  readonly mode: RowMode;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly cpuSeconds: number;
  readonly cpuSecondsPer1k: number;
  readonly peakRssMb: number;
  /** Node rows only: a Python row has no event loop to measure. */
  readonly eventLoopDelayP99Ms?: number;
  readonly eventLoopDelayMaxMs?: number;
  /** Node rows: garbage collections over the same span (minor = scavenges, major = mark-compacts), count and total pause ms. */
  readonly gc?: { readonly minor: number; readonly minorMs: number; readonly major: number; readonly majorMs: number; readonly majorMaxMs: number };
}

const spec = JSON.parse(process.env.BENCH_ROW ?? '{}') as RowSpec;
let expected = spec.expected ?? Number.POSITIVE_INFINITY;
let done = 0;
let firstAt = 0;
let cpuAtFirst: NodeJS.CpuUsage | undefined;
const eld = eventLoopDelay();
const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0, majorMaxMs: 0 };
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      gc.minor += 1;
      gc.minorMs += entry.duration;
    } else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gc.major += 1;
      gc.majorMs += entry.duration;
      gc.majorMaxMs = Math.max(gc.majorMaxMs, entry.duration);
    }
  }
});
// BENCH_HEAP_PROFILE_DIR: a sampling heap profile of everything allocated over the measured span,
// including what the GCs collected (the young generation's churn is what costs scavenges), so
// bench/profile-top.ts can rank allocation sites by bytes. BENCH_HEAP_PROFILE_YOUNG=0 leaves out
// what scavenges collected: what remains survived the young generation, that is, was promoted.
const heapProfileDir = process.env.BENCH_HEAP_PROFILE_DIR;
const heapSession = heapProfileDir ? new Session() : undefined;
const inspect = (method: string, params?: object): Promise<unknown> =>
  new Promise((resolve, reject) => heapSession?.post(method, params, (error, answer) => (error ? reject(error) : resolve(answer))));
async function writeHeapProfile(): Promise<void> {
  if (!heapSession || !heapProfileDir || firstAt === 0) return;
  const { profile } = (await inspect('HeapProfiler.stopSampling')) as { profile: unknown };
  mkdirSync(heapProfileDir, { recursive: true });
  const file = join(heapProfileDir, `${spec.mode}-${new Date().toISOString().replace(/[:.]/g, '-')}.heapprofile`);
  writeFileSync(file, JSON.stringify(profile));
  process.stderr.write(`bench row ${spec.mode}: heap profile ${file}\n`);
}
let finish: () => void = () => undefined;
const finished = new Promise<void>((resolve) => {
  finish = resolve;
});
let result: RowResult | undefined;

function send(message: unknown): void {
  process.send?.(message);
}

// Soak mode: memory every BENCH_SOAK_REPORT_MS, from the row's own process.
const reportMs = Number(process.env.BENCH_SOAK_REPORT_MS ?? 0);
if (reportMs > 0) {
  setInterval(() => {
    const m = process.memoryUsage();
    send({ memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, events: done } });
  }, reportMs).unref();
}

process.on('message', (message: { expected?: number }) => {
  if (typeof message.expected === 'number') {
    expected = message.expected;
    if (done >= expected) complete();
  }
});

function fetched(): void {
  if (firstAt !== 0) return;
  firstAt = performance.now();
  cpuAtFirst = process.cpuUsage();
  eld.enable();
  gcObserver.observe({ entryTypes: ['gc'] });
  if (heapSession) {
    heapSession.connect();
    void inspect('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.BENCH_HEAP_PROFILE_YOUNG !== '0' });
  }
}

function complete(): void {
  if (result) return;
  const seconds = (performance.now() - firstAt) / 1000;
  eld.disable();
  gcObserver.disconnect();
  const cpu = process.cpuUsage(cpuAtFirst);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  result = {
    mode: spec.mode,
    events: done,
    seconds,
    eventsPerSecond: done / seconds,
    cpuSeconds,
    cpuSecondsPer1k: (cpuSeconds / done) * 1000,
    peakRssMb: (process.resourceUsage().maxRSS * 1024) / 2 ** 20,
    eventLoopDelayP99Ms: eld.percentileMs(99),
    eventLoopDelayMaxMs: eld.maxMs(),
    gc: { ...gc },
  };
  finish();
}

function acked(count: number): void {
  done += count;
  if (done >= expected) complete();
}

function serviceEnv(): Record<string, string> {
  return {
    KAFKA_BROKERS: brokers().join(','),
    MODEL_PATH,
    INPUT_SCHEMA,
    PREDICTION_SCHEMA,
    INPUT_TOPICS: spec.input,
    OUTPUT_TOPIC: spec.output,
    DEAD_LETTER_TOPIC: spec.deadLetter,
    KAFKA_GROUP_ID: spec.group,
    LOG_LEVEL: 'warn',
    HEALTH_PORT: '0',
    PROCESSING_GUARANTEE: spec.mode === 'scorer-eos' ? 'exactly-once' : 'at-least-once',
    ...(spec.env ?? {}),
  };
}

async function runScorer(): Promise<() => Promise<void>> {
  const { loadConfig } = await import('../src/config/load');
  const config = loadConfig(serviceEnv());
  const { tuneHeap } = await import('../src/runtime');
  tuneHeap(config); // as src/main.ts
  // As src/main.ts: the SDK first, then the modules that load kafkajs.
  const { startTelemetry } = await import('../src/telemetry/sdk');
  const telemetry = startTelemetry({ serviceName: config.serviceName, serviceVersion: '0.1.0', otlpEndpoint: config.otlpEndpoint });
  const { createLogger } = await import('../src/telemetry/logger');
  const { startService, SERVICE_VERSION } = await import('../src/service');
  const { startMonitoring } = await import('../src/telemetry/monitoring');
  const logger = createLogger(config.logLevel);
  const monitoring = await startMonitoring(config, logger, SERVICE_VERSION);
  const inner = monitoring.observer;
  const service = await startService(config, logger, {
    modelReady: (model) => inner.modelReady(model),
    joined: (assignment) => {
      inner.joined(assignment);
      send({ ready: true });
    },
    fetched: (info) => {
      fetched();
      inner.fetched(info);
    },
    written: (messages, processed) => {
      inner.written(messages, processed);
      acked(messages.length);
    },
    progressed: (info) => inner.progressed(info),
    retried: (topic, partition, failure) => inner.retried(topic, partition, failure),
    membershipLost: (reason) => inner.membershipLost(reason),
    registry: (state) => inner.registry(state),
  });
  return async () => {
    monitoring.stopping();
    await service.stop();
    await service.done;
    await monitoring.close();
    await telemetry.shutdown();
  };
}

async function consumerFor(kafka: Kafka, sessionTimeoutMs: number, maxBytesPerPartition: number, maxBytesPerFetch: number, maxWaitMs: number) {
  const consumer = kafka.consumer({
    groupId: spec.group,
    sessionTimeout: sessionTimeoutMs,
    heartbeatInterval: Math.max(1_000, Math.floor(sessionTimeoutMs / 10)),
    maxBytesPerPartition,
    maxBytes: maxBytesPerFetch,
    maxWaitTimeInMs: maxWaitMs,
    allowAutoTopicCreation: false,
    readUncommitted: false,
  });
  consumer.on(consumer.events.GROUP_JOIN, () => send({ ready: true }));
  await consumer.connect();
  await consumer.subscribe({ topics: [spec.input], fromBeginning: true });
  return consumer;
}

/** The ceiling and the naive baseline share the service's client settings (src/kafka/*). */
async function runBare(naive: boolean): Promise<() => Promise<void>> {
  const { loadConfig } = await import('../src/config/load');
  const config = loadConfig(serviceEnv());
  const { CompressionTypes, Kafka, Partitioners, logLevel } = await import('kafkajs');
  const kafka = new Kafka({ clientId: `bench-${spec.mode}`, brokers: brokers(), logLevel: logLevel.WARN });
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const consumer = await consumerFor(kafka, config.sessionTimeoutMs, config.maxBytesPerPartition, config.maxBytesPerFetch ?? config.maxBytesPerPartition, config.maxWaitMs);

  const { OffsetCommits } = await import('../src/kafka/offset-commits');
  const { produceRequests } = await import('../src/kafka/output-writer');
  const commits = new OffsetCommits(
    (offsets) => consumer.commitOffsets([...offsets]),
    (error) => void process.stderr.write(`bench row ${spec.mode}: commit failed: ${error.message}\n`),
  );
  let perMessage: ((m: KafkaMessage, topic: string, partition: number) => Promise<void>) | undefined;
  if (naive) {
    const { prepare } = await import('../src/service');
    const { createLogger } = await import('../src/telemetry/logger');
    const { decodeBatch } = await import('../src/stages/decode');
    const { checkBatch } = await import('../src/stages/check/contract-check');
    const { scoreBatch } = await import('../src/stages/score');
    const { encodePredictions } = await import('../src/stages/encode');
    const { deadLetterRecord } = await import('../src/output/dead-letter');
    const { predictionRecord } = await import('../src/output/predictions');
    const deps = await prepare(config, createLogger('warn'));
    perMessage = async (m, topic, partition) => {
      const source = { topic, partition, offset: m.offset, key: m.key, value: m.value, headers: (m.headers ?? {}) as Record<string, Buffer>, timestamp: m.timestamp };
      const decoded = decodeBatch(deps.decoder, [m.value]);
      const checked = checkBatch(deps.model.contract.features, decoded.events, decoded.rejections);
      let record;
      let to = config.outputTopic;
      const rejection = checked.rejections[0];
      if (rejection) {
        record = deadLetterRecord(source, rejection, deps.deadLetter, {}, Date.now());
        to = config.deadLetterTopic;
      } else {
        const scored = await scoreBatch(deps.model, checked.features); // one session.run for this event
        const encoded = encodePredictions(deps.prediction, checked.features.rows, decoded.events, [source], scored, Date.now());
        const late = encoded.rejections[0];
        if (late) {
          record = deadLetterRecord(source, late, deps.deadLetter, {}, Date.now());
          to = config.deadLetterTopic;
        } else record = predictionRecord(source, encoded.values[0] as Buffer, deps.prediction, {});
      }
      await producer.send({ topic: to, messages: [{ key: record.key, value: record.value, headers: record.headers as IHeaders, ...(record.timestamp ? { timestamp: record.timestamp } : {}) }], acks: -1 });
    };
  }

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: naive ? 1 : config.partitionsConcurrently,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (batch.messages.length === 0 || !isRunning() || isStale()) return;
      fetched();
      const last = batch.messages[batch.messages.length - 1]?.offset as string;
      if (perMessage) {
        for (const m of batch.messages) {
          await perMessage(m, batch.topic, batch.partition);
          acked(1);
        }
      } else {
        const records = batch.messages.map((m) => ({ key: m.key, value: m.value, headers: (m.headers ?? {}) as Record<string, Buffer> }));
        // Split into bounded produce requests, in order, as the service's writer does (a full
        // 1 MiB fetch copied with its headers is over the broker's 1 MiB message.max.bytes).
        for (const topicMessages of produceRequests([{ topic: spec.output, records }])) await producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
        acked(records.length);
      }
      resolveOffset(last);
      const next = { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() };
      // The ceiling commits as the service does (requested after the acks, not waited for); the
      // naive first draft waits for each commit.
      if (perMessage) await consumer.commitOffsets([next]);
      else commits.send(next, batch.messages.length);
      await heartbeat();
    },
  });
  return async () => {
    await commits.settled();
    await consumer.disconnect();
    await producer.disconnect();
  };
}

async function main(): Promise<void> {
  if (spec.mode.startsWith('python-')) throw new Error(`${spec.mode} is a Python row (bench/python/), started by bench/bench.ts`);
  const stop = spec.mode === 'scorer' || spec.mode === 'scorer-eos' ? await runScorer() : await runBare(spec.mode === 'naive');
  await finished;
  await writeHeapProfile();
  await stop();
  send({ result });
  process.disconnect?.();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench row ${spec.mode}: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
