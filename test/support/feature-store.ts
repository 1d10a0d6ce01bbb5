import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import type { Kafka } from 'kafkajs';
import { type PredictionDecoder, type VerifyReport, verifyTopics } from '../../src/verify/verify';
import type { TestTopics } from './kafka';
import { ROOT } from './model';
import { zooReference } from './zoo';

/** models/card-fraud-store: the zoo XGBoost graph with two columns from the feature store. */
export const STORE_MODEL_DIR = join(ROOT, 'models/card-fraud-store');
export const STORE_MODEL_PATH = join(STORE_MODEL_DIR, 'model.onnx');
export const STORE_INPUT_SCHEMA = join(STORE_MODEL_DIR, 'schema.avsc');

export interface StoreCase {
  /** The event as the store model's schema has it (no aggregates, entity ids instead). */
  readonly event: Record<string, unknown>;
  /** What the store must hold for it: key -> hash. */
  readonly hashes: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** The zoo's Python onnxruntime score for the same feature values. */
  readonly expectedScore: number;
  readonly cardKey: string;
  readonly merchantKey: string;
  readonly txnCount: number;
  readonly riskScore: number;
}

/**
 * The zoo XGBoost reference events split into an event and its store hashes: ids are
 * `<prefix>c-<i>` and `<prefix>m-<i>`, so each test has keys of its own in a shared Redis.
 */
export function storeCases(prefix: string, updatedAt: number = Date.now()): StoreCase[] {
  const reference = zooReference('xgboost');
  return reference.events.map((zoo, i) => {
    const { txn_count_24h: txnCount, merchant, ...rest } = zoo as { txn_count_24h: number; merchant: { risk_score: number; category: string; country: string } } & Record<string, unknown>;
    const cardId = `${prefix}c-${i}`;
    const merchantId = `${prefix}m-${i}`;
    const event = { ...rest, card_id: cardId, merchant: { id: merchantId, category: merchant.category, country: merchant.country } };
    const hashes: Record<string, Record<string, string>> = {
      [`card:${cardId}`]: { txn_count_24h: String(txnCount), updated_at: String(updatedAt) },
      [`merchant:${merchantId}`]: { risk_score: String(merchant.risk_score) },
    };
    return {
      event,
      hashes,
      expectedScore: reference.onnxruntime.scores[i] as number,
      cardKey: `card:${cardId}`,
      merchantKey: `merchant:${merchantId}`,
      txnCount,
      riskScore: merchant.risk_score,
    };
  });
}

/** Writes the cases' hashes into Redis (all but the `skip` keys), in one pipeline. */
export async function seedStore(options: RedisOptions, cases: readonly StoreCase[], skip: ReadonlySet<string> = new Set()): Promise<void> {
  const client = new Redis({ lazyConnect: true, maxRetriesPerRequest: 1, ...options });
  await client.connect();
  const pipeline = client.pipeline();
  for (const c of cases) for (const [key, hash] of Object.entries(c.hashes)) if (!skip.has(key)) pipeline.hset(key, hash);
  await pipeline.exec();
  await client.quit();
}

/** `stream-scorer verify` of a test's topics, again every second until nothing is lost and every input is in (or 60 s passed). */
export async function settleStoreTopics(kafka: Kafka, topics: TestTopics, expected: number, predictionType: PredictionDecoder): Promise<VerifyReport> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const report = await verifyTopics(kafka, { inputs: [topics.input], output: topics.output, deadLetter: topics.deadLetter }, predictionType, false);
    if ((report.lost === 0 && report.eventsIn >= expected) || Date.now() > deadline) return report;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
