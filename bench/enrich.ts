/**
 * The enrichment cost per event with Redis on the same machine: the enrich stage
 * (src/stages/enrich.ts) over batches of models/card-fraud-store events, each naming a card and
 * a merchant of its own (two distinct keys per event: the worst case for the store, nothing
 * deduplicated), through the service's store (ioredis pipeline behind the circuit breaker).
 * Prints, per batch size, µs per event (wall time of the stage, round trip included; and this
 * process's CPU) and the round trip per batch (the one pipelined HMGET call), p50/p99.
 *
 *   node --import tsx bench/enrich.ts          (BENCH_REDIS_PORT, default 16382; ENRICH_BATCHES=100,1000; ENRICH_ROUNDS=300)
 *
 * Starts its own redis-server with scripts/redis.sh on that port, fills it, and stops it again.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config/load';
import { createFeatureStore } from '../src/features/store/redis';
import type { BatchLookup } from '../src/features/store/lookup';
import { readContract } from '../src/model/contract';
import type { InputEvent } from '../src/stages/decode';
import { enrichBatch } from '../src/stages/enrich';
import { loadAverage } from './common';

const ROOT = join(__dirname, '..');
const MODEL_DIR = join(ROOT, 'models/card-fraud-store');
const PORT = process.env.BENCH_REDIS_PORT ?? '16382';
const SIZES = (process.env.ENRICH_BATCHES ?? '100,1000').split(',').map(Number);
const ROUNDS = Number(process.env.ENRICH_ROUNDS ?? 300);
const WARMUP = 30;
const redisEnv = { ...process.env, REDIS_PORT: PORT };
const redisScript = (command: string): string => execFileSync(join(ROOT, 'scripts/redis.sh'), [command], { env: redisEnv, encoding: 'utf8' }).trim();

interface Zoo {
  events: Record<string, unknown>[];
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function main(): Promise<void> {
  // An instance already on the port (scripts/redis.sh status exits 3 when there is none) is used and left running.
  let started = false;
  try {
    redisScript('status');
  } catch {
    redisScript('start');
    started = true;
  }
  try {
    const zoo = JSON.parse(readFileSync(join(ROOT, 'models/zoo/xgboost/reference.json'), 'utf8')) as Zoo;
    const schema = avro.Type.forSchema(JSON.parse(readFileSync(join(MODEL_DIR, 'schema.avsc'), 'utf8')) as avro.Schema);
    const largest = Math.max(...SIZES);
    // Events as decode gives them, and the store's hashes for every card and merchant they name.
    const events: InputEvent[] = [];
    const client = new Redis({ host: '127.0.0.1', port: Number(PORT), lazyConnect: true });
    await client.connect();
    const now = Date.now();
    for (let i = 0; i < largest; i += 1) {
      const { txn_count_24h: txn, merchant, ...rest } = zoo.events[i % zoo.events.length] as { txn_count_24h: number; merchant: { risk_score: number; category: string; country: string } } & Record<string, unknown>;
      const event = { ...rest, card_id: `bench-c-${i}`, merchant: { id: `bench-m-${i}`, category: merchant.category, country: merchant.country } };
      events.push(schema.fromBuffer(schema.toBuffer(event)) as InputEvent);
      await client.hset(`card:bench-c-${i}`, { txn_count_24h: String(txn), updated_at: String(now) });
      await client.hset(`merchant:bench-m-${i}`, { risk_score: String(merchant.risk_score) });
    }
    await client.quit();

    const plan = readContract(join(MODEL_DIR, 'model.onnx')).features.store;
    const config = loadConfig({ MODEL_PATH: join(MODEL_DIR, 'model.onnx'), INPUT_SCHEMA: join(MODEL_DIR, 'schema.avsc'), FEATURE_STORE_ADDRESS: `127.0.0.1:${PORT}`, FEATURE_STORE_TIMEOUT_MS: '5000', LOG_LEVEL: 'warn' });
    const store = createFeatureStore(config);
    let roundTrip = 0;
    const timed: BatchLookup = async (requests) => {
      const start = performance.now();
      try {
        return await store.lookup(requests);
      } finally {
        roundTrip = performance.now() - start;
      }
    };
    process.stdout.write(`enrich bench: ${plan.features.length} store features, 2 distinct keys per event, Redis 127.0.0.1:${PORT} (same machine), ${ROUNDS} batches per size after ${WARMUP} warm-up; load average ${loadAverage()}\n`);
    process.stdout.write('| batch | keys | stage µs/event p50 | p99 | mean | CPU µs/event (this process) | round trip per batch p50 | p99 | stage per batch p50 | p99 |\n');
    process.stdout.write('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n');
    for (const size of SIZES) {
      const batch = events.slice(0, size);
      const earlier = new Array(size).fill(undefined);
      const stage: number[] = [];
      const trips: number[] = [];
      let cpu = 0;
      for (let round = 0; round < WARMUP + ROUNDS; round += 1) {
        const cpuStart = process.cpuUsage();
        const start = performance.now();
        const out = await enrichBatch(plan, batch, earlier, timed, Date.now());
        const took = performance.now() - start;
        const used = process.cpuUsage(cpuStart);
        if (out.stats.hits !== size * 2 || out.rejections.some((r) => r !== undefined)) throw new Error(`batch of ${size}: ${out.stats.hits} hits, rejections ${out.rejections.filter(Boolean).length}`);
        if (round < WARMUP) continue;
        stage.push(took);
        trips.push(roundTrip);
        cpu += used.user + used.system;
      }
      stage.sort((a, b) => a - b);
      trips.sort((a, b) => a - b);
      const us = (ms: number): string => (ms * 1_000).toFixed(1);
      const ms = (v: number): string => `${v.toFixed(2)} ms`;
      const mean = stage.reduce((a, b) => a + b, 0) / stage.length;
      process.stdout.write(`| ${size} | ${size * 2} | ${us(quantile(stage, 0.5) / size)} | ${us(quantile(stage, 0.99) / size)} | ${us(mean / size)} | ${(cpu / ROUNDS / size).toFixed(1)} | ${ms(quantile(trips, 0.5))} | ${ms(quantile(trips, 0.99))} | ${ms(quantile(stage, 0.5))} | ${ms(quantile(stage, 0.99))} |\n`);
    }
    await store.close();
  } finally {
    if (started) redisScript('stop');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
  process.exitCode = 1;
});
