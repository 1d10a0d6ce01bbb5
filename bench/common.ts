/**
 * Shared pieces of the benchmark (npm run bench / bench:soak): paths, the broker, topics,
 * synthetic input and the small statistics helpers. Not part of the service.
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type avro from 'avsc';
import { Kafka, logLevel } from 'kafkajs';
import { EventFactory, seededRandom } from '../src/demo/synthetic';
import { readContract } from '../src/model/contract';
import { loadSchema } from '../src/stages/decode';

export const ROOT = join(__dirname, '..');
export const MODEL_PATH = join(ROOT, 'models/card-fraud/model.onnx');
export const INPUT_SCHEMA = join(ROOT, 'schemas/payment-event.avsc');
export const PREDICTION_SCHEMA = join(ROOT, 'schemas/prediction.avsc');
export const PARTITIONS = 3;

export function brokers(): string[] {
  const list = process.env.KAFKA_BROKERS;
  if (!list) throw new Error('KAFKA_BROKERS is not set: run through `npm run bench` (scripts/with-kafka.sh starts a broker on KAFKA_PORT, 59092 by default)');
  return list.split(',');
}

export function benchKafka(clientId = 'bench'): Kafka {
  return new Kafka({ clientId, brokers: brokers(), logLevel: logLevel.NOTHING });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Input topic, and output topics whose records carry the broker's append time (≈ the produce ack). */
export async function createTopics(kafka: Kafka, topics: { input?: string[]; output?: string[] }): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const appendTime = [{ name: 'message.timestamp.type', value: 'LogAppendTime' }];
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      ...(topics.input ?? []).map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 1 })),
      ...(topics.output ?? []).map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 1, configEntries: appendTime })),
    ],
  });
  await admin.disconnect();
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
}

/**
 * The synthetic stream: 20-field payment events (schemas/payment-event.avsc), `badShare` of them
 * bad in the four ways of src/demo/synthetic.ts (unknown category, missing field, NaN/∞, corrupt bytes),
 * each with a W3C traceparent header unless BENCH_TRACED says otherwise.
 */
export class InputStream {
  readonly type: avro.Type;
  private readonly factory: EventFactory;
  private readonly random: () => number;
  private n = 0;

  constructor(
    seed: number,
    private readonly badShare = 0.1,
    /** Share of events with a traceparent header (BENCH_TRACED, default 1: every producer traced). */
    private readonly tracedShare = Number(process.env.BENCH_TRACED ?? 1),
  ) {
    this.type = loadSchema(INPUT_SCHEMA, 'INPUT_SCHEMA');
    this.random = seededRandom(seed ^ 0x5bd1e995);
    this.factory = new EventFactory(readContract(MODEL_PATH), seededRandom(seed));
  }

  next(now: number): { key: string; value: Buffer; headers?: { traceparent: string } } {
    this.n += 1;
    const headers = this.random() < this.tracedShare ? { traceparent: this.traceparent() } : undefined;
    if (this.random() >= this.badShare) {
      const event = this.factory.valid(now);
      return { key: String(event.card_id), value: this.type.toBuffer(event), ...(headers ? { headers } : {}) };
    }
    const kind = this.factory.badKind();
    if (kind === 'corrupt-bytes') {
      const event = this.factory.valid(now);
      return { key: String(event.card_id), value: this.factory.corruptBytes(this.type.toBuffer(event)), ...(headers ? { headers } : {}) };
    }
    const event = this.factory.bad(kind, now);
    return { key: String(event.card_id), value: this.type.toBuffer(event), ...(headers ? { headers } : {}) };
  }

  /** A sampled W3C traceparent, as an OpenTelemetry-instrumented producer would send. */
  private traceparent(): string {
    const hex = (digits: number): string => {
      let out = '';
      while (out.length < digits) out += Math.floor(this.random() * 2 ** 32).toString(16).padStart(8, '0');
      return out.slice(0, digits);
    };
    return `00-${hex(32)}-${hex(16)}-01`;
  }
}

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

export function describeMachine(): Record<string, string> {
  const sh = (cmd: string): string => {
    try {
      return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return 'unknown';
    }
  };
  const cpu = cpus();
  return {
    host: hostname(),
    cpu: `${cpu[0]?.model ?? 'unknown'} (${cpu.length} logical cores)`,
    ram: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: sh('uname -sr'),
    node: process.version,
    kafka: `Apache Kafka ${sh(`sed -n 's:.*<kafka.version>\\(.*\\)</kafka.version>.*:\\1:p' ${join(ROOT, 'scripts/kafka/pom.xml')} | head -n1`)} (KRaft, single node, same machine)`,
    java: sh("java -version 2>&1 | head -n1"),
    kafkajs: packageVersion('kafkajs'),
    onnxruntime: packageVersion('onnxruntime-node'),
    avsc: packageVersion('avsc'),
  };
}

/** Jiffies of the whole machine since boot (Linux /proc/stat); undefined elsewhere. */
export function machineCpu(): { busy: number; total: number } | undefined {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    // idle and iowait are not busy
    return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/** Share of all cores' time the machine was busy between two machineCpu() readings. */
export function busyShare(from: ReturnType<typeof machineCpu>, to: ReturnType<typeof machineCpu>): number {
  if (!from || !to || to.total === from.total) return Number.NaN;
  return (to.busy - from.busy) / (to.total - from.total);
}

export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}
