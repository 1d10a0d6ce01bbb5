/**
 * The service's CPU per event without Kafka: processBatch (decode → check → score → encode →
 * records, with the OTel SDK as src/main.ts starts it) plus the writer's split into produce
 * requests, over batches the size of one full 1 MiB fetch. Steadier than the end-to-end rows on
 * a shared machine, so stage changes can be compared.   node --import tsx bench/pipeline-micro.ts
 */
import { startTelemetry } from '../src/telemetry/sdk';
startTelemetry({ serviceName: 'bench', serviceVersion: '0' });
import { trace } from '@opentelemetry/api';
import { loadConfig } from '../src/config/load';
import { produceRequests } from '../src/kafka/output-writer';
import { processBatch } from '../src/pipeline';
import type { SourceMessage } from '../src/records';
import { prepare } from '../src/service';
import { createLogger } from '../src/telemetry/logger';
import { spansExported } from '../src/telemetry/span-export';
import { INPUT_SCHEMA, InputStream, MODEL_PATH, PREDICTION_SCHEMA, loadAverage } from './common';

const BATCH = Number(process.env.MICRO_BATCH ?? 5600);
const ROUNDS = Number(process.env.MICRO_ROUNDS ?? 30);

async function main(): Promise<void> {
  const config = loadConfig({ MODEL_PATH, INPUT_SCHEMA, PREDICTION_SCHEMA, LOG_LEVEL: 'warn', ...JSON.parse(process.env.BENCH_SCORER_ENV ?? '{}') });
  // As src/service.ts: spans are built only when they go somewhere (MICRO_SPANS=1 forces them).
  const deps = { ...(await prepare(config, createLogger('warn'))), tracer: trace.getTracer('stream-scorer'), recordSpans: process.env.MICRO_SPANS === '1' || spansExported() };
  const stream = new InputStream(3);
  const batches: SourceMessage[][] = [];
  for (let b = 0; b < 4; b += 1) {
    batches.push(
      Array.from({ length: BATCH }, (_, i) => {
        const e = stream.next(Date.now());
        return { topic: 'payments', partition: 0, offset: String(b * BATCH + i), key: Buffer.from(e.key), value: e.value, headers: e.headers ? { traceparent: Buffer.from(e.headers.traceparent) } : {}, timestamp: String(Date.now()) };
      }),
    );
  }
  const stage = { decode: 0, check: 0, score: 0, encode: 0, records: 0, requests: 0 };
  let events = 0;
  let cpuStart: NodeJS.CpuUsage | undefined;
  let wall = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const warm = round >= 5;
    if (round === 5) cpuStart = process.cpuUsage();
    const messages = batches[round % batches.length] as SourceMessage[];
    const t0 = performance.now();
    const processed = await processBatch(deps, messages);
    const t1 = performance.now();
    const requests = produceRequests([
      { topic: 'out', records: processed.predictions },
      { topic: 'dlq', records: processed.deadLetters },
    ]);
    const t2 = performance.now();
    processed.finish();
    if (!warm) continue;
    events += messages.length;
    wall += t2 - t0;
    const s = processed.observation.stageSeconds;
    stage.decode += s.decode * 1000;
    stage.check += s.check * 1000;
    stage.score += s.score * 1000;
    stage.encode += s.encode * 1000;
    stage.records += t1 - t0 - (s.decode + s.check + s.score + s.encode) * 1000;
    stage.requests += t2 - t1;
    if (requests.length === 0) throw new Error('no requests');
  }
  const cpu = process.cpuUsage(cpuStart);
  const us = (ms: number): string => ((ms * 1000) / events).toFixed(2);
  process.stdout.write(
    `pipeline micro: batch ${BATCH}, ${events} events, load ${loadAverage()}\n` +
      `  µs/event wall ${us(wall)} (cpu ${(((cpu.user + cpu.system) / events)).toFixed(2)}): decode ${us(stage.decode)}, check ${us(stage.check)}, score ${us(stage.score)}, encode ${us(stage.encode)}, spans+records ${us(stage.records)}, produce requests ${us(stage.requests)}\n`,
  );
}

void main();
